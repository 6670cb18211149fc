from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The organizer console: pages and API for running a challenge, label fixes included."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evalserver.console"
    label = "console"
