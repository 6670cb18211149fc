"""The organizer API: every call scoped to the challenge's organizers (404 for everyone
else, 401 without credentials), and what each one does."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from evalserver.announcements.models import Announcement
from evalserver.challenges.models import ChallengeBan
from evalserver.console.models import AuditEntry
from evalserver.teams.models import Membership, Team
from submissions.models import Submission
from tests.factories import TeamFactory, UserFactory
from tests.recognition_data import labels_json, random_matrix

pytestmark = pytest.mark.django_db


def _calls(board, alice):
    """(method, path, body, format) of every organizer call, on the board's objects."""
    phase, slug = board.phase, board.phase.challenge.slug
    sub = board.submissions["dave"]
    return [
        ("get", "/api/v1/organizer/challenges/", None),
        ("get", f"/api/v1/organizer/phases/{phase.pk}/", None),
        ("patch", f"/api/v1/organizer/phases/{phase.pk}/", {"max_submissions_total": 50}),
        ("post", f"/api/v1/organizer/phases/{phase.pk}/close/", {"reason": "x"}),
        ("post", f"/api/v1/organizer/phases/{phase.pk}/open/", {"reason": "x"}),
        (
            "post",
            f"/api/v1/organizer/phases/{phase.pk}/labels/check/",
            {"labels": SimpleUploadedFile("l.json", board.fixed_labels)},
        ),
        (
            "post",
            f"/api/v1/organizer/phases/{phase.pk}/labels/",
            {"labels": SimpleUploadedFile("l.json", board.fixed_labels)},
        ),
        ("get", f"/api/v1/phases/{phase.pk}/rescores/", None),
        (
            "post",
            f"/api/v1/phases/{phase.pk}/rescores/",
            {"labels": SimpleUploadedFile("l.json", board.fixed_labels)},
        ),
        ("get", f"/api/v1/organizer/challenges/{slug}/submissions/", None),
        (
            "post",
            f"/api/v1/organizer/challenges/{slug}/submissions/actions/",
            {"action": "hide", "ids": [sub.pk], "reason": "test"},
        ),
        ("get", f"/api/v1/organizer/submissions/{sub.pk}/events/", None),
        ("get", f"/api/v1/organizer/challenges/{slug}/teams/", None),
        ("get", f"/api/v1/organizer/challenges/{slug}/teams.csv", None),
        ("get", f"/api/v1/organizer/challenges/{slug}/bans/", None),
        ("get", f"/api/v1/organizer/challenges/{slug}/audit/", None),
        ("get", f"/api/v1/organizer/challenges/{slug}/announcements/", None),
        (
            "post",
            f"/api/v1/organizer/challenges/{slug}/announcements/",
            {"title": "t", "body": "b"},
        ),
        ("patch", f"/api/v1/organizer/challenges/{slug}/", {"registration": "approval"}),
        (
            "post",
            f"/api/v1/organizer/challenges/{slug}/teams/{sub.team_id}/approve/",
            {"reason": "ok"},
        ),
        (
            "post",
            f"/api/v1/organizer/challenges/{slug}/members/{alice.pk}/remove/",
            {"reason": "test"},
        ),
        (
            "post",
            f"/api/v1/organizer/challenges/{slug}/bans/",
            {"user_id": alice.pk, "reason": "test"},
        ),
        (
            "post",
            f"/api/v1/organizer/challenges/{slug}/bans/{alice.pk}/lift/",
            {"reason": "test"},
        ),
    ]


def _send(client, method, path, body):
    multipart = isinstance(body, dict) and any(
        isinstance(v, SimpleUploadedFile) for v in body.values()
    )
    kwargs = {"format": "multipart" if multipart else "json"} if body is not None else {}
    return (
        getattr(client, method)(path, body, **kwargs)
        if body is not None
        else getattr(client, method)(path)
    )


def _state(board):
    phase = board.phase
    phase.refresh_from_db()
    return (
        phase.is_open,
        phase.max_submissions_total,
        phase.labels_sha256,
        sorted(Submission.objects.values_list("pk", "is_hidden")),
        Membership.objects.count(),
        ChallengeBan.objects.count(),
        AuditEntry.objects.count(),
        Announcement.objects.count(),
        type(phase.challenge).objects.get(pk=phase.challenge_id).registration,
    )


@pytest.mark.parametrize("who", ["otto", "alice", "anonymous"])
def test_nobody_but_the_organizers_reaches_any_call_or_changes_anything(
    who, board, alice, alice_api, otto_api
):
    client = {"otto": otto_api, "alice": alice_api, "anonymous": APIClient()}[who]
    before = _state(board)
    for method, path, body in _calls(board, alice):
        response = _send(client, method, path, body)
        if path == "/api/v1/organizer/challenges/" and who != "anonymous":
            # The list answers everybody signed in, with their own challenges only.
            slugs = [c["slug"] for c in response.json()]
            assert board.phase.challenge.slug not in slugs
            continue
        expected = 401 if who == "anonymous" else 404
        assert response.status_code == expected, (who, method, path, response.content[:200])
    assert _state(board) == before


def test_the_organizer_and_a_superuser_reach_every_call(board, alice, organizer_api):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    root = APIClient()
    root.force_authenticate(superuser)
    for client in (organizer_api, root):
        for method, path, body in _calls(board, alice):
            response = _send(client, method, path, body)
            if path.endswith("/labels/"):
                # Refused for a good reason: the phase has scored submissions.
                assert response.status_code == 409, response.content
                continue
            if path.endswith(f"/members/{alice.pk}/remove/") and client is root:
                assert response.status_code == 404  # alice left her team the first time
                continue
            assert response.status_code in (200, 201, 204), (method, path, response.content)
        ChallengeBan.objects.all().delete()


def test_phase_settings_open_close_and_audit(board, organizer, organizer_api):
    phase = board.phase
    url = f"/api/v1/organizer/phases/{phase.pk}/"
    ends = (timezone.now() + dt.timedelta(days=3)).replace(microsecond=0)
    response = organizer_api.patch(
        url,
        {"ends_at": ends.isoformat(), "max_submissions_per_day": 3, "reason": "extension"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    phase.refresh_from_db()
    assert phase.ends_at == ends
    assert phase.max_submissions_per_day == 3
    entry = AuditEntry.objects.get(action="phase_updated")
    assert entry.actor == organizer
    assert entry.reason == "extension"
    assert set(entry.detail["changes"]) == {"ends_at", "max_submissions_per_day"}

    bad = organizer_api.patch(url, {"ends_at": "2000-01-01T00:00:00Z"}, format="json")
    assert bad.status_code == 400
    assert "end after it starts" in bad.json()["detail"]
    assert (
        organizer_api.patch(url, {"leaderboard_visibility": "x"}, format="json").status_code == 400
    )
    assert organizer_api.patch(url, {"max_upload_bytes": 0}, format="json").status_code == 400

    closed = organizer_api.post(f"{url}close/", {"reason": "leak"}, format="json").json()
    assert closed["is_open"] is False
    assert closed["is_open_now"] is False
    # Open now: a start in the future moves to now.
    phase.starts_at = timezone.now() + dt.timedelta(days=1)
    phase.save()
    opened = organizer_api.post(f"{url}open/", {}, format="json").json()
    assert opened["is_open"] is True
    assert opened["is_open_now"] is True
    # An ended phase cannot be opened without moving its end first.
    phase.refresh_from_db()
    phase.starts_at = timezone.now() - dt.timedelta(days=5)
    phase.ends_at = timezone.now() - dt.timedelta(days=1)
    phase.save()
    refused = organizer_api.post(f"{url}open/", {}, format="json")
    assert refused.status_code == 409
    assert "move its end date" in refused.json()["detail"]


def test_labels_are_checked_before_anything_is_saved(board, organizer_api, challenge):
    from tests.factories import PhaseFactory

    empty_phase = PhaseFactory(challenge=challenge, slug="fresh")
    url = f"/api/v1/organizer/phases/{empty_phase.pk}/labels/"
    bad = b'[{"id": "1", "label": ["Nope"]}, {"label": ["Opening"]}]'
    check = organizer_api.post(
        url + "check/", {"labels": SimpleUploadedFile("l.json", bad)}, format="multipart"
    ).json()
    assert check["valid"] is False
    assert len(check["errors"]) >= 2
    assert check["saved"] is False
    refused = organizer_api.post(
        url, {"labels": SimpleUploadedFile("l.json", bad)}, format="multipart"
    )
    assert refused.status_code == 400
    assert refused.json()["errors"]["labels"]
    empty_phase.refresh_from_db()
    assert not empty_phase.labels_sha256

    good = labels_json(random_matrix(10, seed=1))
    ok = organizer_api.post(url, {"labels": SimpleUploadedFile("l.json", good)}, format="multipart")
    assert ok.status_code == 200, ok.json()
    assert ok.json()["saved"] is True
    assert ok.json()["n_items"] == 10
    empty_phase.refresh_from_db()
    assert empty_phase.n_items == 10
    assert AuditEntry.objects.filter(action="labels_replaced").count() == 1


def test_submission_filters_and_pagination(board, organizer_api, settings):
    slug = board.phase.challenge.slug
    url = f"/api/v1/organizer/challenges/{slug}/submissions/"
    everything = organizer_api.get(url).json()
    assert everything["count"] == 3
    alpha = organizer_api.get(url, {"team": "alp"}).json()
    assert [r["team"] for r in alpha["results"]] == ["Alpha"]
    team_id = alpha["results"][0]["team_id"]
    assert organizer_api.get(url, {"team": str(team_id)}).json()["count"] == 1
    assert organizer_api.get(url, {"status": "failed"}).json()["count"] == 0
    assert (
        organizer_api.get(url, {"phase": board.phase.pk, "status": "finished"}).json()["count"] == 3
    )
    today = timezone.now().date()
    assert organizer_api.get(url, {"since": today.isoformat()}).json()["count"] == 3
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert organizer_api.get(url, {"until": yesterday}).json()["count"] == 0
    bad = organizer_api.get(url, {"status": "nope", "since": "tomorrow", "flag": "x"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"status", "since", "flag"}
    page = organizer_api.get(url, {"page": 2}).json() if everything["next"] else None
    assert page is None  # 3 rows fit one page of 50


def test_bulk_actions_need_a_reason_use_the_services_and_tell_the_team(
    board, organizer, organizer_api, alice_web, inprocess_sync
):
    slug = board.phase.challenge.slug
    url = f"/api/v1/organizer/challenges/{slug}/submissions/actions/"
    alice_sub = board.submissions["alice"]
    ids = [alice_sub.pk, board.submissions["dave"].pk]

    no_reason = organizer_api.post(
        url, {"action": "disqualify", "ids": ids, "reason": " "}, format="json"
    )
    assert no_reason.status_code == 400
    assert not Submission.objects.filter(is_disqualified=True).exists()

    response = organizer_api.post(
        url,
        {"action": "disqualify", "ids": [*ids, 999999], "reason": "copied answers"},
        format="json",
    )
    assert response.status_code == 200
    outcomes = {o["id"]: o for o in response.json()}
    assert outcomes[alice_sub.pk]["ok"] is True
    assert outcomes[999999]["ok"] is False
    alice_sub.refresh_from_db()
    assert alice_sub.is_disqualified
    event = alice_sub.events.get(action="flags")
    assert event.actor == organizer
    assert event.detail["reason"] == "copied answers"

    # The team sees the reason on its submission page.
    page = alice_web.get(f"/submissions/{alice_sub.pk}/").content.decode()
    assert "Disqualified" in page
    assert "copied answers" in page

    # A queued submission cannot be re-run; a finished one can, and is scored again.
    with inprocess_sync():
        rerun = organizer_api.post(
            url, {"action": "rerun", "ids": [alice_sub.pk], "reason": "worker bug"}, format="json"
        ).json()
    assert rerun[0]["ok"] is True
    alice_sub.refresh_from_db()
    assert alice_sub.status == "finished"
    cancel = organizer_api.post(
        url, {"action": "cancel", "ids": [alice_sub.pk], "reason": "x"}, format="json"
    ).json()
    assert cancel[0]["ok"] is False
    assert "only queued" in cancel[0]["detail"]
    events = organizer_api.get(f"/api/v1/organizer/submissions/{alice_sub.pk}/events/").json()
    assert [e["action"] for e in events][-3:] == ["rerun", "started", "finished"]
    assert events[-3]["reason"] == "worker bug"
    unknown = organizer_api.post(
        url, {"action": "explode", "ids": ids, "reason": "x"}, format="json"
    )
    assert unknown.status_code == 400


def test_teams_list_csv_remove_member_and_ban(
    board, organizer_api, alice, bob, alice_api, alice_team, challenge
):
    slug = challenge.slug
    teams = organizer_api.get(f"/api/v1/organizer/challenges/{slug}/teams/").json()
    alpha = next(t for t in teams if t["name"] == "Alpha")
    assert [m["username"] for m in alpha["members"]] == ["alice", "bob"]
    assert alpha["submissions"] == 1
    assert alpha["last_activity"] is not None

    evil = TeamFactory(challenge=challenge, name='=HYPERLINK("http://x")')
    evil_owner = UserFactory(username="@mallory")
    Membership.objects.create(team=evil, user=evil_owner, challenge=challenge, role="owner")
    body = organizer_api.get(f"/api/v1/organizer/challenges/{slug}/teams.csv")
    assert body["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.content.decode())))
    assert rows[0][:3] == ["team_id", "team", "members"]
    evil_row = next(r for r in rows if "HYPERLINK" in r[1])
    assert evil_row[1].startswith("'=")
    assert evil_row[2].startswith("'@")

    # Remove bob (a member): the team stays, alice still owns it.
    removed = organizer_api.post(
        f"/api/v1/organizer/challenges/{slug}/members/{bob.pk}/remove/",
        {"reason": "asked"},
        format="json",
    )
    assert removed.status_code == 204
    assert not Membership.objects.filter(user=bob).exists()
    assert AuditEntry.objects.get(action="member_removed").reason == "asked"

    # Ban alice: out of the team, submissions stay flagged, no upload, team or join.
    banned = organizer_api.post(
        f"/api/v1/organizer/challenges/{slug}/bans/",
        {"user_id": alice.pk, "reason": "cheating"},
        format="json",
    )
    assert banned.status_code == 201, banned.json()
    assert not Membership.objects.filter(user=alice, challenge=challenge).exists()
    assert Submission.objects.filter(team=alice_team).count() == 1
    flagged = organizer_api.get(
        f"/api/v1/organizer/challenges/{slug}/submissions/", {"flag": "banned"}
    ).json()
    assert [r["team"] for r in flagged["results"]] == ["Alpha"]
    teams = organizer_api.get(f"/api/v1/organizer/challenges/{slug}/teams/").json()
    assert next(t for t in teams if t["name"] == "Alpha")["banned_users"] == ["alice"]

    created = alice_api.post(
        f"/api/v1/challenges/{slug}/teams/", {"name": "Comeback"}, format="json"
    )
    assert created.status_code == 403
    assert "banned" in created.json()["detail"]
    joined = alice_api.post(
        f"/api/v1/teams/{alice_team.pk}/join/",
        {"invite_code": alice_team.invite_code},
        format="json",
    )
    assert joined.status_code == 403
    # Even put back in a team by hand, the upload is refused.
    Membership.objects.create(team=alice_team, user=alice, challenge=challenge)
    upload = alice_api.post(
        f"/api/v1/phases/{board.phase.pk}/submissions/",
        {"file": SimpleUploadedFile("a.txt", b"x")},
        format="multipart",
    )
    assert upload.status_code == 403
    assert "banned" in upload.json()["detail"]
    again = organizer_api.post(
        f"/api/v1/organizer/challenges/{slug}/bans/",
        {"user_id": alice.pk, "reason": "x"},
        format="json",
    )
    assert again.status_code == 409
    lifted = organizer_api.post(
        f"/api/v1/organizer/challenges/{slug}/bans/{alice.pk}/lift/",
        {"reason": "appeal"},
        format="json",
    )
    assert lifted.status_code == 204
    assert not ChallengeBan.objects.exists()
    actions = [
        e["action"] for e in organizer_api.get(f"/api/v1/organizer/challenges/{slug}/audit/").json()
    ]
    assert actions == ["user_unbanned", "user_banned", "member_removed"]


def test_an_organizer_cannot_be_banned(board, organizer, organizer_api, challenge):
    response = organizer_api.post(
        f"/api/v1/organizer/challenges/{challenge.slug}/bans/",
        {"user_id": organizer.pk, "reason": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert Team.objects.exists()
