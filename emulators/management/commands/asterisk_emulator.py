"""`manage.py asterisk_emulator`: a stand-in Asterisk (ARI + media legs) for demos without a PBX.

Place a call from its prompt: `call <context> <exten> [wav]`, `dtmf <digit>`, `hangup`, `quit`.
"""

from __future__ import annotations

import asyncio
import sys
import wave

from django.core.management.base import BaseCommand

from emulators.asterisk.server import AsteriskEmulator
from engine.codec import StreamResampler


def _wav_16k(path: str) -> bytes:
    with wave.open(path, "rb") as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    resampler = StreamResampler(rate, 16000)
    return resampler.process(pcm) + resampler.flush()


class Command(BaseCommand):
    help = "Run the Asterisk emulator (ARI on http://HOST:PORT/ari, user/password from --user)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8088)
        parser.add_argument("--user", default="asterisk:secret", help="ARI user:password")
        parser.add_argument(
            "--asterisk-version", default="22.10.1", help="e.g. 20.6.0, 22.5.0, 22.10.1, 23.4.1"
        )
        parser.add_argument("--sounds-dir", help="where sound:NAME files (NAME.wav) live")
        parser.add_argument("--ws-control-format", default="plain-text", choices=["plain-text", "json"])
        parser.add_argument(
            "--silence-suppression",
            action="store_true",
            help="the phone sends nothing while silent (DTX; the media leg then gets no frames either)",
        )

    def handle(self, *args, **options) -> None:
        user, _, password = options["user"].partition(":")
        asyncio.run(self._run(options, {user: password}))

    async def _run(self, options, users) -> None:
        emulator = AsteriskEmulator(
            host=options["host"],
            port=options["port"],
            users=users,
            version=options["asterisk_version"],
            sounds_dir=options["sounds_dir"],
            ws_control_format=options["ws_control_format"],
            silence_suppression=options["silence_suppression"],
        )
        await emulator.start()
        self.stdout.write(f"Asterisk {emulator.version} emulator: ARI at {emulator.url}/ari")
        self.stdout.write("commands: call <context> <exten> [wav] | dtmf <digit> | hangup | quit")
        loop = asyncio.get_running_loop()
        current = None
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                await asyncio.Event().wait()  # no terminal: keep serving
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "call" and len(words) >= 3:
                current = emulator.place_call(words[1], words[2])
                if len(words) > 3:
                    current.phone.say(_wav_16k(words[3]))
                self.stdout.write(f"calling {words[2]}@{words[1]}: channel {current.id}")
            elif words[0] == "dtmf" and current and len(words) > 1:
                emulator.send_dtmf(current, words[1])
            elif words[0] == "hangup" and current:
                await emulator.caller_hangup(current)
        await emulator.stop()
