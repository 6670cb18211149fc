from django.conf import settings
from django.db import models
from django.utils import timezone


class Announcement(models.Model):
    class Mail(models.TextChoices):
        NONE = "none", "Not mailed"
        PENDING = "pending", "Being mailed"
        SENT = "sent", "Mailed"
        FAILED = "failed", "Mail gave up"

    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="announcements"
    )
    title = models.CharField(max_length=200)
    # What the organizer wrote (Markdown), and the sanitised HTML shown and mailed.
    body = models.TextField()
    body_html = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    mail = models.CharField(max_length=10, choices=Mail.choices, default=Mail.NONE)
    # Recipients go out in batches ordered by user id: everyone up to ``mail_cursor`` has it,
    # so a retry after the mail server came back sends nobody a second copy.
    mail_cursor = models.BigIntegerField(default=0)
    mail_sent = models.PositiveIntegerField(default=0)
    mail_attempts = models.PositiveIntegerField(default=0)
    mail_error = models.TextField(blank=True)
    mail_next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["mail", "mail_next_attempt_at"], name="announcement_mail")]

    def __str__(self) -> str:
        return self.title


class MailOptOut(models.Model):
    """A user who wants no challenge mail (announcements); set on their account page."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="challenge_mail_opt_out"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} opted out of challenge mail"
