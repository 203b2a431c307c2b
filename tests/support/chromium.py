"""How the browser tests start Debian's headless Chromium: one place for its path and flags."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Quiet and deterministic: no GPU, QUIC, first-run, background or sync traffic; audio may start
# without a click (the test pages play what they receive).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# A microphone the page may use without a prompt: a fake device (a file, with
# --use-file-for-fake-audio-capture=<wav>, or Chromium's own beep).
FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
