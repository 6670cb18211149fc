"""The database cache table, whichever cache is configured when `migrate` runs.

0002 runs `createcachetable`, which makes tables only for the caches configured at that
moment: a database migrated with EVALSERVER_CACHE_URL set (Redis) had none, and unsetting
the variable later (the database cache then) answered every throttled request with a 500.
This makes the table by name; a no-op where it exists.
"""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

# The LOCATION settings.py gives the database cache (tests/hardening/test_cache_table.py).
TABLE = "evalserver_cache"


def create_cache_table(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_user_username_ci_unique")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
