from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "evalserver.accounts"
    label = "accounts"
