"""Place a demo Twilio call against a running app, or serve the emulated Twilio REST API.

    manage.py twilio_emulator call --app http://127.0.0.1:8000 --to +15005550006 --say "hello"
    manage.py twilio_emulator serve --app http://127.0.0.1:8000 --port 8099   # TWILIO_API_BASE_URL

After `./run` (no carrier tokens set) both sides read the demo credentials it writes, so
`manage.py twilio_emulator call` needs no flags (docs/emulators.md). Otherwise the app must share
the emulator's auth token (TWILIO_AUTH_TOKEN) and, for REST hangups, point
TWILIO_API_BASE_URL at `serve`'s address (a `call` also serves REST while it runs).
"""

from __future__ import annotations

from django.conf import settings

from emulators.carrier.command import CarrierEmulatorCommand
from emulators.twilio.emulator import DEFAULT_ACCOUNT_SID, TwilioEmulator


class Command(CarrierEmulatorCommand):
    help = "Emulated Twilio: place a demo inbound call (`call`) or serve the REST API (`serve`)."
    carrier = "Twilio"
    default_to = "+15005550006"  # the number `bootstrap_demo` binds
    token_setting = "TWILIO_AUTH_TOKEN"
    carrier_code = "twilio"
    api_base_setting = "TWILIO_API_BASE_URL"

    def add_credentials(self, parser) -> None:
        parser.add_argument("--account-sid", default=settings.TWILIO_ACCOUNT_SID or DEFAULT_ACCOUNT_SID)
        parser.add_argument("--auth-token", default=settings.TWILIO_AUTH_TOKEN)

    def make_emulator(self, opts) -> TwilioEmulator:
        return TwilioEmulator(
            opts["app"],
            account_sid=opts["account_sid"],
            auth_token=opts["auth_token"],
            public_url=opts["public_url"],
        )

    def account(self, emulator: TwilioEmulator) -> str:
        return f"account {emulator.account_sid}"

    def app_said(self, call) -> str:
        return f"TwiML said: {call.said or '-'}"

    def acknowledged(self, call) -> str:
        return f"marks returned {len(call.marks_returned)}"
