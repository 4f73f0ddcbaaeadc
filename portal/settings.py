"""envport settings: every value from an environment variable, with a default that runs locally.

The defaults give a working portal on a laptop with nothing installed: SQLite under var/, Redis
if it answers (else a filesystem broker), and the local cloud as the only AWS it can reach.
Real AWS needs ENVPORT_TARGET=aws, explicitly. ENVPORT_ENV=production turns DEBUG off and the
deployment hardening on (it passes `manage.py check --deploy`); any other value but development
is refused, and so is a production start with a public, generated or short secret key.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from portal.broker import choose_broker
from provisioning.aws import DEFAULT_EXECUTE_API_TEMPLATE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ENVPORT_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: use true or false")


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or default


ENVIRONMENTS = ("development", "production")
ENVPORT_ENV = _env("ENVPORT_ENV", "development")
if ENVPORT_ENV not in ENVIRONMENTS:
    # `prod` or `Production` must not quietly run with DEBUG on: anything but the exact words is refused.
    raise ImproperlyConfigured(f"ENVPORT_ENV={ENVPORT_ENV!r} is not known: use {' or '.join(ENVIRONMENTS)}")
PRODUCTION = ENVPORT_ENV == "production"
DEBUG = _bool("DJANGO_DEBUG", not PRODUCTION)


# Keys that have been published, and so sign nobody's sessions safely: the one docker-compose.yml
# used to default to, and Django's startproject prefix. Django's check --deploy (security.W009)
# only warns about these; a production portal refuses to start with one.
PUBLIC_SECRET_KEYS = frozenset({"compose-demo-only-7kQ2xR9mW4pZ1vL8tN3bY6cH0jD5sGfE-change-me"})
INSECURE_KEY_PREFIX = "django-insecure-"
SECRET_KEY_MIN_LENGTH = 50  # check --deploy's bar: at least 50 characters, 5 of them unique
SECRET_KEY_MIN_UNIQUE = 5


def weak_secret_key(key: str) -> str | None:
    """Why ``key`` must not sign a production portal's sessions, or None if it may."""
    if key in PUBLIC_SECRET_KEYS:
        return "it is the public demo key from docker-compose.yml"
    if key.startswith(INSECURE_KEY_PREFIX):
        return f"it starts with {INSECURE_KEY_PREFIX!r}, Django's marker of a generated development key"
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE:
        return (
            f"it has {len(key)} characters, {len(set(key))} of them different; at least "
            f"{SECRET_KEY_MIN_LENGTH} and {SECRET_KEY_MIN_UNIQUE} are needed"
        )
    return None


def _secret_key() -> str:
    key = _env("DJANGO_SECRET_KEY")
    if key and (PRODUCTION or not DEBUG):
        problem = weak_secret_key(key)
        if problem:
            raise ImproperlyConfigured(
                f"DJANGO_SECRET_KEY is not fit for production: {problem}. Generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DEBUG is off (ENVPORT_ENV=production)")
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the portal's host names in production")
CSRF_TRUSTED_ORIGINS = _list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here: no CDN
    "portal",
    "portal.costs",  # issue 21: stored cost estimates (its own app: its own migrations)
    "portal.tokens",  # API tokens and idempotency keys (tables made by the portal app)
    "portal.notifications",  # channels, rules, deliveries (tables made by the portal app)
]

MIDDLEWARE = [
    # First: every answer under /api/v1/ is JSON with a request id, whichever layer makes it.
    "portal.api.middleware.ApiProblems",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- database ------------------------------------------------------------------------------
# DATABASE_URL, by default SQLite under var/. The tests' settings (portal/settings_test.py) read
# ENVPORT_TEST_DATABASE_URL instead.
DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'envport.sqlite3'}"


def database(url: str, conn_max_age: int) -> dict[str, Any]:
    """The `DATABASES` entry for a database URL."""
    entry: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=conn_max_age))
    if entry["ENGINE"].endswith("sqlite3"):
        # Several processes (web, worker, beat) share one file: wait for a lock instead of failing.
        entry.setdefault("OPTIONS", {})["timeout"] = 20
    return entry


DATABASES = {"default": database(_env("DATABASE_URL", DEFAULT_DATABASE_URL), conn_max_age=60)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise serves from it (collectstatic fills it in production)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- production hardening (manage.py check --deploy) --------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = _bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Off only to serve plain HTTP on a LAN name (docker compose without TLS); check --deploy warns.
    SESSION_COOKIE_SECURE = _bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = int(_env("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- the AWS target ------------------------------------------------------------------------
# local (default): the local cloud, always through an endpoint, with dummy credentials if none
# are given, so a newcomer can never reach a real account by accident. aws: real AWS, only when
# asked for; the standard credential chain, or a role per environment (Environment.role_arn).
ENVPORT_TARGET = _env("ENVPORT_TARGET", "local").lower()
if ENVPORT_TARGET not in ("local", "aws"):
    raise ImproperlyConfigured(f"ENVPORT_TARGET={ENVPORT_TARGET!r}: use local (the default) or aws")
if ENVPORT_TARGET == "local":
    ENVPORT_AWS_ENDPOINT_URL: str | None = _env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566").rstrip("/")
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ["AWS_ACCESS_KEY_ID"] = "envport-local"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "envport-local"
        os.environ.pop("AWS_SESSION_TOKEN", None)
    _EXECUTE_API = "{endpoint}/restapis/{api_id}/{stage}/_user_request_"
else:
    ENVPORT_AWS_ENDPOINT_URL = _env("AWS_ENDPOINT_URL") or None
    _EXECUTE_API = DEFAULT_EXECUTE_API_TEMPLATE
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
ENVPORT_EXECUTE_API_URL = _env("ENVPORT_EXECUTE_API_URL", _EXECUTE_API).replace(
    "{endpoint}", ENVPORT_AWS_ENDPOINT_URL or ""
)
# adaptive: botocore's client-side rate limiting on throttles, the last line behind the limiter.
ENVPORT_AWS_RETRY_MODE = _env("ENVPORT_AWS_RETRY_MODE", "adaptive")
# DurationSeconds of an environment role's sessions: STS allows 900 up to the role's
# MaxSessionDuration; runs longer than a session renew it ahead of its expiry (provisioning.aws).
_ROLE_SESSION = _env("ENVPORT_ROLE_SESSION_SECONDS", "3600")
if not (_ROLE_SESSION.isascii() and _ROLE_SESSION.isdigit() and 900 <= int(_ROLE_SESSION) <= 43200):
    raise ImproperlyConfigured(
        f"ENVPORT_ROLE_SESSION_SECONDS={_ROLE_SESSION[:40]!r}: whole seconds from 900 to 43200 "
        "(STS AssumeRole's DurationSeconds; at most the role's MaxSessionDuration)"
    )
ENVPORT_ROLE_SESSION_SECONDS = int(_ROLE_SESSION)
ENVPORT_ENGINE_WORKERS = int(_env("ENVPORT_ENGINE_WORKERS", "8"))

# --- runs: heartbeats and the reaper -------------------------------------------------------
ENVPORT_HEARTBEAT_SECONDS = float(_env("ENVPORT_HEARTBEAT_SECONDS", "15"))
ENVPORT_STALE_AFTER_SECONDS = float(_env("ENVPORT_STALE_AFTER_SECONDS", "300"))
# How often a release looks at the alarms and the new version's errors while it bakes.
ENVPORT_RELEASE_POLL_SECONDS = float(_env("ENVPORT_RELEASE_POLL_SECONDS", "10"))

# --- Celery --------------------------------------------------------------------------------
REDIS_URL = _env("REDIS_URL", "redis://127.0.0.1:6379/0")
# In production a worker that starts before Redis answers must wait for it, not fall back to a
# filesystem queue nobody else reads: the explicit URL skips the probe and the fallback.
_BROKER = choose_broker(
    explicit=_env("CELERY_BROKER_URL") or (REDIS_URL if PRODUCTION else None),
    redis_url=REDIS_URL,
    var_dir=VAR_DIR,
)
CELERY_BROKER_URL = _BROKER.url
ENVPORT_BROKER_WARNING = _BROKER.warning
CELERY_BROKER_TRANSPORT_OPTIONS = dict(_BROKER.transport_options)
if not _BROKER.is_filesystem:
    # With acks_late, Redis redelivers an unacknowledged task after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = int(_env("ENVPORT_VISIBILITY_TIMEOUT", "3600"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_IGNORE_RESULT = True  # outcomes live in the database (Deployment), not a result backend
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Three queues (R-FLEET-1): operators' runs on `runs`, schedules and their checks on `sweeps`, so a
# worker of each (README) keeps a person's run from queueing behind a sweep of many environments;
# notification deliveries on `notifications`, so a slow receiver (each attempt may take up to
# ENVPORT_NOTIFY_TIMEOUT_SECONDS) never holds a worker a run is waiting for.
CELERY_TASK_DEFAULT_QUEUE = "runs"
# All declared: a worker started without -Q serves all (one worker is enough for a small portal).
CELERY_TASK_QUEUES = (Queue("runs"), Queue("sweeps"), Queue("notifications"))
CELERY_TASK_ROUTES = {
    "portal.tasks.scheduled_*": {"queue": "sweeps"},
    "portal.tasks.teardown_expired_previews": {"queue": "sweeps"},
    "portal.tasks.reap_stale_deployments": {"queue": "sweeps"},
    "portal.notifications.*": {"queue": "notifications"},
}

# --- AWS quotas (R-FLEET-1..3) --------------------------------------------------------------
# Rate limits every AWS call takes a token from: API Gateway's published quotas, plus this JSON
# ({"default": {"lambda.*": [15, 1, 30]}, "accounts": {"123456789012": {...}}}); "off" disables.
_QUOTAS = _env("ENVPORT_QUOTAS", "")
try:
    ENVPORT_QUOTAS: dict[str, Any] | str = "off" if _QUOTAS == "off" else json.loads(_QUOTAS or "{}")
except ValueError as _exc:
    raise ImproperlyConfigured(f"ENVPORT_QUOTAS must be JSON or 'off': {_exc}") from None
# The local cloud's quota clock in tests and the benchmark (LOCALCLOUD_QUOTA_TIME_SCALE) runs faster;
# the tests' settings run it 100 times faster (portal/settings_test.py).
ENVPORT_QUOTA_TIME_SCALE = float(_env("ENVPORT_QUOTA_TIME_SCALE", "1"))
# Buckets in Redis shared by every worker; in the process when the broker is not Redis.
ENVPORT_QUOTA_REDIS_URL = _env("ENVPORT_QUOTA_REDIS_URL", "" if _BROKER.is_filesystem else REDIS_URL)
# The share of a bucket's burst that sweeps leave to operators.
ENVPORT_QUOTA_SWEEP_RESERVE = float(_env("ENVPORT_QUOTA_SWEEP_RESERVE", "0.25"))
# How long a sweep's account-wide reads are shared before they are read again.
ENVPORT_SWEEP_READS_TTL_SECONDS = float(_env("ENVPORT_SWEEP_READS_TTL_SECONDS", "300"))
# A sweep spreads its checks over this share of its schedule's interval (with jitter).
ENVPORT_SWEEP_SPREAD = float(_env("ENVPORT_SWEEP_SPREAD", "0.8"))

# --- logging: never an API key value -------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "portal.logutil.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": _env("ENVPORT_LOG_LEVEL", "INFO")},
    "loggers": {
        # botocore's debug output contains request and response bodies (get_api_key's value).
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- the HTTP API (/api/v1/) and notifications ---------------------------------------------
# The portal's own address, for links in notifications and API answers made outside a request.
ENVPORT_BASE_URL = _env("ENVPORT_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Requests per token (or per signed-in user, or per address without either), DRF's rate syntax.
ENVPORT_API_RATE = _env("ENVPORT_API_RATE", "600/min")
ENVPORT_API_MAX_WAIT_SECONDS = int(_env("ENVPORT_API_MAX_WAIT_SECONDS", "60"))  # ?wait= long-poll cap
# The web server's threads per process: gunicorn's --threads in Dockerfile and docker-compose.yml.
ENVPORT_WEB_THREADS = int(_env("ENVPORT_WEB_THREADS", "8"))
# Long-polls waiting at once per process (half its threads: the rest serve everyone else), and per
# token within them; past either a ?wait= answers at once (portal/api/waiting.py).
ENVPORT_API_MAX_WAITERS = int(_env("ENVPORT_API_MAX_WAITERS", str(max(1, ENVPORT_WEB_THREADS // 2))))
ENVPORT_API_MAX_WAITERS_PER_TOKEN = int(
    _env("ENVPORT_API_MAX_WAITERS_PER_TOKEN", str(max(1, ENVPORT_API_MAX_WAITERS // 2)))
)
# Failed authentications (a bad API token, a wrong console password) per client address: past
# ENVPORT_AUTH_FAILURES within ENVPORT_AUTH_FAILURE_WINDOW_SECONDS, the address is refused until the
# window ends (portal/lockout.py), in the cache every web process shares.
ENVPORT_AUTH_FAILURES = int(_env("ENVPORT_AUTH_FAILURES", "10"))
ENVPORT_AUTH_FAILURE_WINDOW_SECONDS = int(_env("ENVPORT_AUTH_FAILURE_WINDOW_SECONDS", "300"))
ENVPORT_API_MAX_UPLOAD_BYTES = int(_env("ENVPORT_API_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)))
# Artifact uploads one token may have being built at once (portal/api/uploads.py); past it, 429.
ENVPORT_API_MAX_CONCURRENT_UPLOADS = int(_env("ENVPORT_API_MAX_CONCURRENT_UPLOADS", "2"))
ENVPORT_API_IDEMPOTENCY_HOURS = float(_env("ENVPORT_API_IDEMPOTENCY_HOURS", "24"))  # a key's lifetime
# How long a traffic view (portal/services/traffic.py) is served from the cache: its two AWS calls
# are made at most once per environment and range in this many seconds, however many are watching.
ENVPORT_TRAFFIC_CACHE_SECONDS = int(_env("ENVPORT_TRAFFIC_CACHE_SECONDS", "30"))
# The throttle's counters: shared by every web process through Redis in production.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if PRODUCTION
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "envport"}
    )
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser, with CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.auth.Authenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.PerTokenThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.BoundedJSONParser",  # DRF's, with the body's nesting bounded
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "envport API",
    "DESCRIPTION": "Environments, runs, artifacts and the audit trail of the envport portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Notification deliveries: attempts in all, and the first retry's delay (doubled each time).
ENVPORT_NOTIFY_MAX_ATTEMPTS = int(_env("ENVPORT_NOTIFY_MAX_ATTEMPTS", "5"))
ENVPORT_NOTIFY_BACKOFF_SECONDS = float(_env("ENVPORT_NOTIFY_BACKOFF_SECONDS", "30"))
# One attempt's whole deadline: resolving, connecting, sending and reading the answer together.
ENVPORT_NOTIFY_TIMEOUT_SECONDS = float(_env("ENVPORT_NOTIFY_TIMEOUT_SECONDS", "10"))
# Webhook receivers go to public addresses only (docs/notifications.md); these host names (exactly
# as written in a channel's URL, comma-separated) are exempt: a receiver on your own network.
ENVPORT_NOTIFY_ALLOWED_HOSTS = tuple(
    h.strip().lower().rstrip(".") for h in _env("ENVPORT_NOTIFY_ALLOWED_HOSTS", "").split(",") if h.strip()
)
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "envport@localhost")

# --- watching the portal itself (docs/operations.md) ------------------------------------------
# /healthz (liveness) and /readyz (readiness) answer probes over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Each readiness check (database, broker, worker heartbeat) and each Redis read of /metrics.
ENVPORT_HEALTH_TIMEOUT_SECONDS = float(_env("ENVPORT_HEALTH_TIMEOUT_SECONDS", "2"))
# Workers write a heartbeat this often; /readyz wants one no older than the stale limit.
ENVPORT_WORKER_HEARTBEAT_SECONDS = float(_env("ENVPORT_WORKER_HEARTBEAT_SECONDS", "15"))
ENVPORT_WORKER_STALE_SECONDS = float(_env("ENVPORT_WORKER_STALE_SECONDS", "60"))
# /metrics: a scraper sends this bearer token, or scrapes from one of these addresses or networks
# (REMOTE_ADDR as the portal sees it; forwarded headers are not trusted). Loopback by default.
ENVPORT_METRICS_TOKEN = _env("ENVPORT_METRICS_TOKEN")
ENVPORT_METRICS_ALLOWED_ADDRESSES = tuple(_list("ENVPORT_METRICS_ALLOWED_ADDRESSES", ["127.0.0.1", "::1"]))
if ENVPORT_METRICS_TOKEN and len(ENVPORT_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("ENVPORT_METRICS_TOKEN must be at least 16 characters (or unset)")

# --- cost estimates (issue 21, docs/cost.md) ------------------------------------------------
# Price tables written by `manage.py prices refresh`; searched before the bundled ones in
# provisioning/pricing/.
ENVPORT_PRICES_DIR = Path(_env("ENVPORT_PRICES_DIR", "") or VAR_DIR / "pricing")
# Stored estimates kept per environment (one an hour by default: two days of history).
ENVPORT_COST_KEEP = int(_env("ENVPORT_COST_KEEP", "48"))
# The idle finding: an environment whose fixed cost is more than this share of its monthly figure
# and which served no request in the last ENVPORT_COST_IDLE_DAYS days (1, 7 or 30: the windows an
# estimate measures).
ENVPORT_COST_IDLE_DAYS = int(_env("ENVPORT_COST_IDLE_DAYS", "7"))
if ENVPORT_COST_IDLE_DAYS not in (1, 7, 30):
    raise ImproperlyConfigured("ENVPORT_COST_IDLE_DAYS must be 1, 7 or 30 (the windows an estimate measures)")
ENVPORT_COST_IDLE_FIXED_SHARE = float(_env("ENVPORT_COST_IDLE_FIXED_SHARE", "0.8"))
if not 0 < ENVPORT_COST_IDLE_FIXED_SHARE <= 1:
    raise ImproperlyConfigured("ENVPORT_COST_IDLE_FIXED_SHARE must be more than 0 and at most 1")
