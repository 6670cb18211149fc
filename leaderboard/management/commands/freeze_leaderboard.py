from django.core.management.base import BaseCommand, CommandError

from evalserver.errors import DomainError
from leaderboard.management.commands._phase_arg import phase_from_spec
from leaderboard.services import leaderboard_freeze, leaderboard_unfreeze


class Command(BaseCommand):
    help = "Freeze a phase's final leaderboard after its deadline (or --unfreeze it)."

    def add_arguments(self, parser):
        parser.add_argument("--phase", required=True, help="<challenge-slug>/<phase-slug>")
        parser.add_argument("--unfreeze", action="store_true", help="serve the live ranking")

    def handle(self, *args, phase, unfreeze, **options):
        target = phase_from_spec(phase)
        try:
            if unfreeze:
                leaderboard_unfreeze(phase=target, actor=None)
                self.stdout.write(f"Unfroze the leaderboard of {target}.")
            else:
                frozen = leaderboard_freeze(phase=target, actor=None)
                self.stdout.write(
                    f"Froze the leaderboard of {target}: {len(frozen.entries)} entries."
                )
        except DomainError as exc:
            raise CommandError(exc.message) from None
