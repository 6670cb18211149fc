"""Final submissions: marking them, the limit, the freeze, and the no-selection rule."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import time_machine
from django.db import connection, connections, transaction

from evalserver.errors import Conflict
from submissions.models import Submission
from submissions.services import submission_select
from tests.clients import logged_in
from tests.factories import PhaseFactory, SubmissionFactory
from tests.final_ranking.conftest import AFTER, DURING, END, START
from tests.leaderboard.conftest import recognition_scores

pytestmark = pytest.mark.django_db


def _patch(client, submission, selected):
    return client.patch(
        f"/api/v1/submissions/{submission.pk}/", {"selected": selected}, format="json"
    )


def test_marking_final_submissions_through_the_api(
    split_board, alice_api, charlie_api, alice, alice_team, charlie, charlie_team
):
    subs = [split_board.upload(alice, split_board.noisy(wrong=0.3, seed=s)) for s in (1, 2, 3)]
    with time_machine.travel(DURING, tick=False):
        first = _patch(alice_api, subs[0], True)
        assert first.status_code == 200
        assert first.json()["selected"] is True
        assert _patch(alice_api, subs[1], True).status_code == 200
        over = _patch(alice_api, subs[2], True)
        assert over.status_code == 409
        assert over.json()["detail"] == (
            f"Your team has already marked 2 submissions as final ({subs[0].pk}, "
            f"{subs[1].pk}); this phase allows 2. Unmark one first."
        )
        assert _patch(charlie_api, subs[0], False).status_code == 404
        assert _patch(alice_api, subs[0], "maybe").status_code == 400
        assert _patch(alice_api, subs[0], False).json()["selected"] is False
        assert _patch(alice_api, subs[2], True).status_code == 200
        listed = alice_api.get(f"/api/v1/phases/{split_board.phase.pk}/submissions/").json()[
            "results"
        ]
        assert {s["id"]: s["selected"] for s in listed} == {
            subs[0].pk: False,
            subs[1].pk: True,
            subs[2].pk: True,
        }
    with time_machine.travel(AFTER, tick=False):
        frozen = _patch(alice_api, subs[1], False)
        assert frozen.status_code == 403
        assert "froze when the phase ended" in frozen.json()["detail"]


def test_selection_needs_a_split_phase_and_a_finished_submission(
    board, split_board, alice_api, alice, alice_team
):
    plain = board.upload(alice, board.noisy(wrong=0.3, seed=1))
    with time_machine.travel(DURING, tick=False):
        response = _patch(alice_api, plain, True)
    assert response.status_code == 400
    assert "no private split" in response.json()["detail"]
    queued = SubmissionFactory(
        phase=split_board.phase, team=alice_team, status=Submission.Status.QUEUED, created_at=DURING
    )
    with time_machine.travel(DURING, tick=False):
        response = _patch(alice_api, queued, True)
    assert response.status_code == 409
    assert "only finished submissions can be marked final" in response.json()["detail"]


def test_the_final_board_uses_selections_or_the_best_public_ones(
    split_board, organizer_api, alice, alice_team, charlie, charlie_team
):
    truth, private = split_board.truth, split_board.private
    # Alpha: its best on public is poor on private; its third is the reverse.
    good_public = np.where(private[:, None], 0, truth).astype(np.uint8)
    mid = split_board.noisy(wrong=0.5, seed=5)
    good_private = np.where(private[:, None], truth, 0).astype(np.uint8)
    a = [split_board.upload(alice, p) for p in (good_public, mid, good_private)]
    c = split_board.upload(charlie, split_board.noisy(wrong=0.4, seed=6))
    url = f"/api/v1/phases/{split_board.phase.pk}/leaderboard/?split=private"

    def alpha_entry():
        entries = organizer_api.get(url).json()["entries"]
        return next(e for e in entries if e["team"] == "Alpha")

    # No selection: the best two by public score are a[0] and a[1]; a[2] does not count.
    assert a[0].primary_score > a[1].primary_score > a[2].primary_score
    assert alpha_entry()["submission_id"] == a[1].pk
    with time_machine.travel(DURING, tick=False):
        submission_select(user=alice, submission=a[2], selected=True)
    assert alpha_entry()["submission_id"] == a[2].pk
    assert alpha_entry()["submission_count"] == 3
    # Every submission counts when the phase sets no limit.
    with time_machine.travel(DURING, tick=False):
        submission_select(user=alice, submission=a[2], selected=False)
    assert alpha_entry()["submission_id"] == a[1].pk
    split_board.phase.max_final_submissions = None
    split_board.phase.save(update_fields=["max_final_submissions"])
    assert alpha_entry()["submission_id"] == a[2].pk
    assert c.pk in [e["submission_id"] for e in organizer_api.get(url).json()["entries"]]


@pytest.mark.django_db(transaction=True)
def test_two_selections_at_once_cannot_pass_the_limit(challenge, alice, alice_team):
    phase = PhaseFactory(
        challenge=challenge,
        slug="race",
        starts_at=START,
        ends_at=END,
        labels_split=True,
        max_final_submissions=2,
    )
    subs = [
        SubmissionFactory(
            phase=phase,
            team=alice_team,
            status=Submission.Status.FINISHED,
            primary_score=0.5,
            scores=recognition_scores(0.5),
            created_at=DURING,
            submitted_by=None,
        )
        for _ in range(3)
    ]
    submission_select(user=alice, submission=subs[0], selected=True, now=DURING)
    first_done = threading.Event()
    release = threading.Event()
    outcome: dict[str, object] = {}

    def first():
        try:
            with transaction.atomic():
                submission_select(user=alice, submission=subs[1], selected=True, now=DURING)
                first_done.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    def second():
        try:
            submission_select(user=alice, submission=subs[2], selected=True, now=DURING)
            outcome["second"] = "selected"
        except Conflict as exc:
            outcome["second"] = exc.message
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_done.wait(timeout=20)
    threads[1].start()
    deadline = time.monotonic() + 20
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
        assert time.monotonic() < deadline, "the second selection never waited on the first"
        time.sleep(0.02)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert "already marked 2 submissions" in str(outcome["second"])
    assert Submission.objects.filter(phase=phase, selected=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_many_selections_at_once_keep_the_limit(challenge, alice, alice_team):
    phase = PhaseFactory(
        challenge=challenge,
        slug="crowd",
        starts_at=START,
        ends_at=END,
        labels_split=True,
        max_final_submissions=2,
    )
    subs = [
        SubmissionFactory(
            phase=phase,
            team=alice_team,
            status=Submission.Status.FINISHED,
            primary_score=0.1 * k,
            scores=recognition_scores(0.1 * k),
            created_at=DURING,
            submitted_by=None,
        )
        for k in range(6)
    ]
    barrier = threading.Barrier(len(subs), timeout=20)
    results: list[str] = []

    def select(submission):
        try:
            barrier.wait()
            submission_select(user=alice, submission=submission, selected=True, now=DURING)
            results.append("ok")
        except Conflict:
            results.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=select, args=(s,)) for s in subs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["conflict"] * 4 + ["ok"] * 2
    assert Submission.objects.filter(phase=phase, selected=True).count() == 2


def test_the_team_list_page_shows_the_toggle_and_the_automatic_choice(
    split_board, alice, alice_team
):
    subs = [split_board.upload(alice, split_board.noisy(wrong=w, seed=1)) for w in (0.2, 0.5, 0.8)]
    url = f"/phases/{split_board.phase.pk}/submissions/"
    with time_machine.travel(DURING, tick=False):
        # Signed in at the travelled-to moment: a session from today has expired by 2031.
        alice_web = logged_in(alice)
        response = alice_web.get(url)
        assert response.status_code == 200, response
        page = response.content.decode()
        assert page.count("final (automatic)") == 2
        assert page.count("Mark final") == 3
        response = alice_web.post(f"/submissions/{subs[2].pk}/select/", {"selected": "1"})
        assert response.status_code == 302
        page = alice_web.get(url).content.decode()
        assert "final (automatic)" not in page
        assert page.count("Unmark") == 1
    with time_machine.travel(AFTER, tick=False):
        page = logged_in(alice).get(url).content.decode()
        assert "Mark final" not in page
        assert "selections froze" in page
