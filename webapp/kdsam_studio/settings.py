"""Django settings: a translation of :class:`StudioConfig` into Django's names. Edit config.py, not this."""

from __future__ import annotations

import dj_database_url

from webapp.kdsam_studio import queues
from webapp.kdsam_studio.config import REPO_ROOT, StudioConfig, redis_channel_layer

STUDIO = StudioConfig.from_env()
STUDIO.data_dir.mkdir(parents=True, exist_ok=True)

BASE_DIR = REPO_ROOT
SECRET_KEY = STUDIO.secret_key
DEBUG = STUDIO.debug
ALLOWED_HOSTS = list(STUDIO.allowed_hosts)
CSRF_TRUSTED_ORIGINS = list(STUDIO.csrf_trusted_origins)

# No "daphne" app: the web server is uvicorn (web_server.py, started by webapp.run); `manage.py runserver` is
# Django's plain development server, without websockets.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "webapp.accounts",
    "webapp.registry",
    "webapp.segmentation",
    "webapp.datasets",
    "webapp.jobs",
]

MIDDLEWARE = [
    "webapp.kdsam_studio.middleware.CrossOriginIsolationMiddleware",
    "webapp.kdsam_studio.middleware.SecurityHeadersMiddleware",  # CSP; Cache-Control default: private, no-store
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "webapp.kdsam_studio.query_text.RefuseNulInQueryMiddleware",  # 400, not a database error
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.kdsam_studio.urls"
ASGI_APPLICATION = "webapp.kdsam_studio.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [REPO_ROOT / "webapp" / "templates"],
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

# --- database -------------------------------------------------------------------------------
_database_url = STUDIO.database_url or f"sqlite:///{STUDIO.data_dir / 'kdsam.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker write concurrently: WAL + immediate transactions + a generous busy timeout.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(STUDIO.data_dir / "test-kdsam.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: broker and channel layer --------------------------------------------------------
REDIS_URL = STUDIO.redis_url  # webapp.run sets it for its processes to the embedded Redis it starts
if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    CELERY_BROKER_URL = REDIS_URL
elif STUDIO.uses_embedded_redis:
    # Other processes (manage.py, a worker started by hand): the data dir's embedded Redis, started on the
    # first broker connection, never at import; the channel layer uses it if it runs, else is in memory.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "webapp.kdsam_studio.embedded_redis.channel_layer",
            "CONFIG": {"data_dir": str(STUDIO.data_dir)},
        }
    }
    CELERY_BROKER_URL = "redis://127.0.0.1/0"  # the port is the embedded server's, found when connecting
    CELERY_BROKER_TRANSPORT = "webapp.kdsam_studio.embedded_redis:BrokerTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"embedded_redis_data_dir": str(STUDIO.data_dir)}
else:  # unit tests: eager Celery and an in-memory channel layer
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
# Unit tests run tasks inline even against a real Redis; the e2e tests run a real worker.
CELERY_TASK_ALWAYS_EAGER = STUDIO.celery_eager or STUDIO.environment == "test"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every task's queue comes from the one routing table (a job's from its kind).
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT_QUEUE
CELERY_TASK_ROUTES = (queues.route_task,)
# Each worker runs the stuck-task sweep and the heartbeat of running tasks (webapp/kdsam_studio/stuck_tasks.py)
CELERY_IMPORTS = ("webapp.kdsam_studio.stuck_tasks",)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- files ----------------------------------------------------------------------------------
MEDIA_ROOT = STUDIO.data_dir / "media"
MEDIA_URL = "/media/"  # never served directly: every file goes through an access-checked view
STATIC_URL = "/static/"
STATIC_ROOT = STUDIO.data_dir / "static"
FRONTEND_DIST = REPO_ROOT / "frontend" / "dist"
STATICFILES_DIRS = [("app", FRONTEND_DIST)] if FRONTEND_DIST.is_dir() else []
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_MIMETYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".onnx": "application/octet-stream"}
# Request bodies: the ASGI layer refuses one over KDSAM_MAX_REQUEST_MB (body_limit.py); Django's ASGI handler spools
# the rest to a temporary file past FILE_UPLOAD_MAX_MEMORY_SIZE, and multipart file parts past it go to temporary files.
DATA_UPLOAD_MAX_MEMORY_SIZE = STUDIO.max_upload_mb * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- auth, API ------------------------------------------------------------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Sessions end KDSAM_SESSION_HOURS after sign-in (server side) and, by default, when the browser closes
SESSION_COOKIE_AGE = STUDIO.session_hours * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = STUDIO.session_expire_at_browser_close
# The throttle first: it refuses every sign-in of a username or address locked by failed ones (accounts/throttling.py)
AUTHENTICATION_BACKENDS = [
    "webapp.accounts.throttling.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that limits nesting (a deep document is a 400, not a RecursionError)
    "DEFAULT_PARSER_CLASSES": [
        "webapp.kdsam_studio.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.kdsam_studio.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KD-SAM Studio API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"DatasetStateEnum": "webapp.datasets.models.Dataset.State"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- production hardening (python manage.py check --deploy passes with KDSAM_ENV=production) ---
if STUDIO.production:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REFERRER_POLICY = "same-origin"
