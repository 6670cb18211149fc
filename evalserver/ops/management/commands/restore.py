"""``python manage.py restore ARCHIVE``: a fresh deployment from a backup."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evalserver.ops.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Rebuild a fresh deployment (an empty database, empty storage) from an archive "
        "written by `manage.py backup`: every SHA-256 sum is checked before anything is "
        "written, and every file again after it is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path, help="the archive written by backup")

    def handle(self, *args, archive: Path, **options):
        try:
            summary = restore(archive=archive)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Restored the {summary.vendor} database and {summary.n_files} files "
            f"({summary.n_bytes:,} bytes) from {summary.path}"
        )
