from django.conf import settings
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import models
from django.db.models import F, Q
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES


class _LabelsStorage(LazyObject):
    """The "labels" storage, looked up on first use and again after STORAGES changes.

    A FileField resolves its storage once, at import; without this indirection a test that
    overrides STORAGES (or a settings change at run time) would still write to the old place.
    """

    def _setup(self):
        self._wrapped = storages["labels"]


labels_storage = _LabelsStorage()


@receiver(setting_changed)
def _reset_labels_storage(*, setting, **kwargs):
    if setting == "STORAGES":
        labels_storage._wrapped = empty


def _labels_storage():
    # Hidden labels have their own storage with no URL, apart from participants' uploads.
    return labels_storage


def _default_class_names() -> list[str]:
    return list(TINYVIRAT_V2_CLASSES)


class Challenge(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Ordered class names: index i is column i of a recognition answer file.
    class_names = models.JSONField(default=_default_class_names)
    max_team_size = models.PositiveIntegerField(default=10)
    organizers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="organized_challenges"
    )
    is_published = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "slug"]

    def __str__(self) -> str:
        return self.title

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def is_organizer(self, user) -> bool:
        """Superusers, and the users listed as this challenge's organizers.

        ``is_staff`` only lets a user log into the admin: an organizer of one challenge
        who is staff there must not act on another challenge.
        """
        if not user.is_authenticated:
            return False
        if user.is_superuser:
            return True
        return self.organizers.filter(pk=user.pk).exists()


class Phase(models.Model):
    class Track(models.TextChoices):
        CLASSIFICATION = "classification", "Classification (recognition)"
        DETECTION = "detection", "Detection (localisation)"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private (organizers only until revealed)"

    class DetectionProtocol(models.TextChoices):
        # The scoring library's protocols (evalserver/scoring/detection.py PROTOCOLS).
        VOC = "voc", "VOC (continuous boxes, interpolated AP, mean over classes with ground truth)"
        ACT = "act", "ACT (+1 pixel boxes, fallback matching, 3D NMS, trapezoidal AP)"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="phases")
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    track = models.CharField(max_length=20, choices=Track.choices, default=Track.CLASSIFICATION)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The organizers' switch: a phase takes uploads only when switched open AND inside its dates.
    is_open = models.BooleanField(default=True)
    max_submissions_per_day = models.PositiveIntegerField(null=True, blank=True, default=5)
    max_submissions_total = models.PositiveIntegerField(null=True, blank=True, default=100)
    max_upload_bytes = models.PositiveBigIntegerField(default=100 * 1024 * 1024)
    leaderboard_visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    leaderboard_revealed_at = models.DateTimeField(null=True, blank=True)
    # Detection phases only: which evaluation conventions score the submissions.
    detection_protocol = models.CharField(
        max_length=8, choices=DetectionProtocol.choices, default=DetectionProtocol.VOC
    )
    # The hidden ground truth as the organizers gave it, and the compact form the scorer reads.
    labels_file = models.FileField(storage=_labels_storage, blank=True, max_length=300)
    labels_compact_file = models.FileField(storage=_labels_storage, blank=True, max_length=300)
    labels_sha256 = models.CharField(max_length=64, blank=True)
    n_items = models.PositiveIntegerField(default=0)
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["challenge", "order", "starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "slug"], name="phase_slug_unique"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="phase_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge.slug}/{self.slug}"

    @property
    def primary_metric(self) -> str:
        return "video_map" if self.track == self.Track.DETECTION else "macro_f1"

    def is_open_at(self, moment) -> bool:
        return self.is_open and self.starts_at <= moment < self.ends_at

    @property
    def is_open_now(self) -> bool:
        return self.is_open_at(timezone.now())

    @property
    def leaderboard_is_public(self) -> bool:
        return (
            self.leaderboard_visibility == self.Visibility.PUBLIC
            or self.leaderboard_revealed_at is not None
        )


class Download(models.Model):
    """A public file of a challenge or of one of its phases (challenge YAML ``downloads:``).

    The bytes live on the labels storage (no URL of any kind) and are served only through
    the download view, which checks ``audience``; ``phase`` is empty for challenge-level files.
    """

    class Audience(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        PARTICIPANTS = "participants", "Participants (members of a team of the challenge)"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="downloads")
    phase = models.ForeignKey(
        Phase, on_delete=models.CASCADE, null=True, blank=True, related_name="downloads"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    audience = models.CharField(max_length=20, choices=Audience.choices, default=Audience.EVERYONE)
    file = models.FileField(storage=_labels_storage, max_length=300)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    order = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["challenge", "phase", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["challenge", "name"],
                condition=Q(phase__isnull=True),
                name="download_challenge_name_unique",
            ),
            models.UniqueConstraint(fields=["phase", "name"], name="download_phase_name_unique"),
        ]

    def __str__(self) -> str:
        where = f"{self.challenge.slug}/{self.phase.slug}" if self.phase_id else self.challenge.slug
        return f"{where}: {self.name}"
