import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class FrozenLeaderboard(models.Model):
    """A phase's final ranking as it stood when an organizer froze it."""

    phase = models.OneToOneField(
        "challenges.Phase", on_delete=models.CASCADE, related_name="frozen_leaderboard"
    )
    entries = models.JSONField()
    frozen_at = models.DateTimeField(default=timezone.now)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Final leaderboard of {self.phase}"


# How many single-team changes ``LeaderboardVersion.team_changes`` keeps: a process that
# missed more than these rebuilds its board.
TEAM_CHANGES_KEPT = 64


class LeaderboardVersion(models.Model):
    """Which state of its submissions a phase's live board reflects.

    ``token`` changes whenever something the live ranking reads changes (a submission
    finishes, is re-run, hidden, ...); the API's board cache is keyed by it, so a changed board
    is never served from the cache. A random token rather than a counter, and a row of its
    own rather than a column of Phase: a full save of a Phase loaded earlier (the admin's form)
    would write an old counter back and revive a cached board of that old state.
    """

    phase = models.OneToOneField(
        "challenges.Phase",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="leaderboard_version",
    )
    token = models.UUIDField(default=uuid.uuid4)
    changed_at = models.DateTimeField(default=timezone.now)
    # The latest changes that each touched a single team's entries, oldest first, as
    # ``[token, team id]``: the change to ``token`` re-reads only that team. A process whose
    # board is at one of these tokens patches it with the teams changed since (leaderboard.live)
    # instead of ranking the whole phase again. A change of the whole board starts it
    # afresh with ``[token, null]``.
    team_changes = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"Leaderboard version of phase {self.phase_id}"
