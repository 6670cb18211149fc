"""One account per username, whatever its case, held by the database."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from evalserver.accounts import services as accounts
from evalserver.accounts.models import USERNAME_TAKEN_MESSAGE, User

PASSWORD = "a sturdy pw 91"
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


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _while_dora_signs_up(second: Callable[[], object]) -> object:
    """Run ``second`` while "dora"'s sign-up is inserted but not committed: its check
    passes, then its insert waits on dora's row in the unique index and fails when that
    commits. Returns what ``second`` returned."""
    first_inserted = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, object] = {}

    def sign_up_dora():
        try:
            with transaction.atomic():
                accounts.user_create(username="dora", email="dora@example.org", password=PASSWORD)
                first_inserted.set()
                release_first.wait(timeout=20)
        finally:
            connections.close_all()

    def run_second():
        try:
            outcome["second"] = second()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_up_dora), threading.Thread(target=run_second)]
    threads[0].start()
    assert first_inserted.wait(timeout=20)
    threads[1].start()
    deadline = time.monotonic() + 20
    while not _waiting_on_a_lock():
        assert time.monotonic() < deadline, "the second sign-up never waited on the first"
        time.sleep(0.02)
    release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    return outcome["second"]


@pytest.mark.django_db(transaction=True)
def test_the_service_turns_a_lost_race_into_the_field_error():
    def second():
        try:
            accounts.user_create(username="DORA", email="explorer@example.org", password=PASSWORD)
        except accounts.AccountInvalid as exc:
            return exc.field_errors
        return "created"

    assert _while_dora_signs_up(second) == {"username": [USERNAME_TAKEN_MESSAGE]}
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

    status, body = _while_dora_signs_up(second)

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

    status, html = _while_dora_signs_up(second)

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
