from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    name = "evalserver.challenges"
    label = "challenges"
