"""``python manage.py seed_demo``: the demo TinyActions 2021 challenge, users and teams.

The challenge goes through the same import as ``import_challenge``. Safe to run again:
existing accounts, teams and memberships are left as they are (passwords included).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from evalserver.challenges.demo import CHALLENGE_SLUG, generate_demo
from evalserver.challenges.models import Challenge
from evalserver.challenges.services import challenge_import
from evalserver.teams.models import Membership, Team

# Known passwords are the point of a demo, and the reason the command refuses to run
# with DEBUG off unless told to.
DEMO_USERS = [
    # username, password, is organizer (staff and superuser)
    ("organizer", "organizer-demo-2021", True),
    ("alice", "alice-demo-2021", False),
    ("bob", "bob-demo-2021", False),
    ("charlie", "charlie-demo-2021", False),
    ("dave", "dave-demo-2021", False),
    # In no team: a brand-new participant, to try the way from the challenge page to a
    # first submission.
    ("erin", "erin-demo-2021", False),
]
DEMO_TEAMS = [
    # team name, [(username, role)]: the first member is its owner
    ("Tiny Transformers", ["alice", "bob"]),
    ("Low-Res Lab", ["charlie", "dave"]),
]


class Command(BaseCommand):
    help = (
        "Load the demo TinyActions 2021 challenge (synthetic labels written under "
        "EVALSERVER_DATA_DIR/demo), an organizer account, participant accounts and nine teams "
        "with a history of scored submissions."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="run even with DJANGO_DEBUG off (creates accounts with known passwords)",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts with well-known passwords; it runs only with "
                "DJANGO_DEBUG on, or with --force"
            )
        files = generate_demo(settings.DATA_DIR / "demo")
        report = challenge_import(path=files.challenge_yaml)
        for line in report.lines():
            self.stdout.write(line)

        with transaction.atomic():
            challenge = Challenge.objects.get(slug=CHALLENGE_SLUG)
            users = {}
            for username, password, organizer in DEMO_USERS:
                users[username], created = self._user(username, password, organizer=organizer)
                state = "created" if created else "exists; password left unchanged"
                role = " (staff, superuser)" if organizer else ""
                self.stdout.write(f"user {username}{role}: password {password!r} ({state})")
            challenge.organizers.add(users["organizer"])
            for team_name, members in DEMO_TEAMS:
                team, created = Team.objects.get_or_create(
                    challenge=challenge,
                    name=team_name,
                    defaults={"created_by": users[members[0]]},
                )
                self.stdout.write(f"team {team_name}: {'created' if created else 'exists'}")
                for i, username in enumerate(members):
                    Membership.objects.get_or_create(
                        user=users[username],
                        challenge=challenge,
                        defaults={
                            "team": team,
                            "role": Membership.Role.OWNER if i == 0 else Membership.Role.MEMBER,
                        },
                    )
        # Imported here: the submissions app sits above this one.
        from submissions.demo import seed_history

        for line in seed_history(challenge=challenge, detection_records=files.detection):
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"demo challenge {CHALLENGE_SLUG} is ready"))

    @staticmethod
    def _user(username: str, password: str, *, organizer: bool):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user, False
        user = User(
            username=username,
            email=f"{username}@example.org",
            is_staff=organizer,
            is_superuser=organizer,
        )
        user.set_password(password)
        user.save()
        return user, True
