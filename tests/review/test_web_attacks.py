"""CSRF on every form, participant-chosen text escaped everywhere it is echoed, and no
open redirect through ``next``."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evalserver.teams.models import Team
from submissions.models import Submission
from submissions.services import submission_create
from tests.clients import logged_in
from tests.factories import UserFactory
from tests.recognition_data import LABELLED_CLIPS, answer_bytes, random_matrix

pytestmark = pytest.mark.django_db

PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def _posts(challenge, phase, bob):
    slug = challenge.slug
    return [
        (reverse("team-create", args=[slug]), {"create-name": "X"}),
        (reverse("team-join", args=[slug]), {"join-invite_code": "x"}),
        (reverse("team-leave", args=[slug]), {}),
        (reverse("team-regenerate-invite", args=[slug]), {}),
        (reverse("team-remove-member", args=[slug, bob.pk]), {}),
        (reverse("api-token"), {"action": "rotate"}),
        (reverse("phase-detail", args=[phase.pk]), {"method_name": "x"}),
        (reverse("phase-check", args=[phase.pk]), {}),
        (f"/api/v1/phases/{phase.pk}/validate/", {}),
        (reverse("logout"), {}),
        (reverse("password_change"), {"old_password": "x"}),
        (f"/api/v1/phases/{phase.pk}/submissions/", {"method_name": "x"}),
        (f"/api/v1/challenges/{slug}/teams/", {"name": "X"}),
        ("/api/v1/teams/1/join/", {"invite_code": "x"}),
    ]


def test_every_state_changing_post_needs_the_csrf_token(
    alice, bob, alice_team, challenge, phase_labelled
):
    browser = logged_in(alice, csrf=True)
    for url, data in _posts(challenge, phase_labelled, bob):
        response = browser.post(url, data)
        assert response.status_code == 403, url
    assert Team.objects.count() == 1
    assert Submission.objects.count() == 0


def test_participant_text_is_escaped_on_every_page(
    alice,
    charlie,
    alice_team,
    charlie_team,
    challenge,
    phase_labelled,
    inprocess_sync,
    django_capture_on_commit_callbacks,
):
    Team.objects.filter(pk=alice_team.pk).update(name=PAYLOAD[:100])
    alice_team.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        good = submission_create(
            user=alice,
            phase=phase_labelled,
            upload=SimpleUploadedFile(PAYLOAD, answer_bytes(random_matrix(LABELLED_CLIPS, seed=1))),
            method_name=PAYLOAD,
            description=PAYLOAD,
        )
        bad = submission_create(
            user=alice,
            phase=phase_labelled,
            upload=SimpleUploadedFile("a.txt", (PAYLOAD + " 0 1\n").encode()),
            method_name=PAYLOAD,
        )
    bad.refresh_from_db()
    assert bad.status == "failed"
    assert any("<img" in error for error in bad.errors)  # echoed, so it must be escaped
    browser = logged_in(alice)
    pages = [
        reverse("submission-detail", args=[good.pk]),
        reverse("submission-detail", args=[bad.pk]),
        reverse("submission-list", args=[phase_labelled.pk]),
        reverse("phase-detail", args=[phase_labelled.pk]),
        reverse("phase-leaderboard", args=[phase_labelled.pk]),
        reverse("team-page", args=[challenge.slug]),
    ]
    for url in pages:
        html = browser.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
    # A stranger sees the team and method on the public leaderboard: escaped too.
    html = logged_in(charlie).get(reverse("phase-leaderboard", args=[phase_labelled.pk]))
    assert "<script>alert" not in html.content.decode()
    assert "&lt;script&gt;" in html.content.decode()


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "http:///evil.example/",
        "\\\\evil.example",
    ],
)
def test_next_never_leaves_the_site(client, target):
    UserFactory(username="dora")
    login = client.post(
        f"{reverse('login')}?next={target}",
        {"username": "dora", "password": "correct horse battery", "next": target},
    )
    assert login.status_code == 302
    assert login["Location"].startswith("/"), login["Location"]
    assert not login["Location"].startswith("//")
    client.logout()
    signup = client.post(
        f"{reverse('signup')}?next={target}",
        {
            "username": "ed",
            "email": f"ed{abs(hash(target))}@example.org",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
            "next": target,
        },
    )
    assert signup.status_code == 302, signup.content[:500]
    assert signup["Location"].startswith("/")
    assert not signup["Location"].startswith("//")
    client.logout()
    from evalserver.accounts.models import User

    User.objects.filter(username="ed").delete()
