"""A sign-up that fails validation must not forget where the participant was going."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_failed_sign_up_keeps_next(client):
    # The form posts to the bare sign-up URL, with ``next`` in a hidden field.
    response = client.post(
        reverse("signup"),
        {
            "username": "",
            "email": "bad",
            "password1": "a",
            "password2": "b",
            "next": "/challenges/x/team/",
        },
    )
    assert response.status_code == 400
    assert 'name="next" value="/challenges/x/team/"' in response.content.decode()
