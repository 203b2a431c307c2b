"""The demo-call management command both carrier emulators share (`call` or `serve`).

A subclass names the carrier, its default number and credential options, builds the emulator, and
says how its call reports what the app sent (TwiML said / XML spoke, marks / checkpoints).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from calls.printout import stored_summary
from telephony.loopback import check_flite

from .phone import wav_pcm


def demo_rest_port(api_base_url: str) -> int:
    """The port of the app's carrier API base URL when it is this machine (the demo emulator), else 0."""
    parts = urlsplit(api_base_url)
    if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        return parts.port
    return 0


class CarrierEmulatorCommand(BaseCommand):
    carrier = "Carrier"  # as printed: "Twilio", "Plivo"
    default_to = ""  # the number a demo call dials
    token_setting = ""  # the app's setting the auth token must match
    carrier_code = ""  # the Call.carrier value the app stores: "twilio", "plivo"
    api_base_setting = ""  # the app's setting naming the REST API it calls (the emulator in the demo)

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["call", "serve"])
        parser.add_argument("--app", default="http://127.0.0.1:8000", help="the app's base URL")
        parser.add_argument("--public-url", default="", help="the app's PUBLIC_BASE_URL if not --app")
        parser.add_argument("--to", default=self.default_to, help="the number called (bound to an agent)")
        parser.add_argument("--from", dest="from_", default="+14155550100")
        parser.add_argument("--say", action="append", default=[], help="a caller utterance (repeatable)")
        parser.add_argument("--wav", action="append", default=[], help="a 16-bit WAV to play as the caller")
        parser.add_argument("--dtmf", default="", help="digits to press after the utterances")
        parser.add_argument(
            "--silence-suppression",
            action="store_true",
            help="the caller sends no media while silent (DTX, silence suppression)",
        )
        self.add_credentials(parser)
        from django.conf import settings

        parser.add_argument(
            "--port",
            type=int,
            default=demo_rest_port(getattr(settings, self.api_base_setting, "")),
            help=f"REST API port (default: the port of {self.api_base_setting} if on this machine, else any)",
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each reply")

    def add_credentials(self, parser) -> None:
        """--account-sid / --auth-id and --auth-token, defaulting to the app's settings."""
        raise NotImplementedError

    def make_emulator(self, opts):
        raise NotImplementedError

    def account(self, emulator) -> str:
        """How the banner names the emulated account."""
        raise NotImplementedError

    def app_said(self, call) -> str:
        """What the app's document made the carrier say, when no stream started."""
        raise NotImplementedError

    def acknowledged(self, call) -> str:
        """The summary's count of marks (checkpoints) the carrier acknowledged."""
        raise NotImplementedError

    def handle(self, *args, **opts) -> None:
        try:
            check_flite()  # the simulated caller speaks with it
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        if not opts["auth_token"]:
            raise CommandError(
                f"no auth token: pass --auth-token or set {self.token_setting} (the app's value); "
                "`./run` with no carrier tokens writes demo ones that both sides read (docs/emulators.md)"
            )
        asyncio.run(self._main(opts))

    async def _main(self, opts) -> None:
        emulator = self.make_emulator(opts)
        emulator.silence_suppression = opts["silence_suppression"]
        rest = await emulator.start_rest(port=opts["port"])
        self.stdout.write(f"{self.carrier} REST API emulated at {rest} ({self.account(emulator)})")
        try:
            if opts["action"] == "serve":
                self.stdout.write("serving; Ctrl-C to stop")
                await asyncio.Event().wait()
            await self._call(emulator, opts)
        finally:
            await emulator.close()

    async def _call(self, emulator, opts) -> None:
        call = emulator.place_call(opts["to"], opts["from_"])
        await call.answered()
        self.stdout.write(f"call {call.call_id}: webhook HTTP {call.webhook_status}")
        if not call.stream_started.is_set():
            self.stdout.write(f"no stream. {self.app_said(call)}; errors: {call.errors or '-'}")
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
            f"{self.acknowledged(call)}, clears {call.playout.stats.clears}, "
            f"protocol errors: {call.errors or 'none'}"
        )
        await self._print_record(call.call_id, opts["timeout"], opts["public_url"] or opts["app"])

    async def _print_record(self, call_id: str, timeout: float, base_url: str) -> None:
        """The app's own transcript of the call (shared database), once stored, and its page."""
        lines = await sync_to_async(stored_summary, thread_sensitive=False)(
            self.carrier_code, call_id, f"{self.carrier} call {call_id}", timeout, base_url
        )
        for line in lines:
            self.stdout.write(line)

    async def _listen(self, call, who: str, timeout: float) -> None:
        try:
            start, end = await call.handset.next_reply(timeout=timeout)
        except TimeoutError as exc:
            self.stdout.write(f"{who}: (nothing: {exc})")
            return
        text = await call.handset.transcribe(start, end + 0.2)
        self.stdout.write(
            f"{who} ({end - start:.1f} s of speech; what an 8 kHz recogniser here heard, "
            f"the app's transcript follows at the end): {text or '(unrecognised)'}"
        )
