from django.core.management.base import BaseCommand, CommandError

from evalserver.errors import DomainError
from leaderboard.management.commands._phase_arg import phase_from_spec
from leaderboard.services import final_board_publish


class Command(BaseCommand):
    help = (
        "Publish a split phase's final (private-split) leaderboard to everyone; refused "
        "before the phase's ends_at."
    )

    def add_arguments(self, parser):
        parser.add_argument("--phase", required=True, help="<challenge-slug>/<phase-slug>")

    def handle(self, *args, phase, **options):
        target = phase_from_spec(phase)
        try:
            final_board_publish(phase=target, actor=None)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Published the final (private-split) leaderboard of {target}.")
