"""The database cache table (settings.CACHES) that API throttling counts in.

Created by `migrate`, so no deployment step can forget `createcachetable`; a no-op when
the cache is not database-backed (the embedded default uses local memory).
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
