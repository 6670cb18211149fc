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
