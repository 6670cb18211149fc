"""The real settings module, loaded in a fresh interpreter per environment.

Settings are read once at import, so each case starts its own Python with only the
variables it sets (plus a private data folder).
"""

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler

ROOT = Path(__file__).resolve().parents[2]

# Every variable the settings read; cleared so the developer's shell cannot leak in.
_OURS = (
    "DATABASE_URL",
    "DATABASE_CONN_MAX_AGE",
    "CELERY_BROKER_URL",
    "EVALSERVER_",
    "DJANGO_",
    "EMAIL_",
    "DEFAULT_FROM_EMAIL",
)

_REPORT = """
import json, django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "db_name": str(db["NAME"]), "db_host": db.get("HOST"),
    "db_port": db.get("PORT"), "debug": s.DEBUG, "secret": s.SECRET_KEY,
    "hosts": s.ALLOWED_HOSTS, "broker": s.CELERY_BROKER_URL,
    "inprocess": s.EVALSERVER_INPROCESS_TASKS, "data_dir": str(s.DATA_DIR),
    "labels_backend": s.STORAGES["labels"]["BACKEND"],
    "labels_location": s.STORAGES["labels"]["OPTIONS"].get("location"),
    "ssl_redirect": getattr(s, "SECURE_SSL_REDIRECT", False),
    "time_limit": s.EVALSERVER_SCORING_TIME_LIMIT,
    "soft_time_limit": s.EVALSERVER_SCORING_SOFT_TIME_LIMIT,
    "visibility_timeout": s.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"],
    "max_attempts": s.EVALSERVER_MAX_SCORING_ATTEMPTS,
    "email_backend": s.EMAIL_BACKEND, "email_port": s.EMAIL_PORT,
    "cache_backend": s.CACHES["default"]["BACKEND"],
    "cache_location": s.CACHES["default"]["LOCATION"],
    "num_proxies": s.REST_FRAMEWORK["NUM_PROXIES"], "proxies": s.EVALSERVER_TRUSTED_PROXIES,
}))
"""


def _run(tmp_path, code, args=(), **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    clean["DJANGO_SETTINGS_MODULE"] = "evalserver.settings"
    clean.setdefault("EVALSERVER_DATA_DIR", str(tmp_path / "data"))
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args] if args else [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _settings(tmp_path, **env) -> dict:
    result = _run(tmp_path, _REPORT, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _failure(tmp_path, **env) -> str:
    result = _run(tmp_path, "import django; django.setup()", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    # The last line is the exception and its message: what an operator reads first.
    return result.stderr.strip().splitlines()[-1]


def test_the_embedded_default_needs_no_environment(tmp_path):
    s = _settings(tmp_path)
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["db_name"] == str(tmp_path / "data" / "db.sqlite3")
    assert s["debug"] is True
    assert s["broker"] is None
    assert s["inprocess"] is True
    assert s["labels_backend"] == "django.core.files.storage.FileSystemStorage"
    assert s["labels_location"] == str(tmp_path / "data" / "labels")
    assert s["email_backend"] == "django.core.mail.backends.console.EmailBackend"
    assert s["cache_backend"] == "django.core.cache.backends.locmem.LocMemCache"
    # No proxy: X-Forwarded-For is ignored (DRF's own default, None, would believe it).
    assert (s["proxies"], s["num_proxies"]) == (0, 0)
    assert (tmp_path / "data").is_dir()


def test_production_values_are_read(tmp_path):
    s = _settings(
        tmp_path,
        DATABASE_URL="postgres://ev:secret@db.internal:5433/evaldb",
        CELERY_BROKER_URL="redis://redis.internal:6379/2",
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="eval.example.org,www.eval.example.org",
        EVALSERVER_SCORING_SOFT_TIME_LIMIT="100",
        EVALSERVER_SCORING_TIME_LIMIT="120",
        EVALSERVER_MAX_SCORING_ATTEMPTS="5",
        EMAIL_HOST="smtp.example.org",
        EMAIL_PORT="25",
    )
    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["db_name"], s["db_host"], s["db_port"]) == ("evaldb", "db.internal", 5433)
    assert s["broker"] == "redis://redis.internal:6379/2"
    assert s["inprocess"] is False
    assert s["debug"] is False
    assert s["secret"] == "x" * 60
    assert s["hosts"] == ["eval.example.org", "www.eval.example.org"]
    assert s["ssl_redirect"] is True
    assert (s["soft_time_limit"], s["time_limit"]) == (100, 120)
    # The broker must not redeliver a task that is still within its hard limit.
    assert s["visibility_timeout"] > 120
    assert s["max_attempts"] == 5
    assert s["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert s["email_port"] == 25
    # No cache URL: the throttles count in the shared database, as before.
    assert s["cache_backend"] == "django.core.cache.backends.db.DatabaseCache"


def test_a_cache_url_puts_the_throttle_counters_in_redis(tmp_path):
    s = _settings(
        tmp_path,
        DATABASE_URL="postgres://ev:secret@db.internal:5433/evaldb",
        EVALSERVER_CACHE_URL="redis://redis.internal:6379/1",
    )
    assert s["cache_backend"] == "evalserver.cache.FailOpenRedisCache"
    assert s["cache_location"] == "redis://redis.internal:6379/1"


def test_trusted_proxies_drive_the_throttles_and_the_lockouts(tmp_path):
    s = _settings(tmp_path, EVALSERVER_TRUSTED_PROXIES="2")
    assert (s["proxies"], s["num_proxies"]) == (2, 2)


def test_an_s3_bucket_moves_uploads_and_labels_to_s3(tmp_path):
    s = _settings(tmp_path, EVALSERVER_S3_BUCKET="evalserver-private")
    assert s["labels_backend"] == "storages.backends.s3.S3Storage"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL='mysql://x'"),
        ({"DATABASE_URL": "postgres://u:p@h:port/db"}, "DATABASE_URL is malformed"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe'"),
        ({"DJANGO_DEBUG": "false"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_ALLOWED_HOSTS": "a.org,,b.org"}, "DJANGO_ALLOWED_HOSTS="),
        ({"EVALSERVER_DATA_DIR": "relative/dir"}, "EVALSERVER_DATA_DIR='relative/dir'"),
        ({"CELERY_BROKER_URL": "http://broker"}, "CELERY_BROKER_URL='http://broker'"),
        ({"EVALSERVER_SCORING_TIME_LIMIT": "abc"}, "EVALSERVER_SCORING_TIME_LIMIT='abc'"),
        (
            {"EVALSERVER_SCORING_TIME_LIMIT": "100"},
            "EVALSERVER_SCORING_TIME_LIMIT must be greater than EVALSERVER_SCORING_SOFT",
        ),
        ({"EVALSERVER_MAX_SCORING_ATTEMPTS": "0"}, "EVALSERVER_MAX_SCORING_ATTEMPTS=0"),
        ({"EVALSERVER_MAX_UPLOAD_BYTES": "1k"}, "EVALSERVER_MAX_UPLOAD_BYTES='1k'"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT='smtp'"),
        ({"EMAIL_USE_TLS": "sometimes"}, "EMAIL_USE_TLS='sometimes'"),
        ({"EVALSERVER_ADMINS": "ops@example.org,nope"}, "EVALSERVER_ADMINS has 'nope'"),
        ({"EVALSERVER_ADMINS": "ops@example.org,,b@x.org"}, "EVALSERVER_ADMINS="),
        ({"EVALSERVER_TRUSTED_PROXIES": "-1"}, "EVALSERVER_TRUSTED_PROXIES=-1 must be at least 0"),
        ({"EVALSERVER_TRUSTED_PROXIES": "yes"}, "EVALSERVER_TRUSTED_PROXIES='yes'"),
        ({"EVALSERVER_CACHE_URL": "memcached://h:11211"}, "EVALSERVER_CACHE_URL='memcached://"),
        (
            {"EVALSERVER_CACHE_URL": "redis://:pw@redis:6379/cache"},
            "EVALSERVER_CACHE_URL='redis://:***@redis:6379/cache' is not a usable Redis URL",
        ),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_a_malformed_variable_stops_start_up_naming_it(tmp_path, env, names):
    assert names in _failure(tmp_path, **env)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        # docker-compose's additions, behind one TLS-terminating proxy.
        {
            "EVALSERVER_CACHE_URL": "redis://redis:6379/1",
            "EVALSERVER_TRUSTED_PROXIES": "1",
            "CELERY_BROKER_URL": "redis://redis:6379/0",
        },
    ],
    ids=["minimal", "compose-behind-a-proxy"],
)
def test_check_deploy_is_clean_with_production_values(tmp_path, extra):
    result = _run(
        tmp_path,
        "",
        args=("manage.py", "check", "--deploy", "--fail-level", "WARNING"),
        DJANGO_SECRET_KEY="a-long-random-production-key-" + "q8Zr2" * 10,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="eval.example.org",
        **extra,
    )
    assert result.returncode == 0, result.stdout + result.stderr


_GET_STATIC = """
import warnings
warnings.filterwarnings("error", message="No directory at")
import django
django.setup()
from django.templatetags.static import static
from django.test import Client
url = static("web/app.css")
response = Client().get(url, secure=True)
print(url, response.status_code, response.get("Cache-Control", "").replace(" ", ""))
"""


def test_development_serves_static_files_without_collectstatic(tmp_path):
    result = _run(tmp_path, _GET_STATIC)
    assert result.returncode == 0, result.stderr
    url, status, *_ = result.stdout.split()
    assert (url, status) == ("/static/web/app.css", "200")
    assert not (tmp_path / "data" / "static").exists()


def test_production_serves_the_collected_static_files(tmp_path):
    production = {
        "DJANGO_SECRET_KEY": "a-long-random-production-key-" + "q8Zr2" * 10,
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    collected = _run(tmp_path, "", args=("manage.py", "collectstatic", "--noinput"), **production)
    assert collected.returncode == 0, collected.stderr
    result = _run(tmp_path, _GET_STATIC, **production)
    assert result.returncode == 0, result.stderr
    url, status, cache_control = result.stdout.split()
    # The manifest's hashed name, cached for good by browsers.
    assert re.fullmatch(r"/static/web/app\.[0-9a-f]{12}\.css", url)
    assert status == "200"
    assert "immutable" in cache_control


def test_the_test_runner_loads_the_middleware_without_a_static_root_warning():
    # The test runner turns DEBUG off after settings load; WhiteNoise must not then look
    # for a STATIC_ROOT that only `collectstatic` makes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WSGIHandler()
    assert [str(w.message) for w in caught if "No directory at" in str(w.message)] == []
