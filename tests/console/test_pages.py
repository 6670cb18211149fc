"""The console's pages: organizers of the challenge only (404 for anyone else signed in,
the login page for anonymous visitors), and what their buttons do."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from evalserver.announcements.models import Announcement
from evalserver.challenges.models import ChallengeBan
from evalserver.console.models import AuditEntry, Rescore
from evalserver.teams.models import Membership
from submissions.models import Submission
from tests.clients import logged_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _pages(board) -> list[str]:
    slug = board.phase.challenge.slug
    sub = board.submissions["dave"]
    rescore = Rescore.objects.create(
        phase=board.phase,
        status="discarded",
        labels_file="x",
        labels_compact_file="y",
        labels_sha256="z",
    )
    return [
        f"/console/{slug}/",
        f"/console/{slug}/phases/{board.phase.pk}/",
        f"/console/{slug}/rescores/{rescore.pk}/",
        f"/console/{slug}/submissions/",
        f"/console/{slug}/submissions/{sub.pk}/",
        f"/console/{slug}/teams/",
        f"/console/{slug}/teams.csv",
        f"/console/{slug}/audit/",
        f"/console/{slug}/announcements/",
    ]


def _posts(board, alice) -> list[tuple[str, dict]]:
    slug, phase = board.phase.challenge.slug, board.phase
    return [
        (f"/console/{slug}/phases/{phase.pk}/close/", {"reason": "x"}),
        (f"/console/{slug}/phases/{phase.pk}/", {"max_upload_bytes": 5}),
        (
            f"/console/{slug}/phases/{phase.pk}/labels/",
            {"labels": SimpleUploadedFile("l.json", board.fixed_labels), "intent": "preview"},
        ),
        (
            f"/console/{slug}/submissions/",
            {"action": "hide", "ids": [board.submissions["dave"].pk], "reason": "x"},
        ),
        (f"/console/{slug}/users/{alice.pk}/ban/", {"reason": "x"}),
        (f"/console/{slug}/users/{alice.pk}/remove/", {"reason": "x"}),
        (f"/console/{slug}/announcements/", {"title": "t", "body": "b"}),
        (f"/console/{slug}/", {"registration": "approval"}),
        (f"/console/{slug}/teams/{board.submissions['dave'].team_id}/approve/", {}),
        (f"/console/{slug}/rescores/{Rescore.objects.first().pk}/discard/", {}),
    ]


def _state(board):
    board.phase.refresh_from_db()
    return (
        board.phase.is_open,
        board.phase.max_upload_bytes,
        Rescore.objects.exclude(status="discarded").count(),
        sorted(Submission.objects.values_list("pk", "is_hidden")),
        Membership.objects.count(),
        ChallengeBan.objects.count(),
        AuditEntry.objects.count(),
        Announcement.objects.count(),
        type(board.phase.challenge).objects.get(pk=board.phase.challenge_id).registration,
    )


@pytest.mark.parametrize("who", ["otto", "alice"])
def test_every_page_and_action_is_404_for_others(who, board, alice, otto):
    client = logged_in({"otto": otto, "alice": alice}[who])
    for url in [*_pages(board), "/console/no-such-challenge/"]:
        assert client.get(url).status_code == 404, url
    before = _state(board)
    for url, data in _posts(board, alice):
        assert client.post(url, data).status_code == 404, url
    assert _state(board) == before
    # The console's index answers only those who organize something, with their own.
    index = client.get("/console/")
    if who == "alice":
        assert index.status_code == 404
    else:
        assert index.status_code == 200
        assert "other-challenge" in index.content.decode()
        assert board.phase.challenge.slug not in index.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(board, alice):
    client = Client()
    for url in _pages(board):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    before = _state(board)
    for url, data in _posts(board, alice):
        assert client.post(url, data).status_code == 302
    assert _state(board) == before


def test_organizers_and_superusers_see_every_page(board, organizer_web):
    root = logged_in(UserFactory(username="root", is_superuser=True, is_staff=True))
    for client in (organizer_web, root):
        assert client.get("/console/").status_code == 200
        for url in _pages(board):
            response = client.get(url)
            assert response.status_code == 200, url


def test_open_close_settings_and_audit_from_the_pages(board, organizer_web, organizer):
    slug, phase = board.phase.challenge.slug, board.phase
    page = organizer_web.get(f"/console/{slug}/").content.decode()
    assert "Close now" in page
    response = organizer_web.post(
        f"/console/{slug}/phases/{phase.pk}/close/", {"reason": "labels leak"}, follow=True
    )
    assert "is closed" in response.content.decode()
    phase.refresh_from_db()
    assert phase.is_open is False
    assert "Open now" in response.content.decode()
    form = {
        "starts_at": "2020-01-01 00:00:00",
        "ends_at": "2019-01-01 00:00:00",
        "max_submissions_per_day": "",
        "max_submissions_total": "7",
        "max_upload_bytes": "1000",
        "leaderboard_visibility": "private",
        "reason": "",
    }
    bad = organizer_web.post(f"/console/{slug}/phases/{phase.pk}/", form)
    assert bad.status_code == 400
    assert "end after it starts" in bad.content.decode()
    form["ends_at"] = "2099-01-01 00:00:00"
    ok = organizer_web.post(f"/console/{slug}/phases/{phase.pk}/", form)
    assert ok.status_code == 302
    phase.refresh_from_db()
    assert phase.max_submissions_total == 7
    assert phase.leaderboard_visibility == "private"
    audit = organizer_web.get(f"/console/{slug}/audit/").content.decode()
    assert "labels leak" in audit
    assert "phase_updated" in audit


def test_labels_are_checked_then_previewed_then_applied_from_the_pages(
    board, organizer_web, inprocess_sync
):
    slug, phase = board.phase.challenge.slug, board.phase
    url = f"/console/{slug}/phases/{phase.pk}/labels/"
    bad = organizer_web.post(
        url, {"labels": SimpleUploadedFile("l.json", b'[{"id": 1}]'), "intent": "preview"}
    )
    assert bad.status_code == 400
    assert "fails the import" in bad.content.decode()
    assert not Rescore.objects.exists()
    checked = organizer_web.post(
        url, {"labels": SimpleUploadedFile("l.json", board.fixed_labels), "intent": "check"}
    )
    assert "passes the import" in checked.content.decode()
    assert not Rescore.objects.exists()
    with inprocess_sync():
        started = organizer_web.post(
            url, {"labels": SimpleUploadedFile("l.json", board.fixed_labels), "intent": "preview"}
        )
    rescore = Rescore.objects.get()
    assert started["Location"] == f"/console/{slug}/rescores/{rescore.pk}/"
    page = organizer_web.get(started["Location"]).content.decode()
    assert "Entering the top 10" in page
    assert "Charlie&#x27;s" in page
    with inprocess_sync():
        organizer_web.post(f"/console/{slug}/rescores/{rescore.pk}/apply/")
    rescore.refresh_from_db()
    assert rescore.status == "applied"


def test_bulk_actions_from_the_page_need_a_reason(board, organizer_web):
    slug = board.phase.challenge.slug
    ids = [s.pk for s in board.submissions.values()]
    refused = organizer_web.post(f"/console/{slug}/submissions/", {"action": "hide", "ids": ids})
    assert refused.status_code == 400
    assert not Submission.objects.filter(is_hidden=True).exists()
    done = organizer_web.post(
        f"/console/{slug}/submissions/?status=finished",
        {"action": "hide", "ids": ids, "reason": "duplicate account"},
        follow=True,
    )
    assert "Hide: 3 of 3 done" in done.content.decode()
    assert Submission.objects.filter(is_hidden=True).count() == 3
    listing = organizer_web.get(f"/console/{slug}/submissions/?flag=hidden").content.decode()
    assert listing.count('name="ids"') == 3
    detail = organizer_web.get(f"/console/{slug}/submissions/{ids[0]}/").content.decode()
    assert "duplicate account" in detail


def test_teams_page_remove_and_ban(board, organizer_web, alice, bob):
    slug = board.phase.challenge.slug
    page = organizer_web.get(f"/console/{slug}/teams/").content.decode()
    for name in ("Alpha", "Charlie&#x27;s", "Delta", "alice", "bob"):
        assert name in page
    no_reason = organizer_web.post(f"/console/{slug}/users/{bob.pk}/remove/", {"reason": ""})
    assert no_reason.status_code == 302
    assert Membership.objects.filter(user=bob).exists()
    organizer_web.post(f"/console/{slug}/users/{bob.pk}/remove/", {"reason": "left the lab"})
    assert not Membership.objects.filter(user=bob).exists()
    organizer_web.post(f"/console/{slug}/users/{alice.pk}/ban/", {"reason": "cheating"})
    assert ChallengeBan.objects.filter(user=alice).exists()
    page = organizer_web.get(f"/console/{slug}/teams/").content.decode()
    assert "banned: alice" in page
    csv_text = organizer_web.get(f"/console/{slug}/teams.csv").content.decode()
    assert csv_text.splitlines()[0].startswith("team_id,team,members")


def test_list_pages_take_as_many_queries_for_many_rows_as_for_few(
    board, organizer_web, challenge, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import SubmissionFactory, TeamFactory, UserFactory

    slug = challenge.slug
    urls = [f"/console/{slug}/submissions/", f"/console/{slug}/teams/", f"/console/{slug}/"]

    def counts() -> list[int]:
        found = []
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                assert organizer_web.get(url).status_code == 200
            found.append(len(ctx.captured_queries))
        return found

    few = counts()
    for i in range(12):
        team = TeamFactory(challenge=challenge, name=f"Extra {i}")
        Membership.objects.create(
            team=team, user=UserFactory(username=f"x{i}"), challenge=challenge, role="owner"
        )
        SubmissionFactory(phase=board.phase, team=team, status="finished", primary_score=0.1)
    assert counts() == few
