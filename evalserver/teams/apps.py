from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "evalserver.teams"
    label = "teams"
