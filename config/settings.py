"""Settings, read from the environment (django-environ). Every variable is listed in README.md.

Defaults are the safe production ones: DEBUG off, secure cookies, no CORS origins.
`make run` and `make test` export the variables for the embedded local stack.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF

from observability.logs import logging_config

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
    "api",
    "guardrails",
    "budgets",
]

MIDDLEWARE = [
    "observability.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "api.ratelimits.RateLimitMiddleware",
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
# Off by default: with the ORM reached through a thread hop per stage, Django checked a reused
# connection with a `SELECT 1` on every hop (about a sixth of a streaming turn's CPU under
# load). A connection that died is still dropped after the query that finds it broken.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
# Threads per web process that run the ORM for async code (gateway/db.py); each may hold a
# connection, so processes times threads must stay under Postgres's max_connections.
DATABASE_THREADS = env.int("DATABASE_THREADS", default=16)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL")

CACHES = {
    "default": {
        "BACKEND": "config.cache_backends.SharedRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sb",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    },
    # Rate-limit counters: same Redis, but an outage applies RATELIMIT_FAIL_OPEN instead of a 500.
    "ratelimit": {
        "BACKEND": "config.cache_backends.RateLimitRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sb",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}

CHANNEL_LAYERS = {
    "default": {
        # Pub/sub, not the list-based RedisChannelLayer: a group_send is one PUBLISH and each
        # process reads every message of its subscriptions from one connection. The list layer
        # popped one message per round trip per process, so at 100 streaming replies its queue
        # fell behind, messages expired and most turns never saw their last frame. Nothing is
        # lost by having no backlog: a page that reconnects catches up from the saved reply.
        "BACKEND": "config.channel_layers.ListeningPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 2}],
            "prefix": "sb:channels",
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
# If Redis cannot count: refuse (default; no unlimited password guessing) or allow. Either way
# switchboard_ratelimit_backend_errors_total counts it.
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=False)
RATELIMIT_USE_CACHE = "ratelimit"
# Password reset: as throttled as the login, per address and per email; links live an hour.
PASSWORD_RESET_RATE_LIMIT = env.str("PASSWORD_RESET_RATE_LIMIT", default="5/h")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
# Outgoing email (password resets), e.g. smtp+tls://user:password@smtp.example.com:587.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Switchboard <noreply@localhost>")
# Request rates by tier ("tier=count/period,..."); a tier missing from one uses its "default".
# Counted per user (per client address for anonymous visitors) in Redis, shared by all processes.
RATE_LIMITS_HTTP = env.dict("RATE_LIMITS_HTTP", default={"anonymous": "60/m", "default": "300/m"})
RATE_LIMITS_API = env.dict("RATE_LIMITS_API", default={"default": "60/m"})
RATE_LIMITS_CHAT = env.dict("RATE_LIMITS_CHAT", default={"default": "30/m"})
# A user's tier by group ("group=tier,..."); the first listed group they are in wins.
RATE_LIMIT_GROUP_TIERS = env.dict("RATE_LIMIT_GROUP_TIERS", default={})
# Largest request body the OpenAI-compatible API reads.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=262_144)
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
# Workers log through LOGGING below (JSON, with request ids), not Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "interrupt-stale-streams": {
        "task": "chat.tasks.interrupt_stale_streams",
        "schedule": 60.0,
    },
    # Automatic rollback of experiment variants that are clearly worse than their control.
    "check-experiments": {
        "task": "prompts_admin.tasks.check_experiments",
        "schedule": 60.0,
    },
    "rollup-usage": {"task": "observability.tasks.rollup_usage", "schedule": 600.0},
    "prune-request-logs": {"task": "observability.tasks.prune_request_logs", "schedule": 86_400.0},
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

# Knowledge base: uploads are kept outside the web root, in a folder no URL maps to.
KNOWLEDGE_FILES_DIR = env.path(
    "KNOWLEDGE_FILES_DIR",
    default=Path(env.str("DATA_DIR", default=str(BASE_DIR / ".data"))) / "knowledge",
)
KNOWLEDGE_MAX_UPLOAD_MB = env.float("KNOWLEDGE_MAX_UPLOAD_MB", default=10.0)
KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS = env.float("KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS", default=60.0)
RETRIEVAL_TIMEOUT_SECONDS = env.float("RETRIEVAL_TIMEOUT_SECONDS", default=5.0)
# Semantic cache (gateway/cache): policy per assistant in admin; see bench/cache_quality.
CACHE_ENABLED = env.bool("CACHE_ENABLED", default=True)
CACHE_SIMILARITY_THRESHOLD = env.float("CACHE_SIMILARITY_THRESHOLD", default=0.8)
CACHE_CANDIDATES = env.int("CACHE_CANDIDATES", default=5)
CACHE_LOOKUP_TIMEOUT_MS = env.int("CACHE_LOOKUP_TIMEOUT_MS", default=500)
CACHE_HNSW_EF_SEARCH = env.int("CACHE_HNSW_EF_SEARCH", default=100)
# Function calling (gateway/tools): each template's allowlist is in admin; the loop's bounds here.
TOOLS_MAX_STEPS = env.int("TOOLS_MAX_STEPS", default=5)
TOOLS_TOKEN_BUDGET = env.int("TOOLS_TOKEN_BUDGET", default=20000)
TOOLS_MAX_CORRECTIONS = env.int("TOOLS_MAX_CORRECTIONS", default=1)

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
# A streaming reply's first checkpoint comes CHAT_SAVE_INTERVAL_MS after the start; then the
# interval doubles up to CHAT_SAVE_INTERVAL_MAX_MS (gateway.pipeline.checkpoint_interval_ms).
CHAT_SAVE_INTERVAL_MS = env.int("CHAT_SAVE_INTERVAL_MS", default=500)
CHAT_SAVE_INTERVAL_MAX_MS = env.int("CHAT_SAVE_INTERVAL_MAX_MS", default=2_000)
CHAT_STALE_STREAM_SECONDS = env.int("CHAT_STALE_STREAM_SECONDS", default=120)
# Conversation titles: a cheap model's name (empty: the conversation's own model).
CHAT_TITLE_MODEL = env.str("CHAT_TITLE_MODEL", default="")
CHAT_TITLE_TIMEOUT_SECONDS = env.float("CHAT_TITLE_TIMEOUT_SECONDS", default=15.0)
# Reply text held back from the browser until the output guard has judged it (characters).
GUARDRAILS_HOLDBACK_CHARS = env.int("GUARDRAILS_HOLDBACK_CHARS", default=32)

# Spending: the global daily cap (admin can override it) and emergency mode's input limit.
GLOBAL_DAILY_BUDGET_USD = env.str("GLOBAL_DAILY_BUDGET_USD", default="") or None
EMERGENCY_MAX_INPUT_TOKENS = env.int("EMERGENCY_MAX_INPUT_TOKENS", default=2_000)
GLOBAL_SPEND_CACHE_SECONDS = env.float("GLOBAL_SPEND_CACHE_SECONDS", default=10.0)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console
# Prompt and reply text stay out of logs unless this is on; then they are redacted.
LOG_CONTENT = env.bool("LOG_CONTENT", default=False)
LOGGING = logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)

# Observability: traces, /metrics access, rollups and retention.
OTEL_TRACES_EXPORTER = env.str("OTEL_TRACES_EXPORTER", default="none")  # none | console | otlp
OTEL_EXPORTER_OTLP_ENDPOINT = env.str(
    "OTEL_EXPORTER_OTLP_ENDPOINT", default="http://localhost:4318"
)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Broker queues whose depth /metrics reports (the default queue unless tasks are routed).
METRICS_CELERY_QUEUES = env.list("METRICS_CELERY_QUEUES", default=["celery"])
ROLLUP_LOOKBACK_DAYS = env.int("ROLLUP_LOOKBACK_DAYS", default=2)
REQUEST_LOG_RETENTION_DAYS = env.int("REQUEST_LOG_RETENTION_DAYS", default=90)
