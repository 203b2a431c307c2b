"""Settings for the contact center, read from the environment.

Two modes, chosen by environment variables (see `.env.example`):
- embedded (default): SQLite, the in-memory channel layer, Celery tasks run eagerly in-process;
- production: `DATABASE_URL` (PostgreSQL) and `REDIS_URL` (channel layer, Celery broker and results, cache).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
# Parallel test workers (pytest-xdist, `./test` runs TEST_WORKERS of them) each get a data directory of their own (spool,
# recordings), also handed to the servers their tests start (they inherit the environment).
_test_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _test_worker and "_pytest" in sys.modules:  # the worker itself, not a server it started
    DATA_DIR = DATA_DIR / _test_worker
    os.environ["DATA_DIR"] = str(DATA_DIR)


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", False):
        raise RuntimeError("SECRET_KEY is not set: export SECRET_KEY to a long random string.")
    # Embedded mode only: a per-installation key kept outside the repository.
    _key_file = DATA_DIR / "secret_key"
    try:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        if not _key_file.exists():
            from django.core.management.utils import get_random_secret_key

            _key_file.write_text(get_random_secret_key())
        SECRET_KEY = _key_file.read_text().strip()
    except OSError:  # read-only filesystem: fall back to a process-lifetime key
        from django.core.management.utils import get_random_secret_key

        SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# The URL carriers use to reach this app (https://cc.example.com). Signatures are checked against it,
# so they hold behind a reverse proxy that rewrites Host or scheme.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "agents",
    "calls",
    "telephony",
    "campaigns",
    "emulators",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "contactcenter.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "contactcenter.asgi.application"

# --- Database -------------------------------------------------------------------------------------
_sqlite_path = DATA_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{_sqlite_path}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the live daphne test server and the test process share one file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which kills every consumer that
            # waits longer than that for a group message (redis-py #4091, channels_redis #422).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
    # Shared by every web process: Plivo signature nonces already seen (telephony/plivo/signature.py).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cc",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
EMBEDDED_MODE = not REDIS_URL

# --- Auth, i18n, static, media -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["contactcenter.formats"]  # 24-hour times with the zone, on every page and the admin
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True) if not STATIC_ROOT.exists() and os.access(
    STATIC_ROOT.parent if STATIC_ROOT.parent.exists() else BASE_DIR, os.W_OK
) else None
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Security (production) ---------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and bool(REDIS_URL))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Checks that only make sense when the app terminates TLS itself; silenced with a reason in the README.
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", "")

# --- Gemini ------------------------------------------------------------------------------------------
GEMINI_API_KEY = os.environ.get("GEMINI_API_KEY", "") or os.environ.get("GOOGLE_API_KEY", "")
# Point the SDK at another endpoint (the local emulator); empty means Google's.
GEMINI_BASE_URL = os.environ.get("GEMINI_BASE_URL", "")
GEMINI_API_VERSION = os.environ.get("GEMINI_API_VERSION", "v1beta")
# CA bundle to trust for GEMINI_BASE_URL (the emulator writes one).
GEMINI_CA_FILE = os.environ.get("GEMINI_CA_FILE", "")
GEMINI_USE_VERTEX = env_bool("GOOGLE_GENAI_USE_VERTEXAI", False)
GOOGLE_CLOUD_PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
GOOGLE_CLOUD_LOCATION = os.environ.get("GOOGLE_CLOUD_LOCATION", "us-central1")
# `./run` with no key starts the local Gemini emulator and leaves its address here, so every process
# of this installation (daphne, democall, runasterisk, runsip) finds it.
GEMINI_EMULATOR_FILE = DATA_DIR / "gemini-emulator.json"
GEMINI_USING_EMULATOR = False
if not GEMINI_API_KEY and not GEMINI_USE_VERTEX and GEMINI_EMULATOR_FILE.exists():
    import json as _json

    _emu = _json.loads(GEMINI_EMULATOR_FILE.read_text())
    GEMINI_API_KEY, GEMINI_BASE_URL, GEMINI_CA_FILE = _emu["api_key"], _emu["base_url"], _emu["ca_file"]
    GEMINI_USING_EMULATOR = True
# After-call summary and field extraction (a text model, through the same SDK); empty turns it off.
GEMINI_SUMMARY_MODEL = os.environ.get("GEMINI_SUMMARY_MODEL", "gemini-2.5-flash")
# Live model prices for the cost of a call (calls/costs.py), per model: {"as_of": "YYYY-MM-DD", "source":
# "<where the price was read>", "currency": "USD", "input": {"AUDIO": 3.0, "TEXT": 0.5}, "output":
# {"AUDIO": 12.0, "TEXT": 2.0}}, prices per million tokens per modality. A model or a modality with no
# price here gives no cost ("—"), never a guess. No price ships by default: none could be read from
# Google's pricing page when this was written; set GEMINI_PRICES (JSON, or @path to a JSON file).
_prices = os.environ.get("GEMINI_PRICES", "").strip()
if _prices.startswith("@"):
    _prices = Path(_prices[1:]).read_text()
GEMINI_PRICES: dict = __import__("json").loads(_prices) if _prices else {}
# Caller audio is sent to Gemini in batches of this many milliseconds while the caller is quiet (20 ms
# messages as they start speaking and during the end-of-turn silence after, 40 ms in between:
# engine/uplink.py).
GEMINI_INPUT_BATCH_MS = int(os.environ.get("GEMINI_INPUT_BATCH_MS", "100"))
# The message length past an utterance's first 0.3 s (20: every frame on its own, as at its start).
GEMINI_SPEECH_BATCH_MS = int(os.environ.get("GEMINI_SPEECH_BATCH_MS", "40"))
# The rate caller audio is sent to Gemini at: 0 = the line's own (8 kHz on phone lines), which the API
# resamples ("any sample rate can be sent"); 16000 upsamples in the bridge first (a streaming resampler
# holds back about 40 ms of audio, which every reply waits for, and costs CPU per frame).
GEMINI_INPUT_RATE = int(os.environ.get("GEMINI_INPUT_RATE", "0"))

# --- Calls ---------------------------------------------------------------------------------------------
# Agent used when a number, extension or trunk user is not bound to any agent (name); empty: refuse.
FALLBACK_AGENT = os.environ.get("FALLBACK_AGENT", "")
# System-wide cap on simultaneous calls in one process (0 = no cap).
MAX_CONCURRENT_CALLS = int(os.environ.get("MAX_CONCURRENT_CALLS", "0"))
RETENTION_DAYS_RECORDINGS = int(os.environ.get("RETENTION_DAYS_RECORDINGS", "90"))
RETENTION_DAYS_TRANSCRIPTS = int(os.environ.get("RETENTION_DAYS_TRANSCRIPTS", "365"))

# --- Carriers (secrets from the environment only) -------------------------------------------------------
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "")  # the emulator, in tests and demos
# Agent audio per media message to Twilio. Twilio plays any length from its own buffer and drops it all
# on `clear`; 40 ms halves the messages (and TLS writes) of 20 ms frames (bench/vs_pipecat.py).
TWILIO_FRAME_MS = int(os.environ.get("TWILIO_FRAME_MS", "40"))
# How far ahead of real time agent audio may go to Twilio, which buffers it and drops it all on `clear`
# (engine.port.WireFormat.lead_ms): the first words of a reply go out at once, not one frame a tick.
TWILIO_LEAD_MS = int(os.environ.get("TWILIO_LEAD_MS", "60"))
PLIVO_AUTH_ID = os.environ.get("PLIVO_AUTH_ID", "")
PLIVO_AUTH_TOKEN = os.environ.get("PLIVO_AUTH_TOKEN", "")
PLIVO_API_BASE_URL = os.environ.get("PLIVO_API_BASE_URL", "")
# `./run` with no carrier tokens writes demo credentials here (`bootstrap_demo --carrier-credentials`) and
# removes them on exit; the app and the Twilio / Plivo emulators both read them, so the emulator demos
# work with no flags. A carrier whose token is in the environment ignores the file.
CARRIER_DEMO_FILE = DATA_DIR / "carrier-emulators.json"
if CARRIER_DEMO_FILE.exists():
    import json as _json

    _demo = _json.loads(CARRIER_DEMO_FILE.read_text())
    if not TWILIO_AUTH_TOKEN and "twilio" in _demo:
        TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN = _demo["twilio"]["account_sid"], _demo["twilio"]["auth_token"]
        TWILIO_API_BASE_URL = TWILIO_API_BASE_URL or _demo["twilio"]["api_base_url"]
    if not PLIVO_AUTH_TOKEN and "plivo" in _demo:
        PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN = _demo["plivo"]["auth_id"], _demo["plivo"]["auth_token"]
        PLIVO_API_BASE_URL = PLIVO_API_BASE_URL or _demo["plivo"]["api_base_url"]
PLIVO_MAX_FRAME_BYTES = int(os.environ.get("PLIVO_MAX_FRAME_BYTES", "160"))  # audio per playAudio we send
# Plivo too plays agent audio from its own buffer and drops it all on `clearAudio`: the same lead.
PLIVO_LEAD_MS = int(os.environ.get("PLIVO_LEAD_MS", "60"))
# What one carrier media stream (Twilio, Plivo) may send us; beyond it frames are dropped and counted.
# A real frame is ~300 bytes of JSON, 50 a second; the burst covers a carrier catching up after a stall.
STREAM_MAX_FRAME_BYTES = int(os.environ.get("STREAM_MAX_FRAME_BYTES", "65536"))
STREAM_MAX_FRAME_RATE = float(os.environ.get("STREAM_MAX_FRAME_RATE", "100"))  # frames per second
STREAM_FRAME_BURST = float(os.environ.get("STREAM_FRAME_BURST", "250"))  # frames above the rate, at once

# --- Outbound calls and call tools (telephony/outbound, campaigns/scheduler, engine/builtins) -----
# send_sms on a line without messaging (Asterisk, SIP, browser) goes through this carrier and number.
SMS_CARRIER = os.environ.get("SMS_CARRIER", "")  # "", "twilio" or "plivo"
SMS_FROM = os.environ.get("SMS_FROM", "")
# The ARI endpoint an outbound Asterisk call (or a transfer to a plain number) dials; {number} is filled.
ASTERISK_DIAL_ENDPOINT = os.environ.get("ASTERISK_DIAL_ENDPOINT", "PJSIP/{number}@trunk")
# Seconds a dialled number may ring before it counts as not answered.
OUTBOUND_RING_TIMEOUT = int(os.environ.get("OUTBOUND_RING_TIMEOUT", "30"))

# --- Logging -------------------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"call_context": {"()": "contactcenter.logging.CallContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [call=%(call_id)s] %(message)s"},
        "json": {"()": "contactcenter.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["call_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
        "websockets": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # "AFC is enabled with max remote calls" on every after-call request: noise, not news.
        "google_genai.models": {"level": "WARNING"},
        # Embedded mode's in-memory broker ("memory://") has no host by design; kombu warns once a process.
        **({"kombu.connection": {"level": "ERROR"}} if CELERY_BROKER_URL.startswith("memory://") else {}),
    },
}
FORMS_URLFIELD_ASSUME_HTTPS = True

# --- Dashboard / persistence ----------------------------------------------------------------------------
# Celery jobs the broker could not take (it was down) wait here and are resent when it is back.
SPOOL_DIR = Path(os.environ.get("SPOOL_DIR", DATA_DIR / "spool"))
CELERY_IMPORTS = ["calls.recovery", "calls.retention", "calls.tasks", "campaigns.scheduler"]
CELERY_BEAT_SCHEDULE = {
    "retention": {"task": "calls.retention.purge_expired", "schedule": 3600.0},
    "spool-resend": {"task": "calls.spool.resend", "schedule": 30.0},
    # Scheduled callbacks and campaign dialling: rows claimed atomically, so a redelivered tick is harmless.
    "outbound-scheduler": {"task": "campaigns.scheduler.tick_task", "schedule": 10.0},
    # Calls of a process that stopped heartbeating are closed as "process ended" (calls/recovery.py).
    "process-sweep": {"task": "calls.recovery.sweep", "schedule": 15.0},
}
# Each process holding calls heartbeats this often; after PROCESS_STALE_SECONDS without one its calls
# are marked failed. Heartbeat 10 s + stale 30 s + a sweep every 15 s: a crash is visible within 60 s.
PROCESS_HEARTBEAT_SECONDS = float(os.environ.get("PROCESS_HEARTBEAT_SECONDS", "10"))
PROCESS_STALE_SECONDS = float(os.environ.get("PROCESS_STALE_SECONDS", "30"))
# On SIGTERM a web process (`python -m contactcenter.serve`) lets live calls go on this long before the
# agent says a closing line and the call ends (engine/drain.py). Match the orchestrator's grace period.
DRAIN_SECONDS = float(os.environ.get("DRAIN_SECONDS", "600"))
# Redaction beyond card numbers and US SSNs (calls/redaction.py): {"[label]": "regular expression"}, e.g.
# REDACT_PATTERNS='{"[national insurance number]": "\\b[A-Z]{2} ?\\d{2} ?\\d{2} ?\\d{2} ?[A-D]\\b"}'
REDACT_PATTERNS: dict[str, str] = json.loads(os.environ.get("REDACT_PATTERNS") or "{}")
for _label, _pattern in REDACT_PATTERNS.items():  # refuse to start, not to store a call's transcript
    try:
        re.compile(_pattern)
    except re.error as _exc:
        raise ImproperlyConfigured(
            f"REDACT_PATTERNS: {_label!r} is not a valid regular expression ({_exc})"
        ) from None
# `manage.py testagent`: the model and voice of callers played by a second Live session (a case's persona).
TEST_CALLER_MODEL = os.environ.get("TEST_CALLER_MODEL", "gemini-3.8-live")
TEST_CALLER_VOICE = os.environ.get("TEST_CALLER_VOICE", "Kore")
# Secure keypad entry (a webhook tool with "secure keypad entry"): how long the caller has to key digits.
SECURE_ENTRY_SECONDS = float(os.environ.get("SECURE_ENTRY_SECONDS", "60"))
# Warm transfer: how long the person's phone rings before the agent returns to the caller ("no answer").
WARM_TRANSFER_RING_SECONDS = float(os.environ.get("WARM_TRANSFER_RING_SECONDS", "25"))
# During a call its transcript segments are stored this often (a crash keeps all but the last seconds).
TRANSCRIPT_SAVE_SECONDS = float(os.environ.get("TRANSCRIPT_SAVE_SECONDS", "2"))
# Calls per page in the dashboard history and the JSON API.
DASHBOARD_PAGE_SIZE = int(os.environ.get("DASHBOARD_PAGE_SIZE", "50"))
# Template filters of the dashboard ({% load dashboard %}), kept beside its views.
TEMPLATES[0]["OPTIONS"]["libraries"] = {"dashboard": "calls.dashboard.templatetags"}
# --- end Dashboard / persistence

# --- Asterisk (telephony/asterisk) ---------------------------------------------------------------------
# Where ARI answers (http.conf + ari.conf). Credentials go in ARI_USERNAME / ARI_PASSWORD, never the URL.
ARI_URL = os.environ.get("ARI_URL", "http://127.0.0.1:8088/ari")
ARI_USERNAME = os.environ.get("ARI_USERNAME", "contactcenter")
ARI_PASSWORD = os.environ.get("ARI_PASSWORD", "")
ARI_APP = os.environ.get("ARI_APP", "contactcenter")  # the name in the dialplan's Stasis(...)
# runasterisk binds its media sockets (RTP, AudioSocket) here ...
MEDIA_BIND_HOST = os.environ.get("MEDIA_BIND_HOST", "0.0.0.0")
# ... and tells Asterisk to send to this address: it must be reachable from Asterisk (NAT, containers).
MEDIA_ADVERTISE_HOST = os.environ.get("MEDIA_ADVERTISE_HOST", "")
RTP_PORT_RANGE = os.environ.get("RTP_PORT_RANGE", "20000-29999")
AUDIOSOCKET_PORT = int(os.environ.get("AUDIOSOCKET_PORT", "9092"))
# A warm transfer's brief, spoken by flite, is served to Asterisk over HTTP from runasterisk on this
# port (at MEDIA_ADVERTISE_HOST): Asterisk plays it with `sound:http://...` (docs/asterisk.md).
ASTERISK_SOUNDS_PORT = int(os.environ.get("ASTERISK_SOUNDS_PORT", "9093"))
# Media leg when an extension does not choose one: rtp (u-law), rtp:alaw, audiosocket (slin16),
# audiosocket:slin (8 kHz), websocket (slin16), websocket:ulaw.
ASTERISK_MEDIA_TRANSPORT = os.environ.get("ASTERISK_MEDIA_TRANSPORT", "rtp")
# --- end Asterisk

# --- SIP trunk (telephony/sip) -------------------------------------------------------------------------
# `manage.py runsip` listens here (UDP and TCP) for calls from a SIP trunk or Twilio <Dial><Sip>.
SIP_BIND_HOST = os.environ.get("SIP_BIND_HOST", "0.0.0.0")
SIP_PORT = int(os.environ.get("SIP_PORT", "5060"))
# The address callers must reach (Contact and SDP): the public IP behind NAT. Empty: the bind address,
# or when binding 0.0.0.0 the local address facing each caller (fine on a LAN, wrong behind NAT).
SIP_ADVERTISE_HOST = os.environ.get("SIP_ADVERTISE_HOST", "")
# UDP ports for RTP, one even port per call ("low-high", inclusive); open them in the firewall.
SIP_RTP_PORT_RANGE = os.environ.get("SIP_RTP_PORT_RANGE", "10000-20000")
# Digest authentication of incoming INVITEs (both set: challenge with 401; empty: accept any caller,
# so restrict the SIP port to your carrier's addresses in the firewall).
SIP_AUTH_USERNAME = os.environ.get("SIP_AUTH_USERNAME", "")
SIP_AUTH_PASSWORD = os.environ.get("SIP_AUTH_PASSWORD", "")
SIP_REALM = os.environ.get("SIP_REALM", "contactcenter")
# A call to a user part bound to no agent (and no FALLBACK_AGENT): "404" rejects it, "apology" answers
# and plays the pre-rendered apology, then hangs up.
SIP_UNKNOWN_NUMBER = os.environ.get("SIP_UNKNOWN_NUMBER", "404")
# Ring (180) this long before answering; 0 answers at once.
SIP_ANSWER_DELAY_MS = int(os.environ.get("SIP_ANSWER_DELAY_MS", "0"))
# Host for transfers to a plain number (REFER sip:<number>@host); default: the trunk's own host.
SIP_TRANSFER_DOMAIN = os.environ.get("SIP_TRANSFER_DOMAIN", "")
# RFC 3261 T1 in ms (retransmissions start at T1; transactions live 64*T1). Leave at 500 on the Internet.
SIP_T1_MS = int(os.environ.get("SIP_T1_MS", "500"))
# Credentials for the calls runsip places (a warm transfer's call to the person), answered when the
# trunk or PBX challenges our INVITE with 401/407 (digest). Empty: a challenge ends the transfer.
SIP_OUTBOUND_USERNAME = os.environ.get("SIP_OUTBOUND_USERNAME", "")
SIP_OUTBOUND_PASSWORD = os.environ.get("SIP_OUTBOUND_PASSWORD", "")
# --- end SIP trunk
