import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)


class Team(models.Model):
    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="teams"
    )
    name = models.CharField(max_length=100)
    invite_code = models.CharField(max_length=32, unique=True, default=new_invite_code)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When the organizers approved it; a challenge with registration "approval" takes uploads
    # only from approved teams (set at creation elsewhere).
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["challenge", "name"]
        constraints = [
            # "Alpha" and "alpha" on one leaderboard would confuse everybody.
            models.UniqueConstraint(
                Lower("name"), "challenge", name="team_name_unique_per_challenge_ci"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    # Copied from the team so the database itself can refuse a second team in one challenge.
    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "challenge"], name="one_team_per_user_per_challenge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
