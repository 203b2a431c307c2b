"""Checks of what every process rides on: the database, Celery, the channel layer, flite."""

from __future__ import annotations

import asyncio
import subprocess
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from . import ERROR, OK, WARNING, Finding

CELERY_PING_SECONDS = 3.0
LAYER_SECONDS = 3.0


def safe_url(url: str) -> str:
    """A URL fit to print: the password replaced."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def database() -> Finding:
    connection = connections[DEFAULT_DB_ALIAS]
    where = f"{connection.vendor} {connection.settings_dict.get('NAME')}"
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        return Finding(
            ERROR, f"database: cannot connect to {where} ({exc}): check DATABASE_URL and the server"
        )
    return Finding(OK, f"database: connected ({where})")


def migrations() -> Finding:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001 - no database: `database` already says why
        return Finding(ERROR, f"migrations: cannot read the migration state ({exc})")
    return unapplied(plan)


def unapplied(plan: list) -> Finding:
    """The finding for a migration plan (pairs of (Migration, backwards)) still to run."""
    if not plan:
        return Finding(OK, "migrations: all applied")
    names = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return Finding(ERROR, f"migrations: {len(names)} not applied ({shown}): run `manage.py migrate`")


def celery() -> Finding:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return Finding(OK, "celery: eager (embedded mode), no worker needed")
    from contactcenter.celery import app

    broker = safe_url(settings.CELERY_BROKER_URL)
    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=CELERY_PING_SECONDS)
            replies = app.control.ping(timeout=CELERY_PING_SECONDS, connection=conn)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds
        return Finding(ERROR, f"celery: broker {broker} unreachable ({exc}): start Redis or fix REDIS_URL")
    if not replies:
        return Finding(
            ERROR,
            f"celery: broker {broker} answers but no worker replied within {CELERY_PING_SECONDS:g} s: "
            "start `celery -A contactcenter worker` (and beat); until then call records wait in the queue",
        )
    workers = ", ".join(sorted(name for reply in replies for name in reply))
    return Finding(OK, f"celery: broker {broker}, {len(replies)} worker(s) answering ({workers})")


def channel_layer() -> Finding:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    kind = type(layer).__name__
    if kind == "InMemoryChannelLayer":
        return Finding(
            OK, "channel layer: in-memory (embedded mode: live pages and whispers reach this process only)"
        )

    async def round_trip() -> bool:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "doctor.ping"})
        message = await asyncio.wait_for(layer.receive(channel), LAYER_SECONDS)
        return message.get("type") == "doctor.ping"

    try:
        ok = async_to_sync(round_trip)()
    except Exception as exc:  # noqa: BLE001 - Redis down, timeout
        return Finding(
            ERROR,
            f"channel layer: {kind} send/receive failed ({type(exc).__name__}: {exc}): check REDIS_URL "
            "(live calls page and whispers across processes need it)",
        )
    if not ok:
        return Finding(ERROR, f"channel layer: {kind} returned another message than the one sent")
    return Finding(OK, f"channel layer: {kind} send/receive round trip")


def flite() -> Finding:
    from telephony.loopback import check_flite, flite_pcm

    try:
        check_flite()
    except RuntimeError as exc:
        return Finding(
            WARNING,
            f"flite: {exc} (democall, testagent and the emulators' callers speak with it; calls do not)",
        )
    try:
        pcm = flite_pcm("doctor", 8000)
    except (OSError, subprocess.CalledProcessError) as exc:
        return Finding(ERROR, f"flite: installed but cannot speak with the slt voice ({exc})")
    return Finding(OK, f"flite: the offline voice speaks ({len(pcm) / 16000:.1f} s for one word)")
