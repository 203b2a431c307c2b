"""Place a demo Plivo call against a running app, or serve the emulated Plivo REST API.

    manage.py plivo_emulator call --app http://127.0.0.1:8000 --to +15005550106 --say "hello"
    manage.py plivo_emulator serve --app http://127.0.0.1:8000 --port 8099   # PLIVO_API_BASE_URL

The app must share the emulator's auth token (PLIVO_AUTH_TOKEN) and, for REST hangups, point
PLIVO_API_BASE_URL at `serve`'s address (a `call` also serves REST while it runs).
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from emulators.plivo.emulator import DEFAULT_AUTH_ID, PlivoEmulator
from emulators.twilio.phone import wav_pcm


class Command(BaseCommand):
    help = "Emulated Plivo: place a demo inbound call (`call`) or serve the REST API (`serve`)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["call", "serve"])
        parser.add_argument("--app", default="http://127.0.0.1:8000", help="the app's base URL")
        parser.add_argument("--public-url", default="", help="the app's PUBLIC_BASE_URL if not --app")
        parser.add_argument("--to", default="+15005550106", help="the number called (bound to an agent)")
        parser.add_argument("--from", dest="from_", default="+14155550100")
        parser.add_argument("--say", action="append", default=[], help="a caller utterance (repeatable)")
        parser.add_argument("--wav", action="append", default=[], help="a 16-bit WAV to play as the caller")
        parser.add_argument("--dtmf", default="", help="digits to press after the utterances")
        parser.add_argument("--auth-id", default=settings.PLIVO_AUTH_ID or DEFAULT_AUTH_ID)
        parser.add_argument("--auth-token", default=settings.PLIVO_AUTH_TOKEN)
        parser.add_argument("--port", type=int, default=0, help="REST API port (0: any free port)")
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each reply")

    def handle(self, *args, **opts) -> None:
        if not opts["auth_token"]:
            raise CommandError("no auth token: pass --auth-token or set PLIVO_AUTH_TOKEN (the app's value)")
        asyncio.run(self._main(opts))

    async def _main(self, opts) -> None:
        emulator = PlivoEmulator(
            opts["app"], auth_id=opts["auth_id"], auth_token=opts["auth_token"], public_url=opts["public_url"]
        )
        rest = await emulator.start_rest(port=opts["port"])
        self.stdout.write(f"Plivo REST API emulated at {rest} (auth id {emulator.auth_id})")
        try:
            if opts["action"] == "serve":
                self.stdout.write("serving; Ctrl-C to stop")
                await asyncio.Event().wait()
            await self._call(emulator, opts)
        finally:
            await emulator.close()

    async def _call(self, emulator: PlivoEmulator, opts) -> None:
        call = emulator.place_call(opts["to"], opts["from_"])
        await call.answered()
        self.stdout.write(f"call {call.uuid}: webhook HTTP {call.webhook_status}")
        if not call.stream_started.is_set():
            self.stdout.write(f"no stream. XML spoke: {call.spoken or '-'}; errors: {call.errors or '-'}")
            await call.ended.wait()
            return
        timeout = opts["timeout"]
        await self._listen(call, "agent", timeout)
        turns = [("say", text) for text in opts["say"]] + [("wav", path) for path in opts["wav"]]
        for kind, value in turns:
            if call.ended.is_set():
                break
            self.stdout.write(f"caller: {value}")
            if kind == "say":
                await call.say(value)
            else:
                call.play_pcm(wav_pcm(value))
            await call.handset.finished_speaking()
            await self._listen(call, "agent", timeout)
        for digit in opts["dtmf"]:
            await call.send_dtmf(digit)
            self.stdout.write(f"caller pressed {digit}")
            await asyncio.sleep(0.3)
        if opts["dtmf"]:
            await self._listen(call, "agent", timeout)
        if not call.ended.is_set():
            await call.hangup()
        self.stdout.write(
            f"call over ({call.end_reason}); heard {call.handset.heard_seconds:.1f} s, "
            f"checkpoints played {len(call.checkpoints_played)}, clears {call.playout.stats.clears}, "
            f"protocol errors: {call.errors or 'none'}"
        )

    async def _listen(self, call, who: str, timeout: float) -> None:
        try:
            start, end = await call.handset.next_reply(timeout=timeout)
        except TimeoutError as exc:
            self.stdout.write(f"{who}: (nothing: {exc})")
            return
        text = await call.handset.transcribe(start, end + 0.2)
        self.stdout.write(f"{who} ({end - start:.1f} s of speech, heard as): {text or '(unrecognised)'}")
