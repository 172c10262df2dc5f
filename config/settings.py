"""Settings, read from the environment (django-environ). Every variable is listed in README.md.

Defaults are the safe production ones: DEBUG off, secure cookies, no CORS origins.
`make run` and `make test` export the variables for the embedded local stack.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Third party
    "channels",
    "corsheaders",
    "django_htmx",
    # Local
    "gateway",
    "prompts_admin",
    "knowledge",
    "chat",
    "observability",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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

DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sb",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # A dead Redis must fail fast. Reads block by design (BZPOPMIN, 5 s), so the read
            # timeout must be longer: redis-py 8's default of 5 s cuts every idle receive.
            "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 2, "socket_timeout": 15}],
            "prefix": "sb:channels",
            # Streams are batched into few frames a second; this is headroom, not the design.
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Admin off the well-known /admin/ path, where scanners knock first.
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"
LOGIN_URL = "login"
# Failed and successful attempts both count, per client address and per username.
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="10/m")
# If Redis cannot count, refuse rather than allow unlimited password guessing.
RATELIMIT_FAIL_OPEN = False
LOGIN_REDIRECT_URL = "chat:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Security: on unless the environment turns it off (plain-http local runs set SECURE_COOKIES=false).
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=True)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is a commitment browsers ship for months: an operator's decision, not a default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# No inline scripts or styles anywhere (htmx's injected styles and eval are off in base.html),
# so model output that slipped past sanitising still could not run.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Celery: Redis is the broker; results are not needed by the app.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE = {
    "interrupt-stale-streams": {
        "task": "chat.tasks.interrupt_stale_streams",
        "schedule": 60.0,
    },
    "evict-cache-entries": {
        "task": "gateway.cache.tasks.evict_cache_entries",
        "schedule": 300.0,
    },
}

# Model providers. With no key set, both SDKs talk to the provider simulator.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
SIMULATOR_URL = env.str("SIMULATOR_URL", default="http://127.0.0.1:8100")

# Embeddings for the semantic cache and the knowledge base: "wordllama" (offline) or "openai".
EMBEDDER = env.str("EMBEDDER", default="wordllama")
EMBEDDING_TIMEOUT_SECONDS = env.float("EMBEDDING_TIMEOUT_SECONDS", default=10.0)

# Semantic cache (gateway/cache): policy per assistant in admin; see bench/cache_quality.
CACHE_ENABLED = env.bool("CACHE_ENABLED", default=True)
CACHE_SIMILARITY_THRESHOLD = env.float("CACHE_SIMILARITY_THRESHOLD", default=0.8)
CACHE_CANDIDATES = env.int("CACHE_CANDIDATES", default=5)
CACHE_LOOKUP_TIMEOUT_MS = env.int("CACHE_LOOKUP_TIMEOUT_MS", default=500)
CACHE_HNSW_EF_SEARCH = env.int("CACHE_HNSW_EF_SEARCH", default=100)

# The router (timeouts are per template, in admin). Backoff: base * 2^retry, +- jitter.
ROUTER_MAX_RETRIES = env.int("ROUTER_MAX_RETRIES", default=3)
ROUTER_BACKOFF_BASE_SECONDS = env.float("ROUTER_BACKOFF_BASE_SECONDS", default=1.0)
ROUTER_BACKOFF_JITTER = env.float("ROUTER_BACKOFF_JITTER", default=0.5)
ROUTER_MAX_RETRY_WAIT_SECONDS = env.float("ROUTER_MAX_RETRY_WAIT_SECONDS", default=20.0)
BREAKER_FAILURE_THRESHOLD = env.int("BREAKER_FAILURE_THRESHOLD", default=5)
BREAKER_COOLDOWN_SECONDS = env.float("BREAKER_COOLDOWN_SECONDS", default=30.0)

# Chat limits and streaming.
CHAT_MAX_INPUT_CHARS = env.int("CHAT_MAX_INPUT_CHARS", default=16_000)
CHAT_HISTORY_MESSAGES = env.int("CHAT_HISTORY_MESSAGES", default=20)
CHAT_STREAM_WINDOW_MS = env.int("CHAT_STREAM_WINDOW_MS", default=30)
CHAT_SAVE_INTERVAL_MS = env.int("CHAT_SAVE_INTERVAL_MS", default=500)
CHAT_STALE_STREAM_SECONDS = env.int("CHAT_STALE_STREAM_SECONDS", default=120)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
