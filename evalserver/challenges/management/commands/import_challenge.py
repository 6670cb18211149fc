"""``python manage.py import_challenge challenge.yaml`` (CONTRACT section 2)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evalserver.challenges.services import challenge_import
from evalserver.challenges.yaml_schema import ChallengeDefinitionInvalid


class Command(BaseCommand):
    help = (
        "Create or update a challenge, its phases and their hidden label files from a YAML "
        "definition. Idempotent: keyed by the challenge and phase slugs. Organizers are "
        "not part of the file: list them on the challenge in the admin; to use the admin "
        "each also needs staff status and the 'Organizers' group."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="the challenge YAML file")

    def handle(self, *args, path: Path, **options):
        try:
            report = challenge_import(path=path)
        except ChallengeDefinitionInvalid as exc:
            # CommandError prints to stderr and exits 1; every problem gets its own line.
            count = len(exc.problems)
            noun = "problem" if count == 1 else "problems"
            raise CommandError(
                f"{path}: nothing imported; {count} {noun}:\n"
                + "\n".join(f"  {p}" for p in exc.problems)
            ) from None
        for line in report.lines():
            self.stdout.write(line)
