"""CSV exports: the leaderboard and all submissions, by command and by admin action."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management import CommandError, call_command

from evalserver.challenges.models import Phase
from leaderboard import admin as leaderboard_admin
from leaderboard.models import FrozenLeaderboard
from submissions.models import Submission
from tests.factories import UserFactory
from tests.leaderboard.conftest import END, at, recognition_scores, scored

pytestmark = pytest.mark.django_db


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def board(phase, alice_team, charlie_team, organizer_team, alice):
    per_class = [i / 100 for i in range(26)]
    return {
        "alice": scored(
            phase,
            alice_team,
            0.4,
            at=at(1),
            method_name="=HYPERLINK(1)",
            scores=recognition_scores(0.4, per_class_f1=per_class),
            submitted_by=alice,
        ),
        "alice_old": scored(phase, alice_team, 0.2, at=at(0.5)),
        "charlie": scored(phase, charlie_team, 0.6, at=at(2), method_name="TinyNet"),
        "baseline": scored(phase, organizer_team, 0.5, at=at(0), is_baseline=True),
        "failed": scored(
            phase,
            charlie_team,
            None,
            at=at(3),
            status=Submission.Status.FAILED,
            errors=["line 17: duplicate id 00016"],
        ),
        "late": scored(phase, charlie_team, 0.9, at=END + dt.timedelta(hours=1)),
    }


def _export(*args) -> str:
    out = io.StringIO()
    call_command("export_leaderboard", "--phase", "tinyactions-test/dev", *args, stdout=out)
    return out.getvalue()


def test_leaderboard_csv_has_every_column_and_row(phase, board):
    text = _export()
    header = next(csv.reader(io.StringIO(text)))
    rows = _rows(text)

    assert header[:7] == [
        "rank",
        "team",
        "method_name",
        "macro_f1",
        "macro_precision",
        "macro_recall",
        "micro_f1",
    ]
    assert header[7] == "f1:Opening"
    assert header[7 + 25] == "f1:Misc"
    assert header[-4:] == ["submission_count", "submitted_at", "submission_id", "is_baseline"]
    assert [(r["rank"], r["team"], r["is_baseline"]) for r in rows] == [
        ("1", "Charlie's", "false"),
        ("", "Organizers", "true"),
        ("2", "Alpha", "false"),
    ]
    alice = rows[2]
    assert alice["submission_id"] == str(board["alice"].pk)
    assert float(alice["macro_f1"]) == 0.4
    assert float(alice["micro_f1"]) == board["alice"].scores["micro_f1"]
    assert float(alice["f1:Misc"]) == 0.25
    assert alice["submission_count"] == "2"
    assert dt.datetime.fromisoformat(alice["submitted_at"]) == at(1)
    # A participant-chosen name cannot become a spreadsheet formula.
    assert alice["method_name"] == "'=HYPERLINK(1)"


def test_leaderboard_csv_of_a_frozen_phase_is_the_frozen_board(phase, board, organizer):
    from leaderboard.services import leaderboard_freeze

    with time_machine.travel(END + dt.timedelta(days=1), tick=False):
        leaderboard_freeze(phase=phase, actor=organizer)
    board["charlie"].is_disqualified = True
    board["charlie"].save(update_fields=["is_disqualified"])

    assert [r["team"] for r in _rows(_export())] == ["Charlie's", "Organizers", "Alpha"]


def test_private_phases_export_in_full(phase, board):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])

    assert [r["rank"] for r in _rows(_export())] == ["1", "", "2"]


def test_submissions_csv_lists_every_submission_oldest_first(phase, board):
    rows = _rows(_export("--submissions"))

    order = ["baseline", "alice_old", "alice", "charlie", "failed", "late"]
    assert [r["submission_id"] for r in rows] == [str(board[k].pk) for k in order]
    by_id = {r["submission_id"]: r for r in rows}
    alice = by_id[str(board["alice"].pk)]
    assert (alice["team"], alice["submitted_by"], alice["status"]) == ("Alpha", "alice", "finished")
    assert alice["method_name"] == "'=HYPERLINK(1)"
    assert float(alice["f1:Interacts"]) == 0.01
    failed = by_id[str(board["failed"].pk)]
    assert (failed["status"], failed["macro_f1"], failed["errors"]) == (
        "failed",
        "",
        "line 17: duplicate id 00016",
    )
    late = by_id[str(board["late"].pk)]
    assert (late["inside_phase_dates"], float(late["macro_f1"])) == ("false", 0.9)
    baseline = by_id[str(board["baseline"].pk)]
    assert (baseline["is_baseline"], baseline["inside_phase_dates"]) == ("true", "true")


def test_export_to_a_file(phase, board, tmp_path, capsys):
    target = tmp_path / "board.csv"

    call_command("export_leaderboard", "--phase", "tinyactions-test/dev", "-o", str(target))

    assert [r["team"] for r in _rows(target.read_text())] == ["Charlie's", "Organizers", "Alpha"]
    assert "Exported 3 leaderboard entries" in capsys.readouterr().err


def test_export_to_an_unwritable_place_is_a_clear_error(phase, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        call_command(
            "export_leaderboard", "--phase", "tinyactions-test/dev", "-o", str(tmp_path / "no/x")
        )


def test_export_of_an_unknown_phase(phase):
    with pytest.raises(CommandError, match="No phase 'final'"):
        call_command("export_leaderboard", "--phase", "tinyactions-test/final")


def _phase_admin():
    return admin.site._registry.get(Phase) or admin.ModelAdmin(Phase, admin.site)


def _admin_request(rf, user):
    request = rf.post("/admin/challenges/phase/")
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_admin_exports_a_phase_leaderboard(rf, phase, board, organizer):
    request = _admin_request(rf, organizer)

    response = leaderboard_admin.export_leaderboard_csv(
        _phase_admin(), request, Phase.objects.filter(pk=phase.pk)
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="tinyactions-test-dev-leaderboard.csv"' in response["Content-Disposition"]
    assert [r["team"] for r in _rows(response.content.decode())] == [
        "Charlie's",
        "Organizers",
        "Alpha",
    ]


def test_admin_exports_a_phase_submissions(rf, phase, board, organizer):
    response = leaderboard_admin.export_submissions_csv(
        _phase_admin(), _admin_request(rf, organizer), Phase.objects.filter(pk=phase.pk)
    )

    assert len(_rows(response.content.decode())) == len(board)


def test_admin_export_wants_exactly_one_phase(rf, phase, organizer, challenge):
    from tests.factories import PhaseFactory

    PhaseFactory(challenge=challenge)
    request = _admin_request(rf, organizer)

    response = leaderboard_admin.export_leaderboard_csv(
        _phase_admin(), request, Phase.objects.all()
    )

    assert response is None
    assert [str(m) for m in get_messages(request)] == ["Select exactly one phase to export."]


def test_admin_export_refuses_other_challenges_staff(rf, phase, board):
    # Admin access alone is not enough: organizers of another challenge get nothing.
    outsider = UserFactory(username="eve")
    request = _admin_request(rf, outsider)

    response = leaderboard_admin.export_leaderboard_csv(
        _phase_admin(), request, Phase.objects.filter(pk=phase.pk)
    )

    assert response is None
    assert "not an organizer" in str(next(iter(get_messages(request))))


def test_admin_freeze_and_reveal_actions(rf, phase, organizer):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    request = _admin_request(rf, organizer)
    phases = Phase.objects.filter(pk=phase.pk)

    with time_machine.travel(END - dt.timedelta(days=1), tick=False):
        leaderboard_admin.freeze_leaderboard(_phase_admin(), request, phases)
        leaderboard_admin.reveal_leaderboard(_phase_admin(), request, phases)
    with time_machine.travel(END + dt.timedelta(days=1), tick=False):
        leaderboard_admin.freeze_leaderboard(_phase_admin(), request, phases)

    messages = [str(m) for m in get_messages(request)]
    assert "only after the deadline" in messages[0]
    assert messages[1:] == [
        "Revealed the leaderboard of tinyactions-test/dev.",
        "Froze the leaderboard of tinyactions-test/dev.",
    ]
    assert FrozenLeaderboard.objects.filter(phase=phase, frozen_by=organizer).exists()
    phase.refresh_from_db()
    assert phase.leaderboard_revealed_at is not None

    leaderboard_admin.unfreeze_leaderboard(_phase_admin(), request, phases)
    assert not FrozenLeaderboard.objects.exists()


def test_the_phase_admin_offers_the_actions_over_http(client, phase, board, organizer):
    from django.contrib.auth.models import Group

    from evalserver.challenges.organizers import ORGANIZERS_GROUP

    # What an organizer needs for the admin: listed on the challenge (the fixture), staff,
    # and in the Organizers group.
    assert phase.challenge.organizers.filter(pk=organizer.pk).exists()
    organizer.is_staff = True
    organizer.save(update_fields=["is_staff"])
    organizer.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    client.force_login(organizer)

    response = client.post(
        "/admin/challenges/phase/",
        {"action": "export_leaderboard_csv", "_selected_action": [phase.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [r["rank"] for r in _rows(response.content.decode())] == ["1", "", "2"]
