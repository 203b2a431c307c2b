"""Carrier checks: the public address carriers call back, each carrier's credentials, Asterisk's ARI."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django.conf import settings

from . import ERROR, OK, WARNING, Finding

REST_SECONDS = 10.0


def demo_tokens() -> set[str]:
    """The auth tokens of ./run's demo credentials (`CARRIER_DEMO_FILE`), which only the emulators accept."""
    try:
        demo = json.loads(settings.CARRIER_DEMO_FILE.read_text())
    except (OSError, ValueError):
        return set()
    return {str(entry.get("auth_token", "")) for entry in demo.values() if isinstance(entry, dict)}


def configured_carriers() -> list[str]:
    """Carriers set up to call this app back (./run's demo credentials for the emulators do not count)."""
    demo = demo_tokens()
    found = []
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_AUTH_TOKEN not in demo:
        found.append("Twilio")
    if settings.PLIVO_AUTH_ID and settings.PLIVO_AUTH_TOKEN and settings.PLIVO_AUTH_TOKEN not in demo:
        found.append("Plivo")
    return found


def public_base_url() -> Finding:
    from agents.wiring import public_url_problem

    url = settings.PUBLIC_BASE_URL
    carriers = configured_carriers()
    level = ERROR if carriers else WARNING
    verb = "calls" if len(carriers) == 1 else "call"
    why = f"{' and '.join(carriers)} {verb} it back" if carriers else "no carrier is configured yet"
    if not url:
        return Finding(
            level,
            f"PUBLIC_BASE_URL: not set ({why}): set it to the https address carriers reach, "
            "e.g. https://cc.example.com (signatures are checked against it)",
        )
    problem = public_url_problem(url).rstrip(".")
    if problem:
        return Finding(
            level, f"PUBLIC_BASE_URL: {url} ({why}): {problem}; set it to the public https address"
        )
    return Finding(OK, f"PUBLIC_BASE_URL: {url} (https, public; media streams use wss)")


def demo_emulator_idle(carrier: str) -> Finding:
    return Finding(
        OK,
        f"{carrier}: ./run's demo credentials; the emulator's REST API is not up now "
        f"(`manage.py {carrier}_emulator call` serves it while it runs), skipped",
    )


def _where(base_url: str, real: str) -> str:
    return base_url or real


def short(exc: BaseException) -> str:
    """An exception's text cut to what fits a line (requests' connection errors run to 400 characters)."""
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "..."


def twilio_account() -> Finding:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        return Finding(OK, "twilio: not configured (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN unset), skipped")
    from twilio.base.exceptions import TwilioException, TwilioRestException

    from telephony.twilio import rest

    sid = settings.TWILIO_ACCOUNT_SID
    where = _where(settings.TWILIO_API_BASE_URL, "api.twilio.com")
    client = rest.client()
    client.http_client.timeout = REST_SECONDS
    try:
        account = client.api.v2010.accounts(sid).fetch()
    except TwilioRestException as exc:
        hint = "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" if exc.status in (401, 403, 404) else exc.msg
        return Finding(ERROR, f"twilio: {where} refused account {sid} ({exc.status} {exc.msg}): {hint}")
    except (TwilioException, OSError) as exc:
        if settings.TWILIO_AUTH_TOKEN in demo_tokens():
            return demo_emulator_idle("twilio")
        return Finding(
            ERROR, f"twilio: cannot reach {where} ({short(exc)}): check the network or TWILIO_API_BASE_URL"
        )
    if account.status != "active":
        return Finding(
            ERROR, f"twilio: account {sid} is {account.status}: calls will fail until it is active"
        )
    return Finding(OK, f"twilio: account {sid} ({account.friendly_name}) is active at {where}")


def plivo_account() -> Finding:
    if not (settings.PLIVO_AUTH_ID and settings.PLIVO_AUTH_TOKEN):
        return Finding(OK, "plivo: not configured (PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN unset), skipped")
    from plivo import exceptions

    from telephony.plivo import rest

    auth_id = settings.PLIVO_AUTH_ID
    where = _where(settings.PLIVO_API_BASE_URL, "api.plivo.com")
    try:
        account = rest.client().account.get()
    except exceptions.AuthenticationError as exc:
        return Finding(
            ERROR,
            f"plivo: {where} refused auth id {auth_id} ({exc}): check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN",
        )
    except exceptions.PlivoRestError as exc:
        return Finding(ERROR, f"plivo: account read at {where} failed ({type(exc).__name__}: {exc})")
    except OSError as exc:
        if settings.PLIVO_AUTH_TOKEN in demo_tokens():
            return demo_emulator_idle("plivo")
        return Finding(
            ERROR, f"plivo: cannot reach {where} ({short(exc)}): check the network or PLIVO_API_BASE_URL"
        )
    name = getattr(account, "name", "") or getattr(account, "account_type", "")
    return Finding(OK, f"plivo: account {auth_id} ({name}) answers at {where}")


def ari() -> Finding:
    if not settings.ARI_PASSWORD:
        return Finding(OK, "asterisk: ARI not configured (ARI_PASSWORD unset), skipped")
    from telephony.asterisk.ari import AriClient, AriError, AriNotFound, AriUnauthorized, AriUnavailable

    url, user, app = settings.ARI_URL, settings.ARI_USERNAME, settings.ARI_APP

    async def probe() -> tuple[dict, bool]:
        client = AriClient(url, user, settings.ARI_PASSWORD, app, timeout=REST_SECONDS)
        try:
            info = await client.info()
            try:
                await client.request("GET", f"/applications/{app}")
                registered = True
            except AriNotFound:
                registered = False
            return info, registered
        finally:
            await client.http.aclose()

    try:
        info, registered = async_to_sync(probe)()
    except AriUnauthorized as exc:
        return Finding(
            ERROR,
            f"asterisk: ARI at {url} refused user {user!r} ({exc.status}): check ARI_USERNAME / "
            "ARI_PASSWORD against ari.conf",
        )
    except AriUnavailable as exc:
        return Finding(
            ERROR,
            f"asterisk: ARI at {url} unreachable ({exc.message}): is Asterisk running with http.conf "
            "enabled, and ARI_URL right?",
        )
    except AriError as exc:
        return Finding(ERROR, f"asterisk: ARI at {url} answered {exc.status} {exc.message}: check ARI_URL")
    version = (info.get("system") or {}).get("version", "?")
    if not registered:
        return Finding(
            WARNING,
            f"asterisk: ARI at {url} answers (Asterisk {version}) but app {app!r} is not registered: start "
            f"`manage.py runasterisk` (Stasis({app}) in the dialplan fails until it runs)",
        )
    return Finding(OK, f"asterisk: ARI at {url} answers (Asterisk {version}), app {app!r} registered")
