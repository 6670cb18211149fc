"""Settings for the evaluation server: the only place configuration is read.

With no environment set this is the embedded default: SQLite and uploads under the
data folder, Celery tasks run inside the web process. Production differs only by
the environment variables listed in CONTRACT section 4 and the README.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

from evalserver.env import (
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_path,
    env_redis_url,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = env_path("EVALSERVER_DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", default=True)

_DEV_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "evalserver.accounts",
    "evalserver.challenges",
    "evalserver.teams",
    "submissions",
    "leaderboard",
    "evalserver.web",
    "evalserver.ops",
    # The organizer console (issue 15): pages and API, label fixes with a rank diff, and
    # announcements shown on the challenge page and mailed to participants.
    "evalserver.console",
    "evalserver.announcements",
    # The admin's lists a crowd grows, their rows without Django's per-cell machinery.
    "evalserver.adminlists",
]

MIDDLEWARE = [
    # First: every later line of the request's log carries its id (evalserver.ops).
    "evalserver.ops.middleware.RequestIdMiddleware",
    # Request counts and latency by view for /metrics (django-prometheus), around the rest.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads a request body (the CSRF check does): oversized ones get 413.
    "evalserver.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A strict Content-Security-Policy (default-src 'self') on every page.
    "evalserver.web.middleware.ContentSecurityPolicyMiddleware",
    # Without a broker: starts the sweeper thread with the first request (no celery beat).
    "evalserver.middleware.InProcessSweeperMiddleware",
    # Last, as django-axes asks: it reacts to the authentication signals of the stack above.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "evalserver.urls"
WSGI_APPLICATION = "evalserver.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "evalserver" / "templates"],
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

# --- Database -----------------------------------------------------------------------------

_database_url = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "pgsql", "sqlite"))
if _database_url is None:
    # The embedded default keeps everything in the data folder, made on first start.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Uploads and the in-process worker write at the same time; wait instead of failing.
            "OPTIONS": {"timeout": 20},
        }
    }
else:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                _database_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
            )
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Fault tolerance (issue 11): a persistent connection is checked before a request reuses it,
# so the first request after a PostgreSQL restart reconnects instead of failing with a 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # django-axes' lockouts plus our address and account limits (accounts.login_protection).
    "evalserver.accounts.login_protection.LoginProtectionBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Time and language --------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files --------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves the static files in every mode. Production (DEBUG off) serves what
# `collectstatic` put in STATIC_ROOT (the migrate job). In development it reads the apps'
# static folders directly, as runserver would, so STATIC_ROOT need not exist. Fixed here
# rather than left to WhiteNoise's DEBUG-based default, which the test runner turns off
# after settings load, making every test warn about a missing STATIC_ROOT.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads and hidden labels live under the data folder and are never given a URL: files
# reach people only through views that check who is asking.
UPLOAD_ROOT = DATA_DIR / "uploads"
LABELS_ROOT = DATA_DIR / "labels"

_s3_bucket = env_str("EVALSERVER_S3_BUCKET")
if _s3_bucket:
    _s3_options = {
        "bucket_name": _s3_bucket,
        "endpoint_url": env_str("EVALSERVER_S3_ENDPOINT_URL"),
        "access_key": env_str("EVALSERVER_S3_ACCESS_KEY"),
        "secret_key": env_str("EVALSERVER_S3_SECRET_KEY"),
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
        # Presigned links (EVALSERVER_S3_URL_EXPIRY) in the current signature scheme: AWS
        # refuses the old one in newer regions, and its links carry their expiry plainly.
        "signature_version": "s3v4",
    }
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_options, "location": "uploads"},
    }
    _labels_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_options, "location": "labels"},
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(UPLOAD_ROOT), "base_url": None},
    }
    _labels_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(LABELS_ROOT), "base_url": None},
    }

# Seconds a presigned link to a team's own file stays valid; 0 streams the file through
# the web process instead (the only way with local files). S3 only.
EVALSERVER_S3_URL_EXPIRY = env_int("EVALSERVER_S3_URL_EXPIRY", 0, minimum=0)

STORAGES = {
    "default": _default_storage,
    "labels": _labels_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# The web process refuses larger request bodies before a view sees them; phases have their
# own (smaller) cap that the submission service enforces with a clear message.
EVALSERVER_MAX_UPLOAD_BYTES = env_int(
    "EVALSERVER_MAX_UPLOAD_BYTES", 512 * 1024 * 1024, minimum=1024
)
# RequestBodyLimitMiddleware checks the declared length; this handler counts the bytes.
FILE_UPLOAD_HANDLERS = [
    "evalserver.middleware.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# The largest detection CSV a worker scores, counted after decompression (a .gz or .zip
# upload within the phase's upload cap can hold far more). The scorer keeps ~215 bytes of
# arrays per ~50-byte row, so this is what sizes the workers' memory: 512 MiB of CSV is
# about 10 million boxes and a peak near 2.7 GB (benchmarks/bench_detection.py: 3 million
# rows, 133 MiB, peak RSS 743 MiB).
EVALSERVER_DETECTION_MAX_BYTES = env_int(
    "EVALSERVER_DETECTION_MAX_BYTES", 512 * 1024 * 1024, minimum=1024 * 1024
)

# --- Celery -------------------------------------------------------------------------------

CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", schemes=("redis", "rediss", "amqp", "amqps", "memory")
)
# Without a broker, tasks run inside the web process (see submissions.queue): the embedded
# default needs no Redis and no separate worker.
EVALSERVER_INPROCESS_TASKS = CELERY_BROKER_URL is None
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# A worker may die at any line: the message is acknowledged only after the task returns,
# and goes back to the queue when the worker process is lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
EVALSERVER_SCORING_SOFT_TIME_LIMIT = env_int("EVALSERVER_SCORING_SOFT_TIME_LIMIT", 300, minimum=1)
EVALSERVER_SCORING_TIME_LIMIT = env_int("EVALSERVER_SCORING_TIME_LIMIT", 360, minimum=2)
if EVALSERVER_SCORING_TIME_LIMIT <= EVALSERVER_SCORING_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "EVALSERVER_SCORING_TIME_LIMIT must be greater than EVALSERVER_SCORING_SOFT_TIME_LIMIT"
    )
# Redis redelivers an unacknowledged message after this long; it must outlast the hard limit
# or a slow but healthy task would be handed to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": EVALSERVER_SCORING_TIME_LIMIT + 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How often a submission may be handed to a worker before it is failed as a crasher.
EVALSERVER_MAX_SCORING_ATTEMPTS = env_int("EVALSERVER_MAX_SCORING_ATTEMPTS", 3, minimum=1)
# Seconds between sweeps (celery beat, or a thread of the web process without a broker):
# re-queues stranded submissions and ends those no worker will finish
# (submissions.services.submissions_sweep).
EVALSERVER_SWEEP_INTERVAL = env_int("EVALSERVER_SWEEP_INTERVAL", 60, minimum=1)
# Fault tolerance (issue 11): celery beat runs each sweep itself, against the database, so
# sweeps never wait behind a backlog of scoring tasks nor depend on a live worker.
CELERY_BEAT_SCHEDULER = "evalserver.celery:SweepingScheduler"
# Threads that score in the web process when there is no broker.
EVALSERVER_INPROCESS_WORKERS = env_int("EVALSERVER_INPROCESS_WORKERS", 2, minimum=1)
# Tests only: score inside the on-commit hook instead of a background thread.
EVALSERVER_INPROCESS_SYNC = False
# Without a broker, the web process sweeps every EVALSERVER_SWEEP_INTERVAL seconds in a
# thread of its own (submissions.queue); the tests turn it off and start it themselves.
EVALSERVER_INPROCESS_SWEEP = True
# Test hook, never set in production: the scorer sleeps this long before scoring, so the
# pipeline tests can kill a worker in the middle of a task.
EVALSERVER_TEST_SCORING_DELAY_MS = env_int("EVALSERVER_TEST_SCORING_DELAY_MS", 0, minimum=0)

# --- Reverse proxies -----------------------------------------------------------------------

# How many reverse proxies (load balancer, TLS terminator) stand between clients and
# gunicorn: the throttles and login lockouts then take the client's address from
# X-Forwarded-For (evalserver.proxies). 0: REMOTE_ADDR, the header is ignored.
EVALSERVER_TRUSTED_PROXIES = env_int("EVALSERVER_TRUSTED_PROXIES", 0, minimum=0)

# --- REST framework -----------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, with the token and its user read in one plain query.
        "evalserver.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # ?page= must be a page number (evalserver.pagination), as the schema states.
    "DEFAULT_PAGINATION_CLASS": "evalserver.pagination.PageNumberOnlyPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "evalserver.api.exception_handler",
    # Throttles count per client address: X-Forwarded-For is read only as far as our own
    # proxies wrote it (DRF's default, None, believes whatever the client sends).
    "NUM_PROXIES": EVALSERVER_TRUSTED_PROXIES,
    # DRF's, counted in one Redis round trip when the cache is Redis (evalserver.throttling).
    "DEFAULT_THROTTLE_CLASSES": [
        "evalserver.throttling.AnonRateThrottle",
        "evalserver.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("EVALSERVER_THROTTLE_ANON", "120/min"),
        "user": env_str("EVALSERVER_THROTTLE_USER", "600/min"),
        # Sign-ups per address, and uploads per user: protect the server, apart from the
        # per-team submission quotas that the pipeline enforces in the database.
        "register": env_str("EVALSERVER_THROTTLE_REGISTER", "20/hour"),
        "uploads": env_str("EVALSERVER_THROTTLE_UPLOADS", "30/min"),
        "password_reset": env_str("EVALSERVER_THROTTLE_PASSWORD_RESET", "10/hour"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "TinyActions evaluation server API",
    "DESCRIPTION": "Submit predictions, follow their scoring and read leaderboards.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our static files, not a CDN: the docs page works offline and under
    # the site's Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The limits every operation shares: 404 past a list's last page, 411/413 before a
    # body is read, no NUL in text (evalserver.schema_limits; issue 11).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "evalserver.schema_limits.limits_hook",
    ],
    # A phase's board visibility and a board's split share the values public/private: one
    # component name for both instead of a warning (manage.py check --deploy fails on it).
    "ENUM_NAME_OVERRIDES": {"PublicPrivateEnum": ["public", "private"]},
}

# --- Login throttling (django-axes) -------------------------------------------------------

# The policy is README "Login protection"; evalserver.accounts.login_protection explains it.
# Failures of one account from one address lock that pair only, and a success clears that
# pair only: a success of your own never clears your address's guesses at other accounts,
# and guesses from elsewhere never lock the account out of the addresses its owner uses.
AXES_FAILURE_LIMIT = env_int("EVALSERVER_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours: a locked-out user or address may try again after 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Refused attempts are not recorded: hammering during a lockout cannot extend it forever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Failures from one address over any accounts (spraying) that lock the address, within the
# cool-off, for accounts that never logged in from it.
EVALSERVER_LOGIN_ADDRESS_FAILURE_LIMIT = 4 * AXES_FAILURE_LIMIT
# Failures at one account from any addresses after which it takes one attempt per interval
# (seconds) from addresses it never logged in from: distributed guessing is slowed.
EVALSERVER_LOGIN_ACCOUNT_SLOWDOWN_AFTER = 2 * AXES_FAILURE_LIMIT
EVALSERVER_LOGIN_ACCOUNT_INTERVAL = 30
AXES_ENABLED = env_bool("EVALSERVER_LOGIN_THROTTLE", default=True)
AXES_VERBOSE = False
# A JSON 429 with a `detail` on the API, a page in the browser (evalserver.api).
AXES_LOCKOUT_CALLABLE = "evalserver.api.axes_lockout_response"
# The address the lockouts count, read as the API throttles read it (EVALSERVER_TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "evalserver.proxies.client_address"

# --- Cache ---------------------------------------------------------------------------------

# The cache holds the API and sign-up throttles' counters. Redis when given: the database
# cache costs about six queries per throttle per request. Without it, the database cache
# when there is a shared database (counters must agree across gunicorn workers), else
# local memory (the embedded default is a single process).
_cache_url = env_redis_url("EVALSERVER_CACHE_URL")
if _cache_url:
    CACHES = {
        "default": {
            # Fault tolerance (issue 11): Django's Redis cache, except that a Redis outage
            # reads as an empty cache (throttles fail open) instead of a 500 on every request.
            "BACKEND": "evalserver.cache.FailOpenRedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "evalserver",
            # A Redis that does not answer (a host gone, packets dropped) costs a request
            # at most about a second before the cache is skipped.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache"
            if _database_url
            else "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "evalserver_cache",
        }
    }

# --- Email --------------------------------------------------------------------------------

EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "evalserver@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Told, with each challenge's organizers, when the server lets a team down (a submission
# that crashes its worker, a phase taking uploads without hidden labels): submissions.notify.
_admin_emails = env_list("EVALSERVER_ADMINS", [])
for _address in _admin_emails:
    try:
        validate_email(_address)
    except ValidationError:
        raise ImproperlyConfigured(
            f"EVALSERVER_ADMINS has {_address!r}, which is not an email address; "
            "separate addresses with commas"
        ) from None
ADMINS = [(_address, _address) for _address in _admin_emails]

# --- Auth pages ---------------------------------------------------------------------------

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "challenge-list"
LOGOUT_REDIRECT_URL = "challenge-list"

# --- Security -----------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Probes and scrapers talk plain HTTP to the process itself (evalserver.ops).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Operations: health, metrics, logs (evalserver.ops) ------------------------------------

# /metrics answers requests from these networks (CIDRs, the client's address as
# EVALSERVER_TRUSTED_PROXIES reads it) or carrying `Authorization: Bearer <token>`.
EVALSERVER_METRICS_ALLOWED = env_networks("EVALSERVER_METRICS_ALLOWED", ["127.0.0.1/32", "::1/128"])
EVALSERVER_METRICS_TOKEN = env_str("EVALSERVER_METRICS_TOKEN")
if EVALSERVER_METRICS_TOKEN is not None and len(EVALSERVER_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "EVALSERVER_METRICS_TOKEN must be at least 16 characters (a guessable token opens "
        "/metrics to anyone)"
    )
# `plain` (human-readable lines) or `json` (one object per line, with request_id and, in
# the worker, submission_id).
EVALSERVER_LOG_FORMAT = env_str("EVALSERVER_LOG_FORMAT", "plain").lower()
if EVALSERVER_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(
        f"EVALSERVER_LOG_FORMAT={EVALSERVER_LOG_FORMAT!r} must be plain or json"
    )
# Celery replaces the root logger's handlers with its own plain ones unless told not to;
# JSON lines must come out of the workers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = EVALSERVER_LOG_FORMAT != "json"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "evalserver.ops.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        # python-json-logger: one object per line; fields passed with `extra=` are kept.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "request_id", "submission_id"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": EVALSERVER_LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("EVALSERVER_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Onboarding (issue 14): Django's own console handler would print every django.*
        # record a second time beside the root's; axes says four INFO lines per login.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "axes": {"level": "WARNING"},
    },
}
