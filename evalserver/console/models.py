from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Rescore(models.Model):
    """A label fix under review: a phase's submissions scored against corrected labels.

    The preview leaves the live labels and board alone; applying it swaps both at once.
    The candidate label files sit on the labels storage beside the phase's own.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        APPLIED = "applied", "Applied"
        DISCARDED = "discarded", "Discarded"
        FAILED = "failed", "Failed"

    phase = models.ForeignKey("challenges.Phase", on_delete=models.CASCADE, related_name="rescores")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # The candidate labels (challenges.services.StoredLabels) and the live labels they fix:
    # applying is refused if the live ones changed meanwhile.
    labels_file = models.CharField(max_length=300)
    labels_compact_file = models.CharField(max_length=300)
    labels_sha256 = models.CharField(max_length=64)
    n_items = models.PositiveIntegerField(default=0)
    original_filename = models.CharField(max_length=255, blank=True)
    base_labels_sha256 = models.CharField(max_length=64, blank=True)
    # How many submissions the preview scores; grows if more finish while it runs.
    total = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # Claims by a worker (the task is redelivered after a worker death); see services.
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A second preview of a phase replaces the first (services.rescore_start): the
            # database itself keeps two from being under review at once.
            models.UniqueConstraint(
                fields=["phase"],
                condition=Q(status__in=["running", "ready"]),
                name="one_open_rescore_per_phase",
            ),
        ]

    def __str__(self) -> str:
        return f"Rescore {self.pk} of phase {self.phase_id} ({self.status})"


class RescoreResult(models.Model):
    """One submission scored against a rescore's labels, stored as soon as it is done, so a
    preview redelivered after a worker death carries on where it stopped."""

    rescore = models.ForeignKey(Rescore, on_delete=models.CASCADE, related_name="results")
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.CASCADE, related_name="+"
    )
    scores = models.JSONField(null=True, blank=True)
    primary_score = models.FloatField(null=True, blank=True)
    # Problems when the file does not fit the new labels (it would fail once applied).
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rescore", "submission"]
        constraints = [
            models.UniqueConstraint(
                fields=["rescore", "submission"], name="one_result_per_rescored_submission"
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.submission_id} in rescore {self.rescore_id}"


class AuditEntry(models.Model):
    """What an organizer did in the console, and why: phases, labels, teams and bans.
    (Actions on submissions go to their own trail, submissions.SubmissionEvent.)"""

    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="audit_entries"
    )
    phase = models.ForeignKey(
        "challenges.Phase", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} on {self.challenge_id} by {self.actor_id}"
