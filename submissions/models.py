import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def submission_upload_to(instance: "Submission", filename: str) -> str:
    # The server names stored files: the participant's name is kept only as metadata, so no
    # uploaded name can collide, traverse or guess another team's file.
    return f"submissions/phase-{instance.phase_id}/team-{instance.team_id}/{uuid.uuid4().hex}"


class Submission(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="submissions")
    phase = models.ForeignKey(
        "challenges.Phase", on_delete=models.CASCADE, related_name="submissions"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    file = models.FileField(upload_to=submission_upload_to, max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, blank=True)
    method_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    scores = models.JSONField(null=True, blank=True)
    # Copied out of ``scores`` so the leaderboard can sort and rank in SQL.
    primary_score = models.FloatField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker has claimed it; a submission that keeps killing its worker
    # is failed after EVALSERVER_MAX_SCORING_ATTEMPTS instead of looping forever.
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)

    is_hidden = models.BooleanField(default=False)
    is_disqualified = models.BooleanField(default=False)
    is_baseline = models.BooleanField(default=False)

    # Final ranking (issue 13). The 95% bootstrap interval of ``primary_score`` (for a phase
    # whose labels are split: of the public split, like ``scores``); the replicate vector and
    # everything about the private split live in SubmissionEvaluation, which no participant
    # route reads.
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    # Marked by its team as one of its final submissions (Phase.max_final_submissions).
    selected = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["phase", "status"], name="submission_phase_status"),
            models.Index(fields=["team", "phase", "created_at"], name="submission_team_phase_time"),
            models.Index(fields=["status", "started_at"], name="submission_status_started"),
            # A phase's submissions newest first: the organizers' paginated lists walk it.
            models.Index(fields=["phase", "-created_at", "-id"], name="submission_phase_newest"),
            # The leaderboard's first window (leaderboard.selectors): the counting submissions
            # of a phase in the window's order, read from the index alone.
            models.Index(
                fields=["phase", "team", "is_baseline", "-primary_score", "created_at", "id"],
                condition=models.Q(
                    status="finished",
                    primary_score__isnull=False,
                    is_hidden=False,
                    is_disqualified=False,
                ),
                name="submission_leaderboard",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} ({self.status})"

    @property
    def is_done(self) -> bool:
        return self.status in {self.Status.FINISHED, self.Status.FAILED, self.Status.CANCELLED}


class SubmissionEvent(models.Model):
    """What happened to a submission, and who did it: the organizers' audit trail."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on {self.submission_id}"


class SubmissionEvaluation(models.Model):
    """What the bootstrap and a split phase add to a finished submission (issue 13).

    Kept apart from Submission so that lists and boards never load the replicate vectors
    (8 kB each) and no serializer of a participant's route can reach the private split.
    """

    submission = models.OneToOneField(
        Submission, on_delete=models.CASCADE, primary_key=True, related_name="evaluation"
    )
    # The primary metric on each of the phase's resamples (little-endian float64), for the
    # scores in ``Submission.scores``: all clips, or the public split of a split phase.
    replicates = models.BinaryField(null=True, blank=True)
    # Split phases only: the private split's score JSON, primary score, interval, replicates.
    private_scores = models.JSONField(null=True, blank=True)
    private_primary_score = models.FloatField(null=True, blank=True)
    private_ci_low = models.FloatField(null=True, blank=True)
    private_ci_high = models.FloatField(null=True, blank=True)
    private_replicates = models.BinaryField(null=True, blank=True)
    # Split phases only: the score JSON on every clip, for organizers.
    all_scores = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Evaluation of submission {self.submission_id}"
