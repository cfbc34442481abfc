"""Settings, all from the environment (see docs/configuration.md for every key)."""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mcp_platform import file_modes

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


DEBUG = env_bool("DEBUG")
TESTING = env_bool("MCP_PLATFORM_TESTING")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (it signs sessions and JWTs); "
            "only DEBUG=1 runs without one."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug-0123456789"
elif (len(SECRET_KEY) < 32 or SECRET_KEY.startswith("django-insecure")) and not DEBUG:
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 32 random characters.")

# Serving over HTTPS (docs/deployment.md): MCP_PLATFORM_HTTPS=1 turns on the secure defaults
# below (HTTPS redirect, HSTS, secure cookies); each can also be set on its own. Off for
# `make run` on plain HTTP.
MCP_PLATFORM_HTTPS = env_bool("MCP_PLATFORM_HTTPS")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", MCP_PLATFORM_HTTPS)
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health(/|$)", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if MCP_PLATFORM_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", MCP_PLATFORM_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", MCP_PLATFORM_HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", MCP_PLATFORM_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", MCP_PLATFORM_HTTPS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Behind a TLS-terminating proxy: the header it sets, e.g. `X-Forwarded-Proto` (its value
# `https` marks a secure request). Set it only when the proxy always sets or strips it.
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https") if _proxy_header else None
)

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", os.environ.get("MCP_ALLOWED_HOSTS", "localhost,127.0.0.1")
)
if TESTING:
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]

DATA_DIR = Path(os.environ.get("MCP_PLATFORM_DATA_DIR", BASE_DIR / "var")).resolve()
# Files the platform writes are 0600, directories 0700; the start-up check (a system check)
# refuses a data directory or secret file other users can read.
file_modes.make_private()
file_modes.ensure_data_dir(DATA_DIR)

MCP_PLATFORM_HOST = os.environ.get("MCP_PLATFORM_HOST", "127.0.0.1")
MCP_PLATFORM_WEB_PORT = env_int("MCP_PLATFORM_WEB_PORT", 8000)
# Web worker processes `runplatform` starts: every core by default, capped because each worker
# holds its own caches, database connections and watchers (past 8 the memory outgrows the gain).
MCP_PLATFORM_WEB_WORKERS = max(1, env_int("MCP_PLATFORM_WEB_WORKERS", min(os.cpu_count() or 1, 8)))
MCP_PLATFORM_TRIO_PORT = env_int("MCP_PLATFORM_TRIO_PORT", 8001)
# The runtime also serves the bridge on a Unix socket in the data directory (`trio-<port>.sock`),
# which the web processes sharing that directory use instead of HTTP (apps/routing/bridge_wire.py).
MCP_PLATFORM_BRIDGE_SOCKET = env_bool("MCP_PLATFORM_BRIDGE_SOCKET", True)
# Loopback unless opened: a laptop running `make run` is not a node others can dial.
MCP_PLATFORM_P2P_LISTEN = os.environ.get("MCP_PLATFORM_P2P_LISTEN", "/ip4/127.0.0.1/tcp/4001")
MCP_PLATFORM_ADMIN_USER = os.environ.get("MCP_PLATFORM_ADMIN_USER", "admin")
MCP_PLATFORM_ADMIN_PASSWORD = os.environ.get("MCP_PLATFORM_ADMIN_PASSWORD", "")
MCP_PLATFORM_TOOL_MODULES = env_list("MCP_PLATFORM_TOOL_MODULES")
MCP_PLATFORM_LEGACY_TOOL_MODULES = env_list("MCP_PLATFORM_LEGACY_TOOL_MODULES")
# Scopes granted to callers without a token; empty keeps everything but health closed.
MCP_PLATFORM_ANONYMOUS_SCOPES = env_list("MCP_PLATFORM_ANONYMOUS_SCOPES")
MCP_PLATFORM_MAX_BODY_BYTES = env_int("MCPPP_MAX_BODY_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MCP_PLATFORM_MAX_BODY_BYTES
MCP_PLATFORM_JWT_TTL_SECONDS = env_int("MCP_PLATFORM_JWT_TTL_SECONDS", 3600)
# A refresh token lives this long and is used once; a login's refresh chain ends after
# MCP_PLATFORM_JWT_SESSION_SECONDS whatever the refreshes (then log in again).
MCP_PLATFORM_JWT_REFRESH_TTL_SECONDS = env_int("MCP_PLATFORM_JWT_REFRESH_TTL_SECONDS", 86400)
MCP_PLATFORM_JWT_SESSION_SECONDS = env_int("MCP_PLATFORM_JWT_SESSION_SECONDS", 7 * 86400)
# Seconds between background writes of the call log; 0 writes only on explicit flush.
MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS = float(
    os.environ.get("MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS", "0" if TESTING else "0.5")
)
MCP_CORS_ORIGINS = env_list("MCP_CORS_ORIGINS")
# 2025-era MCP sessions (docs/mcp.md): open ones per caller, in all, and how long an idle one
# lives; one caller's sessions never use up everyone's.
MCP_PLATFORM_MCP_SESSIONS_PER_CALLER = env_int("MCP_PLATFORM_MCP_SESSIONS_PER_CALLER", 20)
MCP_PLATFORM_MCP_MAX_SESSIONS = env_int("MCP_PLATFORM_MCP_MAX_SESSIONS", 1000)
MCP_PLATFORM_MCP_SESSION_IDLE_SECONDS = env_int("MCP_PLATFORM_MCP_SESSION_IDLE_SECONDS", 300)
# Resumable SSE streams of the sessions a process holds (apps.tools.mcp_events): the `retry`
# a client is told to wait before reconnecting, and the bounds of the events kept for it.
MCP_PLATFORM_MCP_SSE_RETRY_MS = env_int("MCP_PLATFORM_MCP_SSE_RETRY_MS", 1000)
MCP_PLATFORM_MCP_EVENTS_PER_STREAM = env_int("MCP_PLATFORM_MCP_EVENTS_PER_STREAM", 1000)
MCP_PLATFORM_MCP_EVENTS_MAX_AGE_SECONDS = env_int("MCP_PLATFORM_MCP_EVENTS_MAX_AGE_SECONDS", 300)
MCP_PLATFORM_MCP_EVENTS_MAX_BYTES = env_int("MCP_PLATFORM_MCP_EVENTS_MAX_BYTES", 32 * 1024 * 1024)

# CORS of the REST surface (django-cors-headers), from the same MCP_CORS_ORIGINS as /mcp. The
# Django admin and static files stay same-origin. Bearer tokens travel in a header, so browsers
# never send cookies cross-origin (no credentials mode): the admin session is not exposed.
CORS_ALLOW_ALL_ORIGINS = "*" in MCP_CORS_ORIGINS
CORS_ALLOWED_ORIGINS = [origin for origin in MCP_CORS_ORIGINS if origin != "*"]
CORS_URLS_REGEX = r"^/(?!admin/|static/).*$"
CORS_ALLOW_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-requested-with",
    "x-request-id",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
)
CORS_EXPOSE_HEADERS = ("www-authenticate", "retry-after", "deprecation", "link", "api-version")
CORS_PREFLIGHT_MAX_AGE = 600
# Seconds between reads of the cache versions (routing, access) in each serving process: how
# soon a change made in another process (revoked token, disabled tool) is seen here.
MCP_PLATFORM_VERSION_POLL_SECONDS = float(
    os.environ.get("MCP_PLATFORM_VERSION_POLL_SECONDS", "0.25")
)

REDIS_URL = os.environ.get("REDIS_URL", "")

# Jobs on Celery (docs/configuration.md): the broker is Redis with REDIS_URL, else files here.
MCP_PLATFORM_BROKER_DIR = Path(os.environ.get("MCP_PLATFORM_BROKER_DIR", DATA_DIR / "broker"))
MCP_PLATFORM_WORKER_CONCURRENCY = env_int(
    "MCP_PLATFORM_WORKER_CONCURRENCY", min(os.cpu_count() or 1, 4)
)
MCP_PLATFORM_JOB_LEASE_SECONDS = float(os.environ.get("MCP_PLATFORM_JOB_LEASE_SECONDS", "10"))
MCP_PLATFORM_JOB_REAP_SECONDS = float(os.environ.get("MCP_PLATFORM_JOB_REAP_SECONDS", "2"))
MCP_PLATFORM_MAINTENANCE_SECONDS = float(os.environ.get("MCP_PLATFORM_MAINTENANCE_SECONDS", "3600"))
MCP_PLATFORM_CALL_RETENTION_DAYS = env_int("MCP_PLATFORM_CALL_RETENTION_DAYS", 30)
MCP_PLATFORM_JOB_RETENTION_DAYS = env_int("MCP_PLATFORM_JOB_RETENTION_DAYS", 30)
# Audit events older than this are pruned (a checkpoint keeps the chain verifiable); 0 keeps all.
MCP_PLATFORM_AUDIT_RETENTION_DAYS = env_int("MCP_PLATFORM_AUDIT_RETENTION_DAYS", 365)
# Threads for sync tools, per process (apart from the ORM's): a stuck tool holds one.
MCP_PLATFORM_SYNC_TOOL_THREADS = env_int("MCP_PLATFORM_SYNC_TOOL_THREADS", 16)
# A task-queue worker silent this long is gone: its tasks are reclaimed without waiting out
# their leases (workers beat every 2 s).
MCP_PLATFORM_TASKQUEUE_WORKER_STALE_SECONDS = float(
    os.environ.get("MCP_PLATFORM_TASKQUEUE_WORKER_STALE_SECONDS", "10")
)
MCP_PLATFORM_RUNTIME_STALE_SECONDS = float(
    os.environ.get("MCP_PLATFORM_RUNTIME_STALE_SECONDS", "30")
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "ninja",
    "mcp_platform",
    "apps.access",
    "apps.tools",
    "apps.toolsets",
    "apps.routing",
    "apps.peers",
    "apps.migration",
    "apps.jobs",
    "apps.taskqueue",
    "axes",
    "apps.audit",
    "apps.ratelimits",
    "oauth2_provider",
    "apps.oauth",
]
# Daphne adds one thing, its ASGI `runserver` (development), and importing it loads Twisted and
# pyOpenSSL: about 15 MB of every process. So it is installed only for that command.
if sys.argv[1:2] == ["runserver"]:
    INSTALLED_APPS.insert(0, "daphne")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # First after security: preflights are answered here, before any auth or CSRF check.
    "corsheaders.middleware.CorsMiddleware",
    "mcp_platform.legacy_metrics.LegacyRequestMetricsMiddleware",
    "apps.migration.middleware.ApiVersionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login lockout (django-axes) into the 429 reply.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (apps/access/throttle.py): its axes backend refuses a locked-out
# username or address before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "apps.access.throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("MCP_PLATFORM_LOGIN_FAILURE_LIMIT", 5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = "apps.access.throttle.cool_off"
AXES_LOCKOUT_CALLABLE = "apps.access.throttle.lockout_response"
AXES_RESET_ON_SUCCESS = True
MCP_PLATFORM_LOGIN_COOLOFF_SECONDS = env_int("MCP_PLATFORM_LOGIN_COOLOFF_SECONDS", 60)
MCP_PLATFORM_LOGIN_COOLOFF_MAX_SECONDS = env_int("MCP_PLATFORM_LOGIN_COOLOFF_MAX_SECONDS", 3600)
# The API paths (REST legacy paths, /api/v2; /mcp is served beside Django) skip sessions, CSRF,
# messages and Django's auth: they authenticate bearer tokens, and this list is async-native,
# so an async view never leaves the event loop. The admin and status pages keep MIDDLEWARE.
MCP_PLATFORM_API_PATH_PREFIXES = (
    "/api/v2/",
    "/tools/",
    "/mcp/",
    "/auth/",
    "/health",
    "/metrics",
    "/openapi.json",
    # The legacy operator routes (docs/api.md): bearer tokens too.
    "/admin/stats",
    "/admin/health",
    "/workflows/",
    "/audit/",
    "/cache/",
)
# Async-native all: CORS answers preflights before any auth; the legacy request metrics and
# the audit trail's actor see every API request; axes turns a login lockout into the 429.
MCP_PLATFORM_API_MIDDLEWARE = [
    # First: the request's span, in the caller's trace (W3C traceparent); a no-op when off.
    "mcp_platform.tracing.TraceContextMiddleware",
    "mcp_platform.middleware.ApiResponseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "mcp_platform.legacy_metrics.LegacyRequestMetricsMiddleware",
    "apps.migration.middleware.ApiVersionMiddleware",
    "apps.audit.middleware.AuditActorMiddleware",
    "axes.middleware.AxesMiddleware",
]
# Long-lived threads of the web process for blocking work (ORM): each keeps its connection.
MCP_PLATFORM_DB_THREADS = env_int("MCP_PLATFORM_DB_THREADS", 4)

ROOT_URLCONF = "mcp_platform.urls"

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

ASGI_APPLICATION = "mcp_platform.asgi.application"

# Two processes share an SQLite file: WAL lets readers run beside the writer, the busy timeout
# and IMMEDIATE transactions make writers queue instead of failing.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
}
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Connections are kept open between uses (the web process's DB threads, the Trio runtime's
# threads, workers) and checked before reuse; MCP_PLATFORM_DB_POOL=1 uses psycopg's pool on
# PostgreSQL instead (for processes that do not fork after connecting: not Celery's prefork).
CONN_MAX_AGE = env_int("MCP_PLATFORM_DB_CONN_MAX_AGE", 600)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
    )
    if DATABASE_URL
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
    }
}
if "postgresql" in DATABASES["default"]["ENGINE"] and env_bool("MCP_PLATFORM_DB_POOL"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections instead
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": MCP_PLATFORM_DB_THREADS + 4,
        "timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
    # Tests use a file, not memory, so the processes they start share the database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Messages live in the server-side session, not in a (signed, readable) cookie: a new API
# token's secret is shown through one.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

LOGIN_URL = "/admin/login/"

# The platform as an OAuth 2.1 authorization server for MCP clients (apps/oauth): what
# django-oauth-toolkit may do. Only the authorization code with PKCE S256, tokens bound to the
# resource they were asked for (RFC 8707), open dynamic registration and client ID metadata
# documents (what Claude's connectors use), rotating refresh tokens, secrets hashed at rest.
# The authorization server's URL as clients see it (behind a proxy, or when the Trio runtime's
# /mcp must name it); empty: taken from each request (and host:web port for the Trio runtime).
MCP_PLATFORM_OAUTH_ISSUER = os.environ.get("MCP_PLATFORM_OAUTH_ISSUER", "").rstrip("/")
MCP_PLATFORM_OAUTH_ACCESS_TOKEN_SECONDS = env_int("MCP_PLATFORM_OAUTH_ACCESS_TOKEN_SECONDS", 3600)
MCP_PLATFORM_OAUTH_REFRESH_TOKEN_SECONDS = env_int(
    "MCP_PLATFORM_OAUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600
)
# RFC 8252 native clients (Claude Code, mcp-remote, the Inspector) take their OAuth callback on
# http://127.0.0.1 or localhost: `http` stays an allowed redirect scheme, and registration
# refuses plaintext redirect URIs off the loopback interface (apps.oauth.views), which is what
# the toolkit's W008 asks for.
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.W008"]
# The toolkit's default, named so other apps' migrations can refer to it (toolsets bind clients).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "SCOPES": {
        "tools:read": "See the tools you may use",
        "tools:call": "Call tools on your behalf",
    },
    "DEFAULT_SCOPES": ["tools:read", "tools:call"],
    "ACCESS_TOKEN_GENERATOR": "apps.oauth.tokens.new_access_token",
    "REFRESH_TOKEN_GENERATOR": "apps.oauth.tokens.new_refresh_token",
    "ACCESS_TOKEN_EXPIRE_SECONDS": MCP_PLATFORM_OAUTH_ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": MCP_PLATFORM_OAUTH_REFRESH_TOKEN_SECONDS,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # http redirect URIs stay allowed for native clients' loopback callbacks (Claude Code,
    # mcp-remote, the Inspector); registration refuses remote ones (apps.oauth.views).
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "none",
        "client_secret_basic",
        "client_secret_post",
    ],
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": True,
    "OAUTH2_PROTECTED_RESOURCE_NAME": "MCP Platform",
    "OIDC_ISS_ENDPOINT": MCP_PLATFORM_OAUTH_ISSUER,  # the issuer override, OIDC or not
    "APPLICATION_ADMIN_CLASS": "apps.oauth.admin.ApplicationAdmin",
    "ACCESS_TOKEN_ADMIN_CLASS": "apps.oauth.admin.AccessTokenAdmin",
    "REFRESH_TOKEN_ADMIN_CLASS": "apps.oauth.admin.RefreshTokenAdmin",
    "GRANT_ADMIN_CLASS": "apps.oauth.admin.GrantAdmin",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "multiaddr": {"level": "WARNING"},
        "libp2p": {"level": "WARNING"},
        # One INFO line per request (every bridged call): only warnings, unless asked for.
        "httpx": {"level": os.environ.get("HTTPX_LOG_LEVEL", "WARNING")},
    },
}
