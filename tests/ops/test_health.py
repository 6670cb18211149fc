"""/healthz and /readyz, with real components failing: a redis-server the test stops, a
storage folder that cannot be written."""

import shutil

import pytest
from django.test import Client

from tests.services_real import RedisServer


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def redis_server(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_healthz_answers_without_touching_dependencies(client, settings):
    # No django_db mark: any database access would raise here.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ok_with_every_component(client, settings, redis_server):
    settings.CELERY_BROKER_URL = redis_server.url(0)
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["components"]) == {"database", "broker", "cache", "storage", "labels"}
    assert all(c["ok"] for c in body["components"].values())


@pytest.mark.django_db(transaction=True)
def test_readyz_without_a_broker_does_not_check_one(client, settings):
    settings.CELERY_BROKER_URL = None
    body = client.get("/readyz").json()
    assert "broker" not in body["components"]
    assert body["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_readyz_names_a_stopped_broker_and_cache(client, settings, redis_server):
    settings.CELERY_BROKER_URL = redis_server.url(0)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url(1),
        }
    }
    assert client.get("/readyz").status_code == 200
    redis_server.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["broker", "cache"]
    assert body["components"]["database"]["ok"] is True
    assert "Redis" in body["components"]["broker"]["error"]
    # Back when the server is.
    redis_server.start()
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_names_storage_that_cannot_be_written(client, settings, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the uploads folder should be")
    settings.CELERY_BROKER_URL = None
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocked), "base_url": None},
        },
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["storage"]


def test_healthz_is_exempt_from_the_https_redirect(settings, client):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301


def test_the_compose_web_service_is_checked_through_readyz():
    from pathlib import Path

    import yaml

    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    )
    check = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in check
