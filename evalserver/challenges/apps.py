from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_organizers_group(sender, using, **kwargs):
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    from evalserver.challenges.organizers import ORGANIZER_PERMISSIONS, organizers_group_ensure

    # Django makes each app's permissions in that app's own post_migrate, and this one may
    # run before the later apps'; making them here first is harmless (it skips existing ones).
    for label in sorted({label for label, _ in ORGANIZER_PERMISSIONS}):
        create_permissions(apps.get_app_config(label), verbosity=0, using=using)
    organizers_group_ensure()


class ChallengesConfig(AppConfig):
    name = "evalserver.challenges"
    label = "challenges"

    def ready(self):
        post_migrate.connect(
            _ensure_organizers_group, sender=self, dispatch_uid="challenges-organizers-group"
        )
