from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

EMAIL_TAKEN_MESSAGE = "An account with this email address already exists."
USERNAME_TAKEN_MESSAGE = "This username is already taken."


class User(AbstractUser):
    """Our own user model from the first migration, so fields can be added without pain."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # One account per address whatever its case (password resets go to it), held by
            # the database: two sign-ups at the same moment both pass the service's check.
            # Accounts without an address (createsuperuser allows that) are not compared.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_ci_unique",
                violation_error_message=EMAIL_TAKEN_MESSAGE,
            ),
            # "Alice" and "alice" are one person to people: the database keeps one of them,
            # whichever of two simultaneous sign-ups commits first. Log-ins still match the
            # name exactly, as Django does.
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message=USERNAME_TAKEN_MESSAGE,
            ),
        ]
