"""One account per email address, whatever its case, held by the database."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction

from evalserver.accounts import services as accounts
from evalserver.accounts.models import EMAIL_TAKEN_MESSAGE, User

PASSWORD = "a sturdy pw 91"


@pytest.mark.django_db
def test_the_database_refuses_a_second_account_with_the_address_in_another_case():
    User.objects.create_user(username="dora", email="dora@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="dora2", email="DORA@Example.org")
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_accounts_without_an_address_are_not_compared():
    User.objects.create_superuser(username="root", email="", password=PASSWORD)
    User.objects.create_superuser(username="admin", email="", password=PASSWORD)
    assert User.objects.filter(email="").count() == 2


@pytest.mark.django_db
def test_model_validation_names_the_taken_address(alice):
    # What the admin's user forms run before saving: a form error, not a server error.
    other = User(username="dora", email=alice.email.upper())
    with pytest.raises(ValidationError) as invalid:
        other.validate_constraints()
    assert invalid.value.messages == [EMAIL_TAKEN_MESSAGE]


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _second_sign_up_while_the_first_commits(first: dict, second: dict):
    """Sign ``second`` up while ``first``'s sign-up is inserted but not committed: its check
    passes, then its insert waits on the first's row in the unique index and fails when that
    commits. Returns the second's field errors, or "created"."""
    first_inserted = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, object] = {}

    def sign_up_first():
        try:
            with transaction.atomic():
                accounts.user_create(**first, password=PASSWORD)
                first_inserted.set()
                release_first.wait(timeout=20)
        finally:
            connections.close_all()

    def sign_up_second():
        try:
            accounts.user_create(**second, password=PASSWORD)
            outcome["second"] = "created"
        except accounts.AccountInvalid as exc:
            outcome["second"] = exc.field_errors
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_up_first), threading.Thread(target=sign_up_second)]
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
def test_two_sign_ups_with_one_address_at_the_same_moment_make_one_account():
    second = _second_sign_up_while_the_first_commits(
        {"username": "dora", "email": "dora@example.org"},
        {"username": "explorer", "email": "Dora@EXAMPLE.org"},
    )
    # The same field error as the service's own check gives.
    assert second == {"email": [EMAIL_TAKEN_MESSAGE]}
    assert list(User.objects.values_list("username", flat=True)) == ["dora"]


@pytest.mark.django_db(transaction=True)
def test_two_sign_ups_with_one_name_at_the_same_moment_still_name_the_username():
    second = _second_sign_up_while_the_first_commits(
        {"username": "dora", "email": "dora@example.org"},
        {"username": "dora", "email": "other@example.org"},
    )
    assert second == {"username": ["This username is already taken."]}
    assert User.objects.count() == 1
