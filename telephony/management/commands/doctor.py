"""`manage.py doctor`: check this deployment and say what to fix (run it after each deploy).

One line per check: ok, warning or error, with what to do for the last two. Exit status 1 when any
check is an error, 0 otherwise (warnings included). The checks are in `telephony.doctor`.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from telephony.doctor import ERROR, OK, WARNING, run_checks


class Command(BaseCommand):
    help = "Check the database, Celery, Gemini, carriers, Asterisk, SIP ports and routing; say what to fix."
    requires_system_checks = []  # report problems as findings rather than stop before the first line

    def handle(self, *args, **options) -> None:
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # it logs every request at INFO
        style = {OK: self.style.SUCCESS, WARNING: self.style.WARNING, ERROR: self.style.ERROR}
        counts = {OK: 0, WARNING: 0, ERROR: 0}
        for finding in run_checks():
            counts[finding.level] += 1
            self.stdout.write(f"{style[finding.level](f'{finding.level:<8}')}{finding.message}")
        summary = f"{counts[OK]} ok, {counts[WARNING]} warning(s), {counts[ERROR]} error(s)"
        if counts[ERROR]:
            raise CommandError(f"doctor: {summary}: fix the errors above", returncode=1)
        self.stdout.write(f"doctor: {summary}")
