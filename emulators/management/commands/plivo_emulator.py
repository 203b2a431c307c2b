"""Place a demo Plivo call against a running app, or serve the emulated Plivo REST API.

    manage.py plivo_emulator call --app http://127.0.0.1:8000 --to +15005550007 --say "hello"
    manage.py plivo_emulator serve --app http://127.0.0.1:8000 --port 8099   # PLIVO_API_BASE_URL

After `./run` (no carrier tokens set) both sides read the demo credentials it writes, so
`manage.py plivo_emulator call` needs no flags (docs/emulators.md). Otherwise the app must share
the emulator's auth token (PLIVO_AUTH_TOKEN) and, for REST hangups, point
PLIVO_API_BASE_URL at `serve`'s address (a `call` also serves REST while it runs).
"""

from __future__ import annotations

from django.conf import settings

from emulators.carrier.command import CarrierEmulatorCommand
from emulators.plivo.emulator import DEFAULT_AUTH_ID, PlivoEmulator


class Command(CarrierEmulatorCommand):
    help = "Emulated Plivo: place a demo inbound call (`call`) or serve the REST API (`serve`)."
    carrier = "Plivo"
    default_to = "+15005550007"  # the number `bootstrap_demo` binds
    token_setting = "PLIVO_AUTH_TOKEN"
    carrier_code = "plivo"
    api_base_setting = "PLIVO_API_BASE_URL"

    def add_credentials(self, parser) -> None:
        parser.add_argument("--auth-id", default=settings.PLIVO_AUTH_ID or DEFAULT_AUTH_ID)
        parser.add_argument("--auth-token", default=settings.PLIVO_AUTH_TOKEN)

    def make_emulator(self, opts) -> PlivoEmulator:
        return PlivoEmulator(
            opts["app"], auth_id=opts["auth_id"], auth_token=opts["auth_token"], public_url=opts["public_url"]
        )

    def account(self, emulator: PlivoEmulator) -> str:
        return f"auth id {emulator.auth_id}"

    def app_said(self, call) -> str:
        return f"XML spoke: {call.spoken or '-'}"

    def acknowledged(self, call) -> str:
        return f"checkpoints played {len(call.checkpoints_played)}"
