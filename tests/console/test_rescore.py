"""Label fixes with a rank diff (CONTRACT section 6), with tasks run in the test process."""

from __future__ import annotations

import os

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile

from evalserver.challenges.models import Phase
from evalserver.console.models import Rescore, RescoreResult
from evalserver.console.services import rescore_run
from leaderboard.models import LeaderboardVersion
from leaderboard.selectors import leaderboard_ranking
from submissions.models import Submission
from tests.console.conftest import N
from tests.recognition_data import expected_macro_f1, labels_json, random_matrix

pytestmark = pytest.mark.django_db


def _post(client, phase, data: bytes, name: str = "fixed.json"):
    return client.post(
        f"/api/v1/phases/{phase.pk}/rescores/",
        {"labels": SimpleUploadedFile(name, data)},
        format="multipart",
    )


def _token(phase) -> str:
    row = LeaderboardVersion.objects.filter(phase=phase).first()
    return str(row.token) if row else ""


def _board(phase) -> list[tuple[str, int, float]]:
    return [(e.team, e.rank, e.primary_score) for e in leaderboard_ranking(phase=phase)]


def _labels_files() -> set[str]:
    root = storages["labels"].location
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def test_preview_scores_everything_against_the_new_labels_and_leaves_the_board_alone(
    board, organizer_api, inprocess_sync
):
    phase = board.phase
    before_board, before_token = _board(phase), _token(phase)
    before_sha = phase.labels_sha256
    assert [team for team, _, _ in before_board] == ["Alpha", "Charlie's", "Delta"]

    with inprocess_sync():
        response = _post(organizer_api, phase, board.fixed_labels)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "status", "progress", "diff"}
    rescore = Rescore.objects.get(pk=body["id"])
    assert rescore.status == "ready"
    # Nothing live moved: board, version token, labels, submission scores.
    phase.refresh_from_db()
    assert phase.labels_sha256 == before_sha
    assert _board(phase) == before_board
    assert _token(phase) == before_token
    for name, submission in board.submissions.items():
        submission.refresh_from_db()
        assert submission.primary_score == pytest.approx(
            expected_macro_f1(board.truth, board.predictions[name])
        )

    detail = organizer_api.get(f"/api/v1/rescores/{rescore.pk}/?top=1").json()
    assert detail["status"] == "ready"
    assert detail["progress"] == 1.0
    assert detail["scored"] == {"done": 3, "total": 3}
    diff = detail["diff"]
    teams = {row["team"]: row for row in diff["teams"]}
    assert [row["team"] for row in diff["teams"]] == ["Charlie's", "Alpha", "Delta"]
    assert teams["Alpha"]["old_rank"] == 1
    assert teams["Alpha"]["new_rank"] == 2
    assert teams["Alpha"]["change"] == "down"
    assert teams["Alpha"]["moved"] == -1
    assert teams["Charlie's"]["old_rank"] == 2
    assert teams["Charlie's"]["new_rank"] == 1
    assert teams["Charlie's"]["new_score"] == pytest.approx(1.0)
    assert teams["Alpha"]["new_score"] == pytest.approx(
        expected_macro_f1(board.fixed, board.predictions["alice"])
    )
    assert teams["Delta"]["old_score"] == pytest.approx(
        expected_macro_f1(board.truth, board.predictions["dave"])
    )
    assert teams["Delta"]["new_score"] == pytest.approx(
        expected_macro_f1(board.fixed, board.predictions["dave"])
    )
    assert sorted(diff["moved"]) == ["Alpha", "Charlie's"]
    assert diff["entered_top"] == ["Charlie's"]
    assert diff["left_top"] == ["Alpha"]
    assert diff["pending_submission_ids"] == []
    assert diff["failing_submission_ids"] == []


def test_apply_swaps_labels_and_every_score_at_once_with_one_new_board_version(
    board, organizer, organizer_api, inprocess_sync
):
    phase = board.phase
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    old_files = {phase.labels_file.name, phase.labels_compact_file.name}
    with inprocess_sync():
        response = organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "applied"
    phase.refresh_from_db()
    assert phase.labels_sha256 == Rescore.objects.get(pk=rescore_id).labels_sha256
    # The old label files are gone once committed; the new ones are the phase's.
    assert not old_files & _labels_files()
    assert phase.labels_compact_file.name in _labels_files()
    assert [team for team, _, _ in _board(phase)] == ["Charlie's", "Alpha", "Delta"]
    for name, submission in board.submissions.items():
        submission.refresh_from_db()
        assert submission.primary_score == pytest.approx(
            expected_macro_f1(board.fixed, board.predictions[name])
        )
        assert submission.scores["macro_f1"] == submission.primary_score
        event = submission.events.get(action="rescored")
        assert event.actor == organizer
        assert event.detail["rescore"] == rescore_id
    # Another apply is refused: it is no longer ready.
    again = organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/")
    assert again.status_code == 409


def test_apply_bumps_the_leaderboard_version_exactly_once(board, organizer_api, inprocess_sync):
    from leaderboard import services as board_services

    phase = board.phase
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    calls = []
    original = board_services.leaderboard_changed

    def counting(*, phase_ids):
        calls.append(sorted(phase_ids))
        return original(phase_ids=phase_ids)

    import evalserver.console.services as console_services

    console_services.leaderboard_changed = counting
    try:
        before = _token(phase)
        with inprocess_sync():
            assert organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/").status_code == 200
    finally:
        console_services.leaderboard_changed = original
    assert calls == [[phase.pk]]
    assert _token(phase) != before


def test_discard_changes_nothing(board, organizer_api, inprocess_sync):
    phase = board.phase
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    before = (_board(phase), _token(phase), phase.labels_sha256, _labels_files())
    candidate = Rescore.objects.get(pk=rescore_id).labels_compact_file

    with inprocess_sync():
        response = organizer_api.post(f"/api/v1/rescores/{rescore_id}/discard/")

    assert response.status_code == 200
    assert response.json()["status"] == "discarded"
    phase.refresh_from_db()
    assert _board(phase) == before[0]
    assert _token(phase) == before[1]
    assert phase.labels_sha256 == before[2]
    assert candidate not in _labels_files()  # the candidate files are deleted
    assert organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/").status_code == 409
    assert organizer_api.post(f"/api/v1/rescores/{rescore_id}/discard/").status_code == 409


def test_invalid_labels_are_400_with_the_problems_and_store_nothing(board, organizer_api):
    phase = board.phase
    files_before = _labels_files()
    bad = b'[{"id": "00000", "label": ["NotAClass"]}]'

    response = _post(organizer_api, phase, bad)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "labels_invalid"
    assert body["errors"]["labels"]
    assert all(isinstance(p, str) for p in body["errors"]["labels"])
    assert "NotAClass" in " ".join(body["errors"]["labels"])
    assert not Rescore.objects.exists()
    assert _labels_files() == files_before
    empty = _post(organizer_api, phase, b"")
    assert empty.status_code == 400
    assert not Rescore.objects.exists()
    missing = organizer_api.post(f"/api/v1/phases/{phase.pk}/rescores/", {}, format="multipart")
    assert missing.status_code == 400
    same = _post(organizer_api, phase, labels_json(board.truth))
    assert same.status_code == 400
    assert "current label file" in same.json()["detail"]
    assert _labels_files() == files_before


def test_a_second_preview_replaces_the_first(board, organizer_api, inprocess_sync):
    phase = board.phase
    with inprocess_sync():
        first = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    other = labels_json(random_matrix(N, seed=1234))
    with inprocess_sync():
        second = _post(organizer_api, phase, other).json()["id"]

    assert Rescore.objects.get(pk=first).status == "discarded"
    assert Rescore.objects.get(pk=second).status == "ready"
    assert organizer_api.post(f"/api/v1/rescores/{first}/apply/").status_code == 409
    listed = organizer_api.get(f"/api/v1/phases/{phase.pk}/rescores/").json()
    assert [item["id"] for item in listed] == [second, first]


def test_a_submission_finishing_after_the_preview_is_marked_and_scored_at_apply(
    board, organizer_api, inprocess_sync, alice
):
    phase = board.phase
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    late_prediction = random_matrix(N, seed=77, density=0.2)
    with inprocess_sync():
        late = board.upload(alice, late_prediction)
    late.refresh_from_db()
    assert late.status == "finished"  # scored against the live (old) labels

    diff = organizer_api.get(f"/api/v1/rescores/{rescore_id}/").json()["diff"]
    assert diff["pending_submission_ids"] == [late.pk]

    with inprocess_sync():
        assert organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/").status_code == 200
    late.refresh_from_db()
    assert late.primary_score == pytest.approx(expected_macro_f1(board.fixed, late_prediction))
    assert RescoreResult.objects.filter(rescore_id=rescore_id, submission=late).exists()


def test_a_submission_that_no_longer_fits_the_labels_fails_when_applied(
    board, organizer_api, inprocess_sync
):
    phase = board.phase
    # Three clips fewer: every answer file now names clips the labels lack.
    shorter = labels_json(board.fixed[: N - 3])
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, shorter).json()["id"]
    diff = organizer_api.get(f"/api/v1/rescores/{rescore_id}/").json()["diff"]
    ids = sorted(s.pk for s in board.submissions.values())
    assert diff["failing_submission_ids"] == ids
    assert all(row["new_rank"] is None for row in diff["teams"])
    assert sorted(diff["left_top"]) == ["Alpha", "Charlie's", "Delta"]

    with inprocess_sync():
        assert organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/").status_code == 200
    for submission in board.submissions.values():
        submission.refresh_from_db()
        assert submission.status == "failed"
        assert submission.errors
    assert _board(phase) == []


def test_apply_is_refused_when_the_live_labels_changed_meanwhile(
    board, organizer_api, inprocess_sync
):
    from evalserver.challenges.services import phase_set_labels

    phase = board.phase
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    phase_set_labels(phase=phase, data=labels_json(random_matrix(N, seed=5)), filename="x.json")
    response = organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/")
    assert response.status_code == 409
    assert "changed after this preview" in response.json()["detail"]
    assert Rescore.objects.get(pk=rescore_id).status == "ready"


def test_a_preview_resumes_from_its_stored_results(board, organizer, settings):
    """What a redelivered task does after its worker died: only the missing ones are scored."""
    from evalserver.console.services import rescore_start

    settings.EVALSERVER_INPROCESS_TASKS = True
    settings.EVALSERVER_INPROCESS_SYNC = False
    phase = Phase.objects.get(pk=board.phase.pk)
    rescore = rescore_start(phase=phase, actor=organizer, data=board.fixed_labels)
    # (the on-commit enqueue never fires inside the test's transaction)
    done = board.submissions["alice"]
    RescoreResult.objects.create(rescore=rescore, submission=done, primary_score=0.123, scores={})
    Rescore.objects.filter(pk=rescore.pk).update(attempts=1, worker="dead:1")

    assert rescore_run(rescore_id=rescore.pk, worker="w2") == "ready"

    rescore.refresh_from_db()
    assert rescore.status == "ready"
    assert rescore.attempts == 2
    assert rescore.total == 3
    results = dict(
        RescoreResult.objects.filter(rescore=rescore).values_list("submission_id", "primary_score")
    )
    assert results[done.pk] == 0.123  # kept, not scored twice
    charlie = board.submissions["charlie"]
    assert results[charlie.pk] == pytest.approx(1.0)
    assert rescore_run(rescore_id=rescore.pk, worker="w3") == "already ready"


def test_a_preview_that_keeps_killing_its_worker_fails(board, organizer, settings):
    from evalserver.console.services import rescore_start

    rescore = rescore_start(phase=board.phase, actor=organizer, data=board.fixed_labels)
    Rescore.objects.filter(pk=rescore.pk).update(attempts=settings.EVALSERVER_MAX_SCORING_ATTEMPTS)
    assert rescore_run(rescore_id=rescore.pk, worker="w") == "crashed"
    rescore.refresh_from_db()
    assert rescore.status == "failed"
    assert rescore.errors


def test_running_submissions_are_requeued_at_apply_and_a_stale_save_is_refused(
    board, organizer_api, inprocess_sync, alice
):
    """A submission a worker claimed under the old labels: apply puts it back in the queue,
    and the worker's save of old-label scores finds it no longer running."""
    phase = board.phase
    with inprocess_sync():
        rescore_id = _post(organizer_api, phase, board.fixed_labels).json()["id"]
    running = board.submissions["dave"]
    Submission.objects.filter(pk=running.pk).update(status="running", attempts=1, worker="w:1")

    with inprocess_sync():
        assert organizer_api.post(f"/api/v1/rescores/{rescore_id}/apply/").status_code == 200

    running.refresh_from_db()
    # Requeued and (the test's tasks run at once) scored again, against the new labels.
    assert running.status == "finished"
    assert running.primary_score == pytest.approx(
        expected_macro_f1(board.fixed, board.predictions["dave"])
    )
    assert "requeued" in list(running.events.values_list("action", flat=True))


def test_without_a_broker_a_preview_left_by_a_restarted_process_resumes_when_looked_at(
    board, organizer, organizer_api, inprocess_sync
):
    import datetime as dt

    from django.utils import timezone

    from evalserver.console.services import rescore_start

    rescore = rescore_start(phase=board.phase, actor=organizer, data=board.fixed_labels)
    # Handed out to a web process that has since restarted: nothing is running it.
    Rescore.objects.filter(pk=rescore.pk).update(
        enqueued_at=timezone.now() - dt.timedelta(days=1), attempts=1, worker="web:old:1:x"
    )
    with inprocess_sync():
        body = organizer_api.get(f"/api/v1/rescores/{rescore.pk}/").json()
    assert body["status"] == "ready"
    assert body["scored"] == {"done": 3, "total": 3}
