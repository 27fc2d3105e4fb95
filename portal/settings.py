"""Latchkey's settings: every value comes from the environment (see the README's table)."""

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from portal.accounts import entra
from portal.core.client_ip import parse_networks
from portal.env import env_bool, env_int, env_list, env_secret, env_str
from portal.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)

# Development defaults point at the stack that `make demo` starts; with DEBUG off
# every secret must be set explicitly.
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", dev_default="dev-only-not-secret", debug=DEBUG)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [PORTAL_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mozilla_django_oidc",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal.core",
    "portal.accounts",
    "portal.access",
    "portal.reviews",
    "portal.breakglass",
    "portal.chatops",
]

MIDDLEWARE = [
    # Outermost: what a request's commits queue goes to the broker once its answer is sent (portal/core/queue.py).
    "portal.core.queue.SendAfterAnswerMiddleware",
    "portal.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.core.middleware.SecurityHeadersMiddleware",
    "portal.core.ratelimit.BodySizeLimitMiddleware",
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


# How long a connection is kept (DATABASE_CONN_MAX_AGE). A new connection starts with no prepared statement: a
# statement is planned at each of its first ten runs on it (five before psycopg prepares it, five custom plans
# before PostgreSQL keeps a generic one), up to 3 ms each for a list's joins. At one minute, the calls that an
# approver makes a few times a minute were planned at nearly every run.
CONNECTION_KEPT_SECONDS = 600


def _database(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme!r}.")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", CONNECTION_KEPT_SECONDS, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": _statements(env_bool("DATABASE_PREPARED_STATEMENTS", True)),
    }


# How many times a connection runs a statement before psycopg prepares it (its own default).
PREPARE_AFTER = 5


def _statements(prepared: bool) -> dict:
    """Return the connection options that send parameters apart from the SQL and prepare repeated statements.

    The portal runs the same few statements over and over: prepared, PostgreSQL parses and plans each once a
    connection, not at every call (it used three times the CPU for the same calls). A pooler that cannot keep prepared
    statements across transactions (PgBouncer in transaction mode before 1.21) needs
    `DATABASE_PREPARED_STATEMENTS=false`: Django's default then, parameters merged into the SQL by the client.
    """
    return {"server_side_binding": True, "prepare_threshold": PREPARE_AFTER} if prepared else {}


DATABASES = {
    "default": _database(
        env_secret("DATABASE_URL", dev_default="postgresql://postgres@127.0.0.1:5433/latchkey", debug=DEBUG)
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6380/0")

AUTH_USER_MODEL = "auth.User"
AUTHENTICATION_BACKENDS = ["portal.accounts.signin.EntraSignInBackend"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Sessions: HttpOnly, SameSite=Lax (Strict would drop the cookie on the OIDC callback).
# Django's sessions in the database, read with one compiled query.
SESSION_ENGINE = "portal.accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_AGE = env_int("SESSION_LIFETIME_SECONDS", 8 * 3600, minimum=60)

# Production hardening: HTTPS only, behind a TLS-terminating proxy that names the scheme in a header.
# The header is trusted only when configured: a client could send it too if nothing strips it.
_PROXY_SSL_HEADER = env_str("DJANGO_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Health probes and Prometheus come from inside the container network over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True

# Sign-in with Entra ID (or any OpenID provider): endpoints come from discovery of the issuer.
OIDC_ISSUER = env_str("OIDC_ISSUER", "http://127.0.0.1:9400").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", "latchkey-portal")
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_CLIENT_SECRET", dev_default="dev-only-not-secret", debug=DEBUG)
# One tenant: its people sign in, and every token's issuer, keys and `tid` are that tenant's.
OIDC_ALLOWED_TENANTS = entra.allowed_tenant(
    issuer=OIDC_ISSUER, tenants=env_list("OIDC_ALLOWED_TENANTS", ["c0000000-0000-4000-8000-00000000000c"])
)
PORTAL_ADMIN_GROUPS = env_list("PORTAL_ADMIN_GROUPS", ["a0000000-0000-4000-8000-000000000005"])
PORTAL_ADMIN_APP_ROLES = env_list("PORTAL_ADMIN_APP_ROLES", [])
GRAPH_BASE_URL = env_str("GRAPH_BASE_URL", "https://graph.microsoft.com").rstrip("/")
GROUPS_MAX_AGE_SECONDS = env_int("GROUPS_MAX_AGE_SECONDS", 3600, minimum=60)
# With Entra ID the default adds `User.Read` (Graph, for the group overage), and a value without it is refused.
OIDC_RP_SCOPES = entra.sign_in_scopes(issuer=OIDC_ISSUER, configured=env_str("OIDC_SCOPES", ""))
OIDC_LEEWAY_SECONDS = env_int("OIDC_LEEWAY_SECONDS", 60, minimum=0)
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_AUTHENTICATE_CLASS = "portal.accounts.views.AuthenticateView"
OIDC_CALLBACK_CLASS = "portal.accounts.views.CallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "portal.accounts.views.provider_logout_url"
# Bearer access tokens for the API (scripts, CI jobs, the `latchkey` client): the audience is the
# portal's application ID URI (`api://<client-id>`) or client ID; an empty list means both.
# v2.0 tokens come from OIDC_ISSUER, v1.0 tokens from the issuer of Entra's v1.0 metadata of the tenant.
OIDC_API_AUDIENCE = env_list("OIDC_API_AUDIENCE", [])
# A person's token must carry this delegated scope (`scp`), an application's this app role (`roles`), and
# the client that obtained it (`azp`/`appid`) must be one of the allowed client IDs (none by default).
OIDC_API_SCOPE = env_str("OIDC_API_SCOPE", "access_as_user")
OIDC_API_APP_ROLE = env_str("OIDC_API_APP_ROLE", "latchkey.api")
OIDC_API_ALLOWED_CLIENTS = env_list("OIDC_API_ALLOWED_CLIENTS", [])

# Vault / OpenBao. Each process signs in with its own AppRole: web with the web identity, worker and
# beat with the worker identity (same variable names, different values; see the README).
VAULT_ADDR = env_str("VAULT_ADDR", "http://127.0.0.1:8200").rstrip("/")
# A Vault Enterprise, HCP Vault or OpenBao namespace (for example `admin/latchkey`); empty: the root namespace.
VAULT_NAMESPACE = env_str("VAULT_NAMESPACE", "").strip("/")
VAULT_ROLE_ID = env_str("VAULT_ROLE_ID", "")
VAULT_SECRET_ID = env_str("VAULT_SECRET_ID", "")
# With a file, the secret ID is read again at every login, so that a rotated one is picked up.
VAULT_SECRET_ID_FILE = env_str("VAULT_SECRET_ID_FILE", "")
VAULT_TOKEN = env_str("VAULT_TOKEN", "")
# `prepare_vault` runs before the portal's identities exist, with the operator's VAULT_ADMIN_TOKEN instead.
if (
    not DEBUG
    and not VAULT_TOKEN
    and not (VAULT_ROLE_ID and VAULT_SECRET_ID)
    and not os.environ.get("VAULT_ADMIN_TOKEN")
):
    raise ImproperlyConfigured(
        "Set VAULT_ROLE_ID and VAULT_SECRET_ID (or VAULT_SECRET_ID_FILE) for AppRole, or VAULT_TOKEN: the web "
        "process's web identity, the worker's and beat's worker identity (with compose: WEB_VAULT_ROLE_ID, "
        "WORKER_VAULT_ROLE_ID and the files in ./secrets/)."
    )
VAULT_GRANT_TOKEN_ROLE = env_str("VAULT_GRANT_TOKEN_ROLE", "latchkey-grant")
VAULT_TIMEOUT_SECONDS = env_int("VAULT_TIMEOUT_SECONDS", 10, minimum=1)
# Read by `prepare_vault` only: how long an AppRole secret ID lives, and the networks (CIDR) from which
# each identity may log in and use its token (empty: anywhere).
VAULT_SECRET_ID_TTL = env_str("VAULT_SECRET_ID_TTL", "720h")
VAULT_WEB_BOUND_CIDRS = env_list("VAULT_WEB_BOUND_CIDRS", [])
VAULT_WORKER_BOUND_CIDRS = env_list("VAULT_WORKER_BOUND_CIDRS", [])
# Keys that seal wrapping tokens at rest: the first seals, every one unseals (rotation). The older
# single-key setting, CREDENTIAL_ENCRYPTION_KEY, is a list of one when the list is not set.
CREDENTIAL_ENCRYPTION_KEYS = env_list("CREDENTIAL_ENCRYPTION_KEYS", [])
CREDENTIAL_ENCRYPTION_KEY = (
    ""
    if CREDENTIAL_ENCRYPTION_KEYS
    else env_secret("CREDENTIAL_ENCRYPTION_KEY", dev_default="dev-only-credential-key-not-secret", debug=DEBUG)
)

# The audit chain: each event carries an HMAC-SHA256 of the one before and of its own content, with a key that
# lives outside the database; beat anchors the chain's head in Vault (KV version 2 at AUDIT_ANCHOR_MOUNT).
AUDIT_CHAIN_KEY = env_secret("AUDIT_CHAIN_KEY", dev_default="dev-only-audit-chain-key-not-secret", debug=DEBUG)
if len(AUDIT_CHAIN_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_CHAIN_KEY must be at least 32 characters long.")
AUDIT_ANCHOR_MOUNT = env_str("AUDIT_ANCHOR_MOUNT", "latchkey-audit").strip("/")
# Deleting events older than this (and up to a beat tick) after they were written is seen by `verify_audit`.
AUDIT_ANCHOR_INTERVAL_SECONDS = 30

# Celery: the broker carries IDs only; no task stores a result.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING below (JSON, redacted), not through Celery's own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=60),
    # A worker takes from its queues in the order of `-Q` (WORKER_QUEUES), not in turn: a waiting revocation
    # goes before any waiting issue, and both before any waiting e-mail.
    "queue_order_strategy": "priority",
}
# Celery would close the database connection around every task, so each task paid a new connection and
# SCRAM login (most of a notification's cost); `portal.access.tasks` closes it by CONN_MAX_AGE instead.
CELERY_DB_REUSE_MAX = 1_000_000
# Ending access, issuing it and telling people have a queue each, served in that order (`-Q` lists them so):
# a burst of e-mails or of issues never waits in front of a revocation. Every worker serves all three.
WORKER_QUEUES = "revocations,celery,notifications"
CELERY_TASK_QUEUES = [Queue(name) for name in WORKER_QUEUES.split(",")]
CELERY_TASK_ROUTES = {
    "portal.access.tasks.revoke_grant": {"queue": "revocations"},
    "portal.access.tasks.expire_grant": {"queue": "revocations"},
    "portal.access.tasks.expire_grants": {"queue": "revocations"},
    "portal.access.tasks.revoke_grants": {"queue": "revocations"},
    "portal.access.tasks.retire_tokens": {"queue": "revocations"},
    "portal.access.tasks.sweep": {"queue": "revocations"},
    "portal.access.tasks.notify_email": {"queue": "notifications"},
    "portal.access.tasks.notify_webhook": {"queue": "notifications"},
    "portal.reviews.tasks.notify_reviewers_email": {"queue": "notifications"},
    "portal.reviews.tasks.notify_reviewers_webhook": {"queue": "notifications"},
    "portal.breakglass.tasks.notify_email": {"queue": "notifications"},
    "portal.breakglass.tasks.notify_webhook": {"queue": "notifications"},
    "portal.chatops.tasks.*": {"queue": "notifications"},
}
# Prometheus metrics at /metrics: for holders of the token, or callers from these networks.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])

# Values copied from `.env.example` and never replaced start with this: refuse them, naming the variable.
PLACEHOLDER_PREFIX = "change-me"


def _refuse_placeholders(values: dict[str, str]) -> None:
    for name, value in values.items():
        if value.startswith(PLACEHOLDER_PREFIX):
            raise ImproperlyConfigured(
                f"{name} still holds the placeholder of .env.example ({PLACEHOLDER_PREFIX}...): set a real value."
            )


_refuse_placeholders(
    {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL (its password, POSTGRES_PASSWORD with compose)": DATABASES["default"]["PASSWORD"],
        "OIDC_CLIENT_SECRET": OIDC_RP_CLIENT_SECRET,
        "VAULT_ROLE_ID (WEB_VAULT_ROLE_ID or WORKER_VAULT_ROLE_ID with compose)": VAULT_ROLE_ID,
        "VAULT_SECRET_ID": VAULT_SECRET_ID,
        "VAULT_TOKEN": VAULT_TOKEN,
        "CREDENTIAL_ENCRYPTION_KEY": CREDENTIAL_ENCRYPTION_KEY,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
)

# /readyz answers from a check at most this old, so that anonymous probes cannot hammer Vault (0: every time).
READYZ_CACHE_SECONDS = env_int("READYZ_CACHE_SECONDS", 5, minimum=0)
SWEEPER_INTERVAL_SECONDS = env_int("SWEEPER_INTERVAL_SECONDS", 2, minimum=1)
# Issue attempts (with exponential backoff) before an approved request whose issuing fails becomes `failed`.
GRANT_ISSUE_MAX_ATTEMPTS = env_int("GRANT_ISSUE_MAX_ATTEMPTS", 10, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a 401 names the Bearer scheme in WWW-Authenticate.
        "portal.accounts.bearer.EntraBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Latchkey API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI at /api/v1/docs/ from the portal's own static files, as the CSP requires.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.core.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ReviewDecisionEnum": ["keep", "remove"],
        "WhenOverdueEnum": "portal.reviews.models.WhenOverdue",
    },
}

# Limits: rate limits (calls per window: N/s, N/m, N/5m, N/h) per signed-in user, or per client
# address before sign-in; counted in Redis so that every web process shares them. Bodies above
# REQUEST_BODY_MAX_BYTES are refused with 413; API lists return at most API_PAGE_SIZE_MAX items a page.
RATE_LIMITS = {
    "sign_in": env_str("RATE_LIMIT_SIGN_IN", "60/m"),
    "request_create": env_str("RATE_LIMIT_REQUEST_CREATE", "30/m"),
    "approval": env_str("RATE_LIMIT_APPROVAL", "60/m"),
    "reveal": env_str("RATE_LIMIT_REVEAL", "10/m"),
}
RATE_LIMIT_CACHE = "ratelimit"
# The reverse proxies (networks or addresses) in front of the portal whose X-Forwarded-For is believed, for the
# client address of rate limits and the audit trail; none by default (the address of the connection counts).
TRUSTED_PROXIES = parse_networks(env_list("TRUSTED_PROXIES", []), setting="TRUSTED_PROXIES")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    RATE_LIMIT_CACHE: {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "latchkey",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("REQUEST_BODY_MAX_BYTES", 256 * 1024, minimum=1024)
API_PAGE_SIZE_MAX = env_int("API_PAGE_SIZE_MAX", 200, minimum=1)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "latchkey@localhost")

# Notifications: e-mail through the backend above; Slack and Teams incoming webhooks when set.
NOTIFY_SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL", "")
NOTIFY_TEAMS_WEBHOOK_URL = env_str("TEAMS_WEBHOOK_URL", "")
NOTIFY_TIMEOUT_SECONDS = env_int("NOTIFY_TIMEOUT_SECONDS", 10, minimum=1)
NOTIFY_ENDING_SOON_MINUTES = env_int("NOTIFY_ENDING_SOON_MINUTES", 10, minimum=1)
# Break-glass: how often beat escalates uses that nobody reviewed in time (policies live in the catalog).
BREAK_GLASS_ESCALATION_INTERVAL_SECONDS = env_int("BREAK_GLASS_ESCALATION_INTERVAL_SECONDS", 60, minimum=1)
# Slack decisions: the Slack app's signing secret (verifies interactivity requests) and bot token (Web API).
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET", "")
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN", "")
SLACK_API_BASE_URL = env_str("SLACK_API_BASE_URL", "https://slack.com/api").rstrip("/")
# Slack refuses nothing older itself: the portal refuses requests signed longer ago than this.
SLACK_SIGNATURE_MAX_AGE_SECONDS = env_int("SLACK_SIGNATURE_MAX_AGE_SECONDS", 300, minimum=1)

# Access reviews: the beat's sweep (reminders, due dates, recurring campaigns), the reminder's lead time,
# and whether campaigns read the members of eligible groups from Microsoft Graph (app permission
# GroupMember.Read.All, client credentials of OIDC_CLIENT_ID).
REVIEWS_SWEEP_INTERVAL_SECONDS = env_int("REVIEWS_SWEEP_INTERVAL_SECONDS", 60, minimum=5)
REVIEWS_REMINDER_HOURS = env_int("REVIEWS_REMINDER_HOURS", 48, minimum=1)
REVIEWS_READ_GROUP_MEMBERS = env_bool("REVIEWS_READ_GROUP_MEMBERS", False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Outside debug, static files carry a hash of their content in their name and are served by whitenoise
# with far-future cache headers; `collectstatic` runs when the image is built.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# One JSON line per event on standard error, with the request's or task's context, secrets redacted.
# Python's warnings go through logging too (the `py.warnings` logger), so that they are JSON lines as well.
logging.captureWarnings(True)
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = logging_config(
    root_level=LOG_LEVEL,
    loggers={
        # Django's default handlers would print the same events a second time, unformatted.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "py.warnings": {"handlers": [], "propagate": True},
    },
)
