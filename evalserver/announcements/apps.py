from django.apps import AppConfig


class AnnouncementsConfig(AppConfig):
    """Organizers' announcements: shown on the challenge page, optionally mailed."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evalserver.announcements"
    label = "announcements"
