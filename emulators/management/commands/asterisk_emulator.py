"""`manage.py asterisk_emulator`: a stand-in Asterisk (ARI + media legs) for demos without a PBX.

Place a call from its prompt: `call` (the demo extension, 100 in from-internal), `call <exten>`,
`call <context> <exten> [wav]`, `dtmf <digit>`, `hangup`, `quit`. It prints each step of the call and,
when it ends, the app's own transcript and the call page (the emulator shares the app's database).
"""

from __future__ import annotations

import asyncio
import sys
import wave

from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from calls.printout import stored_summary
from emulators.asterisk.server import AsteriskEmulator, Channel
from emulators.wire.resample import resample
from telephony.loopback import check_flite

# The extension `bootstrap_demo` binds and the sample extensions.conf routes (_1XX in from-internal).
DEMO_CONTEXT, DEMO_EXTENSION = "from-internal", "100"


def _wav_16k(path: str) -> bytes:
    with wave.open(path, "rb") as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    return resample(pcm, rate, 16000)


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
        try:
            check_flite()  # the emulated phone speaks with it
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
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
        self._ari_hint = f"{emulator.url}/ari"
        self.stdout.write(f"Asterisk {emulator.version} emulator: ARI at {emulator.url}/ari")
        self.stdout.write(
            f"commands: call (= call {DEMO_CONTEXT} {DEMO_EXTENSION}) | call <context> <exten> [wav] "
            "| dtmf <digit> | hangup | quit"
        )
        loop = asyncio.get_running_loop()
        current = None
        following: set[asyncio.Task] = set()  # held so a running printout is not garbage-collected
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                await asyncio.Event().wait()  # no terminal: keep serving
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "call":
                context, exten = (words[1], words[2]) if len(words) >= 3 else (DEMO_CONTEXT, DEMO_EXTENSION)
                if len(words) == 2:
                    exten = words[1]
                current = emulator.place_call(context, exten)
                if len(words) > 3:
                    current.phone.say(_wav_16k(words[3]))
                self.stdout.write(f"calling {exten}@{context}: channel {current.id}")
                task = loop.create_task(self._follow(current, f"{exten}@{context}"))
                following.add(task)
                task.add_done_callback(following.discard)
            elif words[0] == "dtmf" and current and len(words) > 1:
                emulator.send_dtmf(current, words[1])
            elif words[0] == "hangup" and current:
                await emulator.caller_hangup(current)
        await emulator.stop()

    async def _follow(self, chan: Channel, where: str) -> None:
        """Print the call's progress as a newcomer needs it, then the app's record of it."""
        phone = chan.phone
        if phone.stasis_failed:
            self.stdout.write(
                "Stasis failed at once: no app holds the events socket. Is `manage.py runasterisk` running "
                f"with ARI_URL={self._ari_hint} and this user? (docs/emulators.md)"
            )
            return
        self.stdout.write("in Stasis: the app has the call")
        answered = asyncio.create_task(phone.answered.wait())
        ended = asyncio.create_task(phone.ended.wait())
        await asyncio.wait({answered, ended}, return_when=asyncio.FIRST_COMPLETED)
        if answered.done():
            self.stdout.write("answered; the agent is speaking (`dtmf <digit>`, `hangup` to end)")
        await ended
        answered.cancel()
        self.stdout.write(
            f"call over (cause {phone.end_cause}) after {len(phone.heard) / 32000:.1f} s connected"
        )
        lines = await sync_to_async(stored_summary, thread_sensitive=False)(
            "asterisk", chan.id, f"the Asterisk call to {where}"
        )
        for line in lines:
            self.stdout.write(line)
