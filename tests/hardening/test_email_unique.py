"""One account per email address, whatever its case, held by the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from evalserver.accounts.models import EMAIL_TAKEN_MESSAGE, User
from tests.hardening.races import PASSWORD, service_sign_up, while_first_signs_up


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


@pytest.mark.django_db(transaction=True)
def test_two_sign_ups_with_one_address_at_the_same_moment_make_one_account():
    second = while_first_signs_up(
        {"username": "dora", "email": "dora@example.org"},
        service_sign_up(username="explorer", email="Dora@EXAMPLE.org"),
    )
    # The same field error as the service's own check gives.
    assert second == {"email": [EMAIL_TAKEN_MESSAGE]}
    assert list(User.objects.values_list("username", flat=True)) == ["dora"]


@pytest.mark.django_db(transaction=True)
def test_two_sign_ups_with_one_name_at_the_same_moment_still_name_the_username():
    second = while_first_signs_up(
        {"username": "dora", "email": "dora@example.org"},
        service_sign_up(username="dora", email="other@example.org"),
    )
    assert second == {"username": ["This username is already taken."]}
    assert User.objects.count() == 1
