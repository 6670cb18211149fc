"""One account per username, whatever its case, held by the database."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from evalserver.accounts.models import USERNAME_TAKEN_MESSAGE, User
from tests.hardening.races import PASSWORD, service_sign_up, while_first_signs_up

REGISTER = "/api/v1/auth/register/"


@pytest.mark.django_db
def test_the_database_refuses_a_second_account_with_the_name_in_another_case():
    User.objects.create_user(username="dora", email="dora@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="Dora", email="other@example.org")
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_model_validation_names_the_taken_username(alice):
    # What the admin's user forms run before saving: a form error, not a server error.
    other = User(username="ALICE", email="someone@example.org")
    with pytest.raises(ValidationError) as invalid:
        other.validate_constraints()
    assert invalid.value.messages == [USERNAME_TAKEN_MESSAGE]


@pytest.mark.django_db
def test_logging_in_still_matches_the_name_exactly(api, alice):
    # Django's ModelBackend compares usernames exactly; the constraint changes no log-in.
    wrong_case = api.post(
        "/api/v1/auth/token/",
        {"username": "ALICE", "password": "correct horse battery"},
        format="json",
    )
    assert wrong_case.status_code == 400
    right = api.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "correct horse battery"},
        format="json",
    )
    assert right.status_code == 200


# --- Two sign-ups at the same moment --------------------------------------------------------


def while_dora_signs_up(second: Callable[[], object]) -> object:
    return while_first_signs_up({"username": "dora", "email": "dora@example.org"}, second)


@pytest.mark.django_db(transaction=True)
def test_the_service_turns_a_lost_race_into_the_field_error():
    second = service_sign_up(username="DORA", email="explorer@example.org")
    assert while_dora_signs_up(second) == {"username": [USERNAME_TAKEN_MESSAGE]}
    assert list(User.objects.values_list("username", flat=True)) == ["dora"]


@pytest.mark.django_db(transaction=True)
def test_the_register_endpoint_answers_a_lost_race_with_the_field_error():
    def second():
        response = APIClient().post(
            REGISTER,
            {"username": "Dora", "email": "explorer@example.org", "password": PASSWORD},
            format="json",
        )
        return response.status_code, response.json()

    status, body = while_dora_signs_up(second)

    assert status == 400
    assert body["errors"] == {"username": [USERNAME_TAKEN_MESSAGE]}
    assert USERNAME_TAKEN_MESSAGE in body["detail"]
    assert User.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_sign_up_page_shows_a_lost_race_next_to_the_username():
    def second():
        response = Client().post(
            reverse("signup"),
            {
                "username": "dorA",
                "email": "explorer@example.org",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        return response.status_code, response.content.decode()

    status, html = while_dora_signs_up(second)

    assert status == 400
    errors = re.search(
        r'id="id_username_error" data-error-for="username"[^>]*>(.*?)</ul>', html, re.S
    )
    assert errors is not None
    assert USERNAME_TAKEN_MESSAGE in errors.group(1)
    assert User.objects.count() == 1


# --- The migration that adds the constraint ---------------------------------------------------

BEFORE = ("accounts", "0003_user_email_ci_unique")
AFTER = ("accounts", "0004_user_username_ci_unique")


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_accounts_whose_names_differ_only_in_case():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        old_user = executor.loader.project_state([BEFORE]).apps.get_model("accounts", "User")
        for i, name in enumerate(["Dora", "dora", "DORA", "erin", "Fay", "fay"]):
            old_user.objects.create(username=name, email=f"{i}@example.org")
        executor.loader.build_graph()
        with pytest.raises(RuntimeError) as refused:
            executor.migrate([AFTER])
        assert str(refused.value) == (
            "These accounts' usernames differ only in case: DORA, Dora, dora; Fay, fay. "
            "Rename all but one of each (admin) and migrate again."
        )

        old_user.objects.filter(username__in=["Dora", "DORA", "Fay"]).delete()
        executor.loader.build_graph()
        executor.migrate([AFTER])
        with pytest.raises(IntegrityError), transaction.atomic():
            User.objects.create_user(username="ERIN", email="erin@example.org")
    finally:
        User.objects.all().delete()
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert AFTER in MigrationExecutor(connection).loader.applied_migrations
