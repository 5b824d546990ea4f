"""Optimus settings, read from the environment.

Every value has a default that runs with no server at all (SQLite, in-process tasks, the
``log`` push backend), so ``python manage.py migrate && python manage.py runserver`` works on
a fresh clone. Production sets ``OPTIMUS_ENV=production`` and must then provide a real
secret key and turn DEBUG off, or the process refuses to start.
See ``.env.example`` for the full list.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from optimus_site import netguard

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float, low: float = 0.0, high: float = 1e9) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={raw!r} must be between {low} and {high}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


OPTIMUS_ENV = env_choice("OPTIMUS_ENV", "development", ("development", "test", "production"))
IS_PRODUCTION = OPTIMUS_ENV == "production"

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (refused in production)
SECRET_KEY = os.environ.get("SECRET_KEY") or DEFAULT_SECRET_KEY
DEBUG = env_bool("DEBUG", default=not IS_PRODUCTION)

if IS_PRODUCTION:
    # The .env.example placeholder is public, and Django's own W009 rule (50+ characters, 5+
    # distinct) is the floor for a key that signs sessions and password-reset links.
    EXAMPLE_SECRET_KEY = "change-me-to-50-random-characters-python-c-import-secrets-print-secrets-token-urlsafe-50"  # noqa: S105
    if SECRET_KEY in (DEFAULT_SECRET_KEY, EXAMPLE_SECRET_KEY) or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "OPTIMUS_ENV=production needs SECRET_KEY set to a random value of 50+ characters (not the example one)"
        )
    if DEBUG:
        raise ImproperlyConfigured("OPTIMUS_ENV=production refuses to run with DEBUG on")

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "*" if DEBUG else "").split(",") if h.strip()]
if IS_PRODUCTION and not ALLOWED_HOSTS:
    # Without it Django answers 400 to every request; better to say so at start.
    raise ImproperlyConfigured("OPTIMUS_ENV=production needs ALLOWED_HOSTS (comma-separated host names)")
CSRF_FAILURE_VIEW = "optimus_site.api.errors.csrf_failure"
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # serves the docs' JavaScript ourselves: no CDN for a self-hosted product
    "django_celery_beat",
    "push_notifications",
    "optimus_site",  # writes beat's default schedule after migrate (optimus_site.schedule)
    "devices",
    "recommender",
    "campaigns",
    "simulation",  # development tools: simulate, generate_events, demo, loopback_gateway (no models)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collectstatic's files (admin CSS, Swagger UI) from the app itself, with DEBUG off too:
    # the documented gunicorn setup needs no separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "optimus_site.api.middleware.ChunkedApiBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "optimus_site.urls"
WSGI_APPLICATION = "optimus_site.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
# No DATABASE_URL: a SQLite file next to manage.py. mysql://user:pass@host:port/name: MySQL or
# MariaDB with utf8mb4 and strict mode, so a too-long value is an error rather than silently cut.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'optimus.sqlite3'}"
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not understood: {exc}") from None
# A persistent connection (CONN_MAX_AGE) is pinged before its first use in each request, and
# replaced if the server went away: without it, the first request of every web thread after a
# database restart answers 500 (bench/faults.py, scenario 3). Costs one round trip per request.
_db["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)

if _db["ENGINE"] == "django.db.backends.mysql":
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
        # READ COMMITTED avoids gap locks between the dispatcher's claims and the planner's inserts.
        "isolation_level": "read committed",
    }
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # WAL lets the demo's web server read while a command writes.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    _db["CONN_MAX_AGE"] = 0
DATABASES = {"default": _db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Everything is stored in UTC; customers' local time comes from their own IANA time zone.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies and far-future caching of hashed names; plain names in development and
    # tests, where collectstatic has not run.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and OPTIMUS_ENV != "test"
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production whitenoise looks STATIC_ROOT up per request, so a checkout that never ran
# collectstatic (tests, development) gets no "No directory at" warning; production scans it once
# at startup and warns when collectstatic was forgotten.
WHITENOISE_AUTOREFRESH = not IS_PRODUCTION
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")
# Trained model artifacts live here (one file per model version).
MODEL_ARTIFACT_DIR = Path(os.environ.get("MODEL_ARTIFACT_DIR") or MEDIA_ROOT / "models")
# Model files of the newest runs kept on disk (the planner loads only the newest); older ones are
# deleted after each successful run.
MODEL_ARTIFACTS_KEPT = max(1, env_int("MODEL_ARTIFACTS_KEPT", 2))  # the newest is always kept

if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)

# HTTPS hardening is opt-in: only the operator knows whether TLS ends at a proxy in front of us.
# Admin login lockout (optimus_site.login_lockout): this many failures per username or per client
# IP within the window lock that username / IP out until the window ends.
# Failed API authentication per client IP (devices.auth_failures): this many within the window
# answer 429 until it ends.
API_AUTH_FAILURES = env_int("API_AUTH_FAILURES", 120)
API_AUTH_FAILURE_WINDOW_S = env_int("API_AUTH_FAILURE_WINDOW_S", 60)
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 5)
LOGIN_LOCKOUT_WINDOW_S = env_int("LOGIN_LOCKOUT_WINDOW_S", 900)

SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# `check --deploy` asks for HSTS preload; submitting a domain to the browsers' preload list is the
# domain owner's decision (hard to undo, and it covers every subdomain), not a default we can take.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Trust X-Forwarded-Proto only when a proxy we control sets it (otherwise clients could forge it).
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Celery ---------------------------------------------------------------------------------
# No broker: tasks run in-process (eager), which is what the SQLite demo uses.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
# Three queues, so a long training run never delays sending: run workers with -Q train / plan / send.
CELERY_TASK_ROUTES = {
    "recommender.*": {"queue": "train"},
    "campaigns.plan*": {"queue": "plan"},
    "campaigns.send*": {"queue": "send"},
    "campaigns.dispatch*": {"queue": "send"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis has no acknowledgements of its own: a message a worker took and never acknowledged (the
# worker was killed; acks_late tasks) goes back to the queue once it is this old. Set it above the
# longest acks_late task, counted from when the worker took the message, or a slow task starts a
# second time: send batches take seconds (and a second run sends nothing twice), a plan shard
# minutes (idempotent); training can take longer (a second run skips while the train lock is held,
# which needs CACHE_URL). Sending does not wait for it: the dispatcher takes back a dead sender's
# notifications after SEND_CLAIM_TIMEOUT_S. Kombu's default, one hour; bench/faults.py runs with 20 s.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600)}

# --- Planning and sending (campaigns.planner, campaigns.dispatcher) ---------------------------
# Share of automated sends placed at another allowed hour than the best, to keep learning.
PLAN_EXPLORATION = env_float("PLAN_EXPLORATION", 0.1, 0.0, 1.0)
# Experiments and off-policy checks (bench/ope_check.py): the type bandit off (the greedy type, least
# recently used on a tie), and "at most k automated pushes a week" below the learned level (0 = no limit).
PLAN_TYPE_BANDIT = env_bool("PLAN_TYPE_BANDIT", True)
PLAN_FREQUENCY_AT_MOST = env_int("PLAN_FREQUENCY_AT_MOST", 0)
# Share of customers held back from automated notifications to measure uplift.
PLAN_CONTROL_SHARE = env_float("PLAN_CONTROL_SHARE", 0.05, 0.0, 0.5)
# The utility of a push (recommender.ml.bandits), in opens of a type of value 1: what one dismissal
# costs, and how many weeks of a person's pushes an opt-out loses (the value of keeping them reachable).
PLAN_DISMISS_COST = env_float("PLAN_DISMISS_COST", 0.15, 0.0, 100.0)
PLAN_REACHABLE_WEEKS = env_float("PLAN_REACHABLE_WEEKS", 26.0, 0.0, 520.0)
# The lowest utility worth a notification.
PLAN_MIN_EXPECTED_VALUE = env_float("PLAN_MIN_EXPECTED_VALUE", 0.0, -1.0, 1.0)
# Four eyes: a campaign may only be approved by someone other than its author, and editing an
# approved or paused campaign sends it back to draft (to be approved again).
CAMPAIGN_APPROVAL_BY_ANOTHER = env_bool("CAMPAIGN_APPROVAL_BY_ANOTHER", False)
# Deliveries that failed transiently are retried with exponential backoff and jitter, this many times:
# the n-th retry waits between half and all of BASE × 2^(n-1) seconds, at most MAX (a provider's
# Retry-After, when it sends one, is used instead, also capped at MAX).
SEND_MAX_ATTEMPTS = env_int("SEND_MAX_ATTEMPTS", 5)
SEND_BACKOFF_BASE_S = env_float("SEND_BACKOFF_BASE_S", 30.0, 0.0, 86400.0)
SEND_BACKOFF_MAX_S = env_float("SEND_BACKOFF_MAX_S", 3600.0, 0.0, 86400.0)
# Notifications claimed by a sender that has not finished after this long are claimed again.
SEND_CLAIM_TIMEOUT_S = env_int("SEND_CLAIM_TIMEOUT_S", 600)

# --- Push -----------------------------------------------------------------------------------
PUSH_BACKEND = env_choice("PUSH_BACKEND", "log", ("log", "fcm", "apns", "webpush"))
# Where the fcm backend sends; point it at `manage.py loopback_gateway` for tests and benchmarks.
FCM_ENDPOINT = os.environ.get("FCM_ENDPOINT", "")
# Empty: the project of the credentials; with FCM_ENDPOINT set, "optimus-local".
FCM_PROJECT_ID = os.environ.get("FCM_PROJECT_ID", "")
# A service-account JSON file. Empty: Google Application Default Credentials, i.e. the file named by
# GOOGLE_APPLICATION_CREDENTIALS or the cloud's metadata server. Not used with FCM_ENDPOINT set.
FCM_CREDENTIALS_FILE = os.environ.get("FCM_CREDENTIALS_FILE", "")
# The log backend also appends one JSON line per message here (empty: only the logger).
PUSH_LOG_FILE = os.environ.get("PUSH_LOG_FILE", "")

# Web Push endpoints are URLs an app user chooses: only https endpoints of these push services
# (comma-separated; "*.example.com" for subdomains; "*" for any public host) are accepted and sent
# to, and the sender connects only to public addresses, without following redirects
# (optimus_site/netguard.py).
WEBPUSH_ALLOWED_HOSTS = env_list("WEBPUSH_ALLOWED_HOSTS", list(netguard.DEFAULT_PUSH_HOSTS))
# Tests only (a loopback push service): lifts the address and scheme checks. Not read from the
# environment, so no deployment can turn it on by accident.
WEBPUSH_ALLOW_PRIVATE_ENDPOINTS = False

PUSH_NOTIFICATIONS_SETTINGS = {
    # Devices belong to customers, not to Django staff users (see README, "Architecture").
    "USER_MODEL": "devices.Customer",
    # UNIQUE_REG_ID cannot be used on MySQL (the token is a TEXT column); the device service
    # upserts by token instead.
    "UNIQUE_REG_ID": False,
    "UPDATE_ON_DUPLICATE_REG_ID": True,
    "WP_PRIVATE_KEY": os.environ.get("WEBPUSH_PRIVATE_KEY") or None,
    "WP_CLAIMS": {"sub": os.environ.get("WEBPUSH_SUBJECT", "mailto:ops@example.com")},
}
# Our own migrations for django-push-notifications' tables, because their `user` foreign key
# points at devices.Customer rather than auth.User (the library's migrations hard-code the latter).
MIGRATION_MODULES = {"push_notifications": "devices.push_migrations"}

# --- REST API -------------------------------------------------------------------------------
import datetime as _dt  # noqa: E402

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["optimus_site.api.parsers.LimitedJSONParser"],
    "EXCEPTION_HANDLER": "optimus_site.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Per credential; "none" switches a scope off. Rates: N/second, N/minute, N/hour, N/day.
    "DEFAULT_THROTTLE_RATES": {
        "server": os.environ.get("THROTTLE_SERVER_RATE", "6000/minute"),
        "mobile": os.environ.get("THROTTLE_MOBILE_RATE", "120/minute"),
    },
}
for _scope, _rate in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].items():
    if _rate == "none":
        REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][_scope] = None
    elif not (_rate.partition("/")[0].isdigit() and _rate.partition("/")[2][:1] in ("s", "m", "h", "d")):
        raise ImproperlyConfigured(f"THROTTLE_{_scope.upper()}_RATE={_rate!r} must look like 120/minute or none")

API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 2 * 1024 * 1024)
# How far ahead of the server's clock a client's "at" may be (phones' clocks drift).
API_MAX_CLOCK_SKEW = _dt.timedelta(minutes=5)

SPECTACULAR_SETTINGS = {
    "TITLE": "Optimus API",
    "DESCRIPTION": (
        "Smart push notifications: fewer, personalised, well-timed.\n\n"
        "Two kinds of caller. **Your backend** (`Authorization: Api-Key <key>`) upserts customers, mints their "
        "app tokens, sends the catalog and server-side events. **The app** (`Authorization: Bearer <token>`) "
        "registers its push token, reports behaviour and notification feedback, reads its inbox and sets "
        "preferences; it only ever sees its own customer's data.\n\n"
        'Every error has the shape `{"error": {"code", "message", "fields"?}}`. Times are ISO 8601 with '
        "an offset or Z. Paths work with and without a trailing slash. Every push carries `notification_id`, "
        "`type`, `item_ids` (a JSON-encoded list) and `link` in its data payload."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["optimus_site.api.schema.without_slash_variants"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Throttle counters live in the cache: set CACHE_URL=redis://… so that every web worker shares them.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "optimus_site.cache.ReusingRedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} must be a redis:// URL (or unset for in-process memory)")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# How long an authenticated API key / customer token row may be served from the cache. Only a
# cache shared by every process can be told at once about a revocation, so the default is 0
# (always ask the database) unless CACHE_URL is set.
CREDENTIAL_CACHE_SECONDS = env_int("CREDENTIAL_CACHE_SECONDS", 60 if CACHE_URL else 0)
if CREDENTIAL_CACHE_SECONDS and not CACHE_URL:
    raise ImproperlyConfigured("CREDENTIAL_CACHE_SECONDS needs CACHE_URL=redis://… (a cache all processes share)")

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
