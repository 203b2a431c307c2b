"""The long-running process behind `manage.py runasterisk`: ARI events + every media leg of a PBX."""

from __future__ import annotations

import asyncio
import logging
import wave
from pathlib import Path

from engine.drain import drain_on_signal
from engine.prompts import prompt_pcm
from engine.warmup import warm_up

from .ari import AriClient, redact_url
from .audiosocket import AudioSocketServer
from .config import AsteriskConfig
from .sounds import SoundServer
from .stasis import APOLOGY_SOUND, StasisApp

log = logging.getLogger(__name__)


def write_sounds(directory: Path) -> list[Path]:
    """Write the apology and busy prompts as Asterisk sounds (`contactcenter-<name>.wav`, 8 kHz).

    Copy them to Asterisk's sounds directory (e.g. /var/lib/asterisk/sounds/en/); the app plays
    `sound:contactcenter-apology` to callers of an unknown extension.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("apology", "busy"):
        path = directory / f"contactcenter-{name}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(prompt_pcm(name, 8000))
        written.append(path)
    return written


async def serve(config: AsteriskConfig, apology_sound: str = APOLOGY_SOUND, ready=None) -> None:
    """Run until SIGINT/SIGTERM: hold the ARI events socket, the AudioSocket server, all calls."""
    warm_up()  # the engine's one-time costs before any call (engine.warmup)
    audiosocket = AudioSocketServer(config.bind_host, config.audiosocket_port)
    await audiosocket.start()
    sounds = SoundServer(config.bind_host, config.sounds_port, config.advertise_host)
    await sounds.start()
    ari = AriClient(config.ari_url, config.username, config.password, config.app)
    app = StasisApp(ari, config, audiosocket, apology_sound, sounds)
    log.info(
        "runasterisk: app %r on %s; AudioSocket on %s:%d; sounds on :%d; RTP %d-%d on %s, advertised as %s;"
        " default media %s:%s",
        config.app,
        redact_url(ari.base_url),
        config.bind_host,
        audiosocket.port,
        sounds.port,
        *config.rtp_ports,
        config.bind_host,
        config.advertise_host,
        *config.transport,
    )
    events = asyncio.create_task(ari.run_events(app.handle, app.on_connect), name="ari-events")
    if ready is not None:
        ready(app)
    # SIGTERM: new calls hear the busy prompt, live calls drain (engine.drain), then the legs close.
    await drain_on_signal()
    log.info("runasterisk: stopping, ending %d call(s)", len(app.calls))
    await app.shutdown()
    await ari.close()
    events.cancel()
    await audiosocket.close()
    await sounds.close()
