import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leaderboard.exports import write_leaderboard_csv, write_submissions_csv
from leaderboard.management.commands._phase_arg import phase_from_spec


class Command(BaseCommand):
    help = (
        "Write a phase's leaderboard (the frozen one if frozen), or with --submissions every "
        "submission of the phase, as CSV to stdout or a file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--phase", required=True, help="<challenge-slug>/<phase-slug>")
        parser.add_argument(
            "--submissions", action="store_true", help="export all submissions instead"
        )
        parser.add_argument("-o", "--output", help="file to write (default: stdout)")

    def handle(self, *args, phase, submissions, output, **options):
        target = phase_from_spec(phase)
        writer = write_submissions_csv if submissions else write_leaderboard_csv
        if output is None:
            count = writer(phase=target, out=self.stdout)
        else:
            try:
                # newline="" lets the csv module write its own line endings.
                with Path(output).open("w", encoding="utf-8", newline="") as out:
                    count = writer(phase=target, out=out)
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc.strerror}") from None
        what = "submissions" if submissions else "leaderboard entries"
        print(f"Exported {count} {what} of {target}.", file=sys.stderr)
