"""Phoenix settings, read from the environment with django-environ.

Every setting that differs between machines comes from an environment variable (see the
configuration table in README.md). Without DATABASE_URL / REDIS_URL, embedded servers
are started (phoenix.core.embedded).
"""

from __future__ import annotations

from pathlib import Path

import environ
import sentry_sdk
import structlog
from django.core.exceptions import ImproperlyConfigured

from phoenix.core import embedded
from phoenix.core.logging import redact_processor, redact_sentry_event
from phoenix.core.tracing import add_trace_ids

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# --- Core --------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")


def _is_real_secret_key(key: str) -> bool:
    # The same rule as Django's security.W009 check.
    return len(key) >= 50 and len(set(key)) >= 5 and not key.startswith("django-insecure-")


if not DEBUG and not _is_real_secret_key(SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG "
        "is off (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )
if not SECRET_KEY:
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Embedded services: only where the URLs are unset (development and tests).
PHOENIX_DATA_DIR = Path(env.str("PHOENIX_DATA_DIR", default=str(BASE_DIR / ".devdata")))
EMBEDDED_SERVICES = embedded.export_service_urls(PHOENIX_DATA_DIR)

INSTALLED_APPS = [
    "phoenix.core.admin_site.PhoenixAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_prometheus",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "billing.apps.StripeMirrorConfig",  # dj-stripe, as the admin's "Stripe mirror" group
    "django_structlog",
    "axes",  # before ours: the roles sync sees its permissions
    "phoenix.core",
    "phoenix.accounts",
    "phoenix.outbound",
    "subscriptions",
    "wallet",
    "licenses",
    "billing",
    "bench",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before CommonMiddleware: preflights answered first
    "django.middleware.security.SecurityMiddleware",
    "phoenix.core.middleware.InputPolicyMiddleware",  # body size before anything reads the body
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "axes.middleware.AxesMiddleware",  # admin brute force (below)
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "phoenix.urls"
WSGI_APPLICATION = "phoenix.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

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

# --- Data stores -------------------------------------------------------------------

DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# No `SELECT 1` before each request's first query (a round trip on every request): a
# connection the database dropped fails that one request (503 `service_unavailable`) and is
# replaced at its end (Django closes an unusable connection). True restores the check.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
# Behind PgBouncer in transaction pooling mode (README "Scaling out"): consecutive
# transactions of one client may run on different server connections, so nothing may
# outlive a transaction on the server. Server-side cursors (QuerySet.iterator) do, hence
# DB_PGBOUNCER=true turns them off, and the prepared statements below. Already safe
# without a setting: the ORM's statements are never prepared (client-side binding); the
# job locks are transaction-scoped (phoenix.core.jobs.advisory_lock); SET TIME ZONE is
# one of the parameters PgBouncer restores per client. CONN_MAX_AGE keeps
# the client connection to PgBouncer, which is cheap; PgBouncer's pool bounds the servers.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DB_PGBOUNCER", default=False)
# The hot path's own SQL (phoenix.core.db.prepared_cursor: the ledger, the idempotency store,
# the outbox) is prepared on each connection from its second run: planned once, not per call
# (bench_luna / bench_pgledger). Prepared statements outlive a transaction on the server, so
# behind PgBouncer in transaction mode they need PgBouncer >= 1.21 with
# max_prepared_statements; DB_PGBOUNCER=true turns them off unless DB_PREPARED_STATEMENTS says.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS",
                                  default=not DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"])
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 1 if DB_PREPARED_STATEMENTS else None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "phoenix.core.cache.PhoenixRedisCache",  # one client per pool (phoenix/core/cache.py)
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="phoenix"),
        "TIMEOUT": 300,
    }
}

# --- Celery ------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered: jobs are idempotent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Auth & API --------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "phoenix.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "phoenix.core.openapi.PhoenixAutoSchema",
    "EXCEPTION_HANDLER": "phoenix.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

# Brute-force protection on /auth/login: per client IP, and per (client IP, e-mail address)
# so that attempts from other IPs never lock a user out.
LOGIN_THROTTLE_RATE = env.str("LOGIN_THROTTLE_RATE", default="30/min")
LOGIN_IP_EMAIL_THROTTLE_RATE = env.str("LOGIN_IP_EMAIL_THROTTLE_RATE", default="5/min")
LOGIN_IP_EMAIL_HOURLY_RATE = env.str("LOGIN_IP_EMAIL_HOURLY_RATE", default="20/hour")  # the back-off
REGISTER_THROTTLE_RATE = env.str("REGISTER_THROTTLE_RATE", default="20/hour")
# /luna API: per end user and per satellite API key.
LUNA_USER_THROTTLE_RATE = env.str("LUNA_USER_THROTTLE_RATE", default="120/min")
LUNA_SATELLITE_THROTTLE_RATE = env.str("LUNA_SATELLITE_THROTTLE_RATE", default="6000/min")

API_KEY_CUSTOM_HEADER = None  # satellites send "Authorization: Api-Key <key>"

SPECTACULAR_SETTINGS = {
    "TITLE": "Phoenix API",
    # Markdown (Swagger UI renders it): code spans keep `<code>` and `{...}` from being read as HTML.
    "DESCRIPTION": """Monetization back office: energy wallet, subscriptions, seat licenses, billing.

**Authentication.** End users send `Authorization: Token <key>` (from `POST /auth/login`). Satellite
services send `Authorization: Api-Key <key>` (scheme *ApiKeyAuth*: type `Api-Key <key>` in Swagger's
Authorize dialog); the operations that accept a key list it.

**Acting for a user.** A satellite may act for any active user and must name them: `user_id` in the body
or the path (else 400 `user_id_required`). An end user may omit `user_id` or give their own; any other id
answers 404 `user_not_found`, so the API never tells whether another account exists.

**Retries.** Mutating endpoints take an optional idempotency key, in the body (`idempotency_key`) or the
`Idempotency-Key` header; when both are sent they must be equal (else 400 `invalid_idempotency_key`). A
retry with the same key replays the first answer (header `Idempotent-Replayed: true`); the same key with
another body is 409 `idempotency_conflict`. Errors are not stored: a retry after one is evaluated afresh.

**Errors.** Every error answer is `{"error": "<code>", "detail": "<text>", ...}`: a stable machine code,
a human text, and extra fields for some codes (`fields` for `validation_error`, `retry_after` for
`throttled`, `energy_required`, `available` and `required_pack` for `insufficient_energy`).""",
    "VERSION": "1.0.0",
    # 3.1: the version with a `webhooks` section (the events POSTed to the satellites).
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies get their own components (`ConsumeRequest`), apart from the answers; the
    # schema class (phoenix.core.openapi) keeps a serializer's own "Request" from being doubled.
    "COMPONENT_SPLIT_REQUEST": True,
    # Enum components named after what they are (by their values), not "TypeEnum" / "KindEnum".
    "ENUM_NAME_OVERRIDES": {
        "AccessTypeEnum": ["TRIAL", "PREMIUM", "LIFETIME", "LICENSED", "EXPIRED"],
        "SeatKindEnum": ["monthly", "lifetime"],
    },
    # What Phoenix POSTs to the satellites' endpoints (phoenix/outbound/catalogue.py).
    "WEBHOOKS": "phoenix.outbound.openapi.WEBHOOKS",
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Satellite services: `Api-Key <key>` (the whole header value, prefix included).",
            }
        }
    },
}

# --- Stripe ------------------------------------------------------------------------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_CURRENCY = env.str("STRIPE_CURRENCY", default="eur")
# dj-stripe (billing/): mirrors Stripe objects; Phoenix's own webhook is billing/webhooks.
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"  # new installation (dj-stripe check E002)
# dj-stripe's schema from one generated migration instead of its 60+ (phoenix/djstripe_migrations).
MIGRATION_MODULES = {"djstripe": "phoenix.djstripe_migrations"}
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
DJSTRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
if STRIPE_API_BASE.rstrip("/") != "https://api.stripe.com":
    STRIPE_API_HOST = STRIPE_API_BASE  # dj-stripe's own syncs follow a local Stripe server too
BILLING_CHECKOUT_SUCCESS_URL = env.str(
    "BILLING_CHECKOUT_SUCCESS_URL",
    default="http://localhost:8000/billing/done?session_id={CHECKOUT_SESSION_ID}",
)
BILLING_CHECKOUT_CANCEL_URL = env.str(
    "BILLING_CHECKOUT_CANCEL_URL", default="http://localhost:8000/billing/canceled"
)
# Where Stripe's customer portal (POST /billing/portal) sends the user back.
BILLING_PORTAL_RETURN_URL = env.str("BILLING_PORTAL_RETURN_URL", default="http://localhost:8000/")

# --- Outbound webhooks (phoenix/outbound) ------------------------------------------

# Endpoint URLs: https only, public addresses only, unless these allow http / loopback and
# private addresses (development and tests).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_BALANCE_LOW_DEFAULT = env.int("WEBHOOK_BALANCE_LOW_DEFAULT", default=20)
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
WEBHOOK_SECRET_OVERLAP_HOURS = env.int("WEBHOOK_SECRET_OVERLAP_HOURS", default=24)

# --- Pro invitations (licenses) ------------------------------------------------------

PRO_INVITATION_DAYS = env.int("PRO_INVITATION_DAYS", default=7)
# The e-mailed link; {token} is the signed invitation token (answered at POST /pro/invitations/respond).
PRO_INVITATION_URL = env.str("PRO_INVITATION_URL", default="http://localhost:8000/pro/invitation?token={token}")

# --- E-mail ------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="phoenix@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
ADMINS = [tuple(item.split(":", 1)) for item in env.list("ADMINS", default=[]) if ":" in item]

# --- Static files, i18n ------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (issue 14): every switch from the environment, secure when DEBUG is off ----
# Development (`make run`, manage.py by hand) and the tests set the HTTP-only ones off
# (phoenix.core.devenv, settings_test); production keeps the defaults (README, Production).

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# The header the TLS-terminating proxy sets, "HEADER,value" (empty: no proxy says so).
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=["HTTP_X_FORWARDED_PROTO", "https"])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
# /health/ is probed over plain HTTP by load balancers and container runtimes.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Hardening (issue 14): input policy ----------------------------------------------
# One policy for every JSON endpoint (phoenix.core.input_policy): body size, nesting depth,
# storable text, strict query parameters.

API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES  # Django's own limit (forms, raw bodies): the same
# The API views whose query parameters are policed (third-party views such as the schema's own).
API_POLICED_MODULES = ["phoenix.", "subscriptions.", "wallet.", "licenses.", "billing."]
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["phoenix.core.input_policy.StrictJSONParser"]
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums", "phoenix.core.openapi.input_policy_responses",
]
SPECTACULAR_SETTINGS["DESCRIPTION"] += """

**Input policy.** Every endpoint (the Stripe webhook too): a body over 1 MiB (`API_MAX_BODY_BYTES`) is 413
`payload_too_large`; JSON nested deeper than 32 levels is 400 `nesting_too_deep`; a text holding a NUL or an
unpaired surrogate is 400 `invalid_characters` with `field`; numbers are JSON integers (`"300"` is refused),
codes are taken as sent (never trimmed); a query parameter the operation does not list is 400
`unknown_query_parameter`, a bad `page`, `page_size` or `cursor` 400 `invalid_paging`. A bad `Api-Key` is 401
`authentication_failed`. **Unavailable.** The database, cache or broker down: 503 `service_unavailable` (with
`service` and `Retry-After`) on any endpoint; `/health/` says which one is down."""

# --- Hardening (issue 14): admin brute force (django-axes) ------------------------------
# The admin login is locked for a (client IP, username) after AXES_FAILURE_LIMIT failures,
# for AXES_COOLOFF_HOURS; every attempt is recorded; an operator unlocks from the admin
# ("Access attempts" -> Unlock, audited). The API login has its own throttles (above).

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_ONLY_ADMIN_SITE = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_ENABLE_ADMIN = False  # phoenix.core.admin registers its own (read-only, with the audited unlock)
AXES_IPWARE_PROXY_COUNT = env.int("NUM_PROXIES", default=0)

# --- Logging: JSON lines with a request id (django-structlog) -----------------------

LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # "json" or "console"
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

_shared_processors = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]

structlog.configure(
    processors=[
        *_shared_processors,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,  # last before rendering: the traceback's text is scrubbed too
                structlog.processors.JSONRenderer(),
            ],
            "foreign_pre_chain": _shared_processors,
        },
        "console": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,
                structlog.dev.ConsoleRenderer(colors=False),
            ],
            "foreign_pre_chain": _shared_processors,
        },
    },
    "handlers": {
        "stream": {
            "class": "logging.StreamHandler",
            "formatter": "console" if LOG_FORMAT == "console" else "json",
        },
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
        },
    },
    "root": {"handlers": ["stream"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"handlers": ["stream", "mail_admins"], "level": "ERROR", "propagate": False},
        "django_structlog": {"level": LOG_LEVEL},
        "phoenix": {"level": LOG_LEVEL},
        "pgserver": {"level": "WARNING"},
    },
}

DJANGO_STRUCTLOG_CELERY_ENABLED = True

# --- Observability: metrics, traces, error reports, CORS -----------------------------

# /metrics (Prometheus): a scraper sends "Authorization: Bearer <METRICS_TOKEN>"; or, with
# METRICS_ALLOW_LOOPBACK, a client on the loopback not behind a proxy. Neither: refused to all.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_LOOPBACK = env.bool("METRICS_ALLOW_LOOPBACK", default=False)
PROMETHEUS_EXPORT_MIGRATIONS = False  # django-prometheus: no migration query at start-up

# Traces: the standard OTEL_* variables (phoenix.core.tracing); off unless OTEL_TRACES_EXPORTER
# is "otlp" or "console". Installed in CoreConfig.ready.

# Error reports: Sentry when its DSN is set, with the log redaction applied to each event.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    sentry_sdk.init(
        dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, send_default_pii=False,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE, max_request_body_size="never",
        before_send=redact_sentry_event, before_send_transaction=redact_sentry_event,
        before_breadcrumb=redact_sentry_event,
    )

# CORS (django-cors-headers): the website's and the satellites' front-ends, by exact origin
# (scheme://host[:port]); nothing is allowed by default. Credentials (cookies) are not sent
# cross-origin unless CORS_ALLOW_CREDENTIALS: front-ends authenticate with the
# "Authorization: Token ..." header, which needs no credentials mode.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
CORS_PREFLIGHT_MAX_AGE = env.int("CORS_PREFLIGHT_MAX_AGE", default=600)
CORS_EXPOSE_HEADERS = ["Idempotent-Replayed", "Retry-After"]
CORS_ALLOW_HEADERS = [
    "accept", "authorization", "content-type", "idempotency-key", "x-request-id", "x-csrftoken",
    "traceparent", "tracestate",
]
