"""Settings, all from the environment (see docs/configuration.md for every key)."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

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

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", os.environ.get("MCP_ALLOWED_HOSTS", "localhost,127.0.0.1")
)
if TESTING:
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]

DATA_DIR = Path(os.environ.get("MCP_PLATFORM_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

MCP_PLATFORM_HOST = os.environ.get("MCP_PLATFORM_HOST", "127.0.0.1")
MCP_PLATFORM_WEB_PORT = env_int("MCP_PLATFORM_WEB_PORT", 8000)
MCP_PLATFORM_TRIO_PORT = env_int("MCP_PLATFORM_TRIO_PORT", 8001)
MCP_PLATFORM_P2P_LISTEN = os.environ.get("MCP_PLATFORM_P2P_LISTEN", "/ip4/0.0.0.0/tcp/4001")
MCP_PLATFORM_ADMIN_USER = os.environ.get("MCP_PLATFORM_ADMIN_USER", "admin")
MCP_PLATFORM_ADMIN_PASSWORD = os.environ.get("MCP_PLATFORM_ADMIN_PASSWORD", "")
MCP_PLATFORM_TOOL_MODULES = env_list("MCP_PLATFORM_TOOL_MODULES")
MCP_PLATFORM_LEGACY_TOOL_MODULES = env_list("MCP_PLATFORM_LEGACY_TOOL_MODULES")
# Scopes granted to callers without a token; empty keeps everything but health closed.
MCP_PLATFORM_ANONYMOUS_SCOPES = env_list("MCP_PLATFORM_ANONYMOUS_SCOPES")
MCP_PLATFORM_MAX_BODY_BYTES = env_int("MCPPP_MAX_BODY_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MCP_PLATFORM_MAX_BODY_BYTES
MCP_PLATFORM_JWT_TTL_SECONDS = env_int("MCP_PLATFORM_JWT_TTL_SECONDS", 3600)
# Seconds between background writes of the call log; 0 writes only on explicit flush.
MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS = float(
    os.environ.get("MCP_PLATFORM_CALL_LOG_FLUSH_SECONDS", "0" if TESTING else "0.5")
)
MCP_CORS_ORIGINS = env_list("MCP_CORS_ORIGINS")
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
MCP_PLATFORM_RUNTIME_STALE_SECONDS = float(
    os.environ.get("MCP_PLATFORM_RUNTIME_STALE_SECONDS", "30")
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "mcp_platform",
    "apps.access",
    "apps.tools",
    "apps.routing",
    "apps.peers",
    "apps.migration",
    "apps.jobs",
    "apps.taskqueue",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.migration.middleware.ApiVersionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
)
MCP_PLATFORM_API_MIDDLEWARE = [
    "mcp_platform.middleware.ApiResponseMiddleware",
    "apps.migration.middleware.ApiVersionMiddleware",
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

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

LOGIN_URL = "/admin/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "multiaddr": {"level": "WARNING"},
        "libp2p": {"level": "WARNING"},
        # One INFO line per request would be one per bridged call.
        "httpx": {"level": "WARNING"},
    },
}
