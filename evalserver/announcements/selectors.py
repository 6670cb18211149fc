"""Reads of announcements."""

from evalserver.announcements.models import Announcement, MailOptOut


def announcements_of(*, challenge, limit: int = 5) -> list[Announcement]:
    return list(
        Announcement.objects.filter(challenge=challenge).select_related("created_by")[:limit]
    )


def mail_opted_out(*, user) -> bool:
    return MailOptOut.objects.filter(user=user).exists()
