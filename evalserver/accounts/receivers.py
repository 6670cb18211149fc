"""Signal receivers of the accounts app, connected in ``AccountsConfig.ready``."""

from evalserver.accounts import services


def password_saved(sender, instance, created, **kwargs) -> None:
    """``post_save`` of User: a password set with ``set_password`` is still in ``_password``
    until ``save`` returns. A hash upgrade at login (``check_password``) clears it first, so
    it does not count as a change."""
    if created or getattr(instance, "_password", None) is None:
        return
    services.user_password_changed(user=instance)
