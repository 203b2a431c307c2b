"""`manage.py housekeeping [--loop]`: resend spooled Celery jobs, close the calls of crashed processes,
and apply retention.

Embedded mode has no Celery beat; `./run` starts this command with --loop beside daphne. In
production it may run beside each web/media process too, to resend that host's spool as soon as the
broker is back (Celery beat runs retention there).
"""

from __future__ import annotations

import signal
import threading
import time

from django.core.management.base import BaseCommand

from calls import housekeeping, recovery, retention, spool


class Command(BaseCommand):
    help = "Resend spooled jobs, place due callbacks and campaign calls, apply retention; --loop to keep doing it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="Run until stopped.")
        parser.add_argument(
            "--interval", type=float, default=10.0, help="Seconds between spool resends (loop)."
        )
        parser.add_argument(
            "--retention-interval",
            type=float,
            default=3600.0,
            help="Seconds between retention runs (loop).",
        )

    def handle(self, *args, loop: bool, interval: float, retention_interval: float, **options) -> None:
        stop = threading.Event()
        if loop:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        next_retention = 0.0
        while True:
            spool.recover_claims()
            sent = spool.resend()
            if sent or not loop:
                self.stdout.write(f"resent {sent} spooled job(s), {len(spool.pending())} left")
            closed = recovery.sweep()
            if closed or not loop:
                self.stdout.write(f"crash recovery: {closed} call(s) of stopped processes marked failed")
            # Registered by other apps: scheduled callbacks and campaign dialling (Celery beat in production).
            for name, job in housekeeping.jobs().items():
                try:
                    job()
                except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad tick
                    self.stderr.write(f"{name} failed: {exc}")
            if time.monotonic() >= next_retention:
                purged = retention.purge_expired()
                if purged.recordings or purged.segments or not loop:
                    self.stdout.write(
                        f"retention: {purged.recordings} recording(s), {purged.segments} transcript segment(s) deleted"
                    )
                next_retention = time.monotonic() + retention_interval
            if not loop or stop.wait(interval):
                return
