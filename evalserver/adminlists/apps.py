from django.apps import AppConfig


class AdminListsConfig(AppConfig):
    """The admin's lists that a crowd grows (submissions, their events): each page's rows
    written without Django's per-cell machinery, the same HTML."""

    name = "evalserver.adminlists"
    label = "adminlists"
