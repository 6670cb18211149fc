"""``python manage.py backup OUT``: the database and every stored file in one archive."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evalserver.ops.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Write one archive (tar; .tar.gz compresses) holding a consistent database dump "
        "(pg_dump, or SQLite's backup API), every stored file (uploads, hidden labels, "
        "downloads; local disk or S3) and a manifest with their SHA-256 sums."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path, help="the archive to write (must not exist)")

    def handle(self, *args, out: Path, **options):
        try:
            summary = backup(out=out)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Backed up the {summary.vendor} database and {summary.n_files} files "
            f"({summary.n_bytes:,} bytes) to {summary.path}"
        )
