"""Issue 11 item 5: the database cache table exists whichever cache `migrate` ran with, so
switching EVALSERVER_CACHE_URL off later does not 500."""

import importlib

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection

from tests.factories import ChallengeFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("evalserver.accounts.migrations.0005_i11a_cache_table_always")
DATABASE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": migration.TABLE,
    }
}
NOT_A_DATABASE_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "x"}
}


def _table_exists() -> bool:
    return migration.TABLE in connection.introspection.table_names()


def _drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(migration.TABLE)}")


def test_the_migration_names_the_table_the_settings_use(settings):
    # The test settings have a DATABASE_URL and no EVALSERVER_CACHE_URL: the database cache.
    assert settings.CACHES["default"]["BACKEND"] == DATABASE_CACHE["default"]["BACKEND"]
    assert settings.CACHES["default"]["LOCATION"] == migration.TABLE


def test_migrating_with_another_cache_still_makes_the_table(settings, api):
    ChallengeFactory(slug="c1")
    _drop_table()
    # As `migrate` would run with EVALSERVER_CACHE_URL set: 0002 makes nothing...
    settings.CACHES = NOT_A_DATABASE_CACHE
    call_command("createcachetable", verbosity=0)
    assert not _table_exists()
    # ...and 0005 makes it all the same.
    with connection.schema_editor() as editor:
        migration.create_cache_table(None, editor)
    assert _table_exists()

    # EVALSERVER_CACHE_URL switched off: the throttles count in the database cache.
    settings.CACHES = DATABASE_CACHE
    response = api.get("/api/v1/challenges/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_the_migration_leaves_an_existing_table_alone(settings):
    settings.CACHES = DATABASE_CACHE
    caches["default"].set("kept", "value", 3600)
    with connection.schema_editor() as editor:
        migration.create_cache_table(None, editor)
    assert caches["default"].get("kept") == "value"
