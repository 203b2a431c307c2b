"""Create the demo agent, a demo number for each carrier, and an admin login (printed once)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Agent, Extension, PhoneNumber, Tool

DEMO_PROMPT = (
    "You are Ava, the friendly voice assistant of Example Corp. Keep answers short: one or two sentences. "
    "You can look up orders and end the call when the caller says goodbye."
)


class Command(BaseCommand):
    help = "Create a demo agent bound to demo numbers, and an admin user if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
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
        Extension.objects.get_or_create(context="from-internal", extension="7000", defaults={"agent": agent})
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
