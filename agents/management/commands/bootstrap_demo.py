"""Create the demo agent, a demo number for each carrier, and an admin login (printed once).

With `--carrier-credentials` (`./run` passes it when no carrier token is set) it also writes demo
Twilio / Plivo credentials to `CARRIER_DEMO_FILE`, which the app and the carrier emulators both read:
the emulator demos then work with no flags.
"""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Agent, Extension, PhoneNumber, Tool

# Where `twilio_emulator` / `plivo_emulator` serve their REST API in the demo (the app hangs up through it).
TWILIO_DEMO_REST_PORT = 8766
PLIVO_DEMO_REST_PORT = 8767

DEMO_PROMPT = (
    "You are Ava, the friendly voice assistant of Example Corp. Keep answers short: one or two sentences. "
    "You can look up orders and end the call when the caller says goodbye."
)


class Command(BaseCommand):
    help = "Create a demo agent bound to demo numbers, and an admin user if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--carrier-credentials",
            action="store_true",
            help="write demo Twilio / Plivo credentials for the emulators (CARRIER_DEMO_FILE)",
        )

    def handle(self, *args, username: str, carrier_credentials: bool = False, **options):
        if carrier_credentials:
            self._write_carrier_credentials()
        end_call, _ = Tool.objects.get_or_create(
            name="end_call",
            defaults={"kind": Tool.Kind.END_CALL, "description": "End the call after saying goodbye."},
        )
        agent, created = Agent.objects.get_or_create(
            name="Demo agent",
            defaults={
                "system_prompt": DEMO_PROMPT,
                "greeting": "Hello, thanks for calling Example Corp. How can I help you today?",
            },
        )
        agent.tools.add(end_call)
        for carrier, number in (("twilio", "+15005550006"), ("plivo", "+15005550007"), ("sip", "demo")):
            PhoneNumber.objects.get_or_create(carrier=carrier, number=number, defaults={"agent": agent})
        Extension.objects.get_or_create(context="from-internal", extension="100", defaults={"agent": agent})
        self.stdout.write(f"Demo agent {'created' if created else 'present'}: {agent.name}")

        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username, f"{username}@localhost", password)
            self.stdout.write(
                self.style.SUCCESS(f"Admin login: {username} / {password}  (shown once; keep it)")
            )
        else:
            self.stdout.write("An admin user exists already; use `manage.py changepassword` if you lost it.")

    def _write_carrier_credentials(self) -> None:
        """Fresh demo credentials, and the fixed loopback ports the emulators' REST APIs serve on."""
        path = settings.CARRIER_DEMO_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        demo = {
            "twilio": {
                "account_sid": "AC" + secrets.token_hex(16),
                "auth_token": secrets.token_hex(16),
                "api_base_url": f"http://127.0.0.1:{TWILIO_DEMO_REST_PORT}",
            },
            "plivo": {
                "auth_id": "MA" + secrets.token_hex(9).upper(),
                "auth_token": secrets.token_hex(16),
                "api_base_url": f"http://127.0.0.1:{PLIVO_DEMO_REST_PORT}",
            },
        }
        path.write_text(json.dumps(demo, indent=2) + "\n")
        path.chmod(0o600)
        self.stdout.write(f"Demo Twilio / Plivo credentials for the emulators in {path}")
