from django.apps import AppConfig
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    name = "evalserver.accounts"
    label = "accounts"

    def ready(self) -> None:
        from evalserver.accounts.models import User
        from evalserver.accounts.receivers import password_saved

        # Every path that sets a password ends in User.save: revoke the API token there.
        post_save.connect(password_saved, sender=User, dispatch_uid="accounts-password-saved")
