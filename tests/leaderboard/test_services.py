"""Freezing, unfreezing and revealing a leaderboard; the freeze command."""

import datetime as dt

import pytest
import time_machine
from django.core.management import CommandError, call_command

from evalserver.challenges.models import Phase
from evalserver.errors import Conflict, PermissionDenied, ValidationFailed
from leaderboard.models import FrozenLeaderboard
from leaderboard.selectors import leaderboard_entries, phase_for_leaderboard
from leaderboard.services import leaderboard_freeze, leaderboard_reveal, leaderboard_unfreeze
from tests.leaderboard.conftest import END, at, scored

pytestmark = pytest.mark.django_db

AFTER_DEADLINE = END + dt.timedelta(minutes=5)


def test_freeze_keeps_the_ranking_as_it_stands(phase, organizer, alice_team, charlie_team):
    alice = scored(phase, alice_team, 0.3, at=at(1))
    charlie = scored(phase, charlie_team, 0.5, at=at(1))

    with time_machine.travel(AFTER_DEADLINE, tick=False):
        frozen = leaderboard_freeze(phase=phase, actor=organizer)

    assert frozen.frozen_by == organizer
    assert frozen.frozen_at == AFTER_DEADLINE
    assert [(e["rank"], e["submission_id"]) for e in frozen.entries] == [
        (1, charlie.pk),
        (2, alice.pk),
    ]
    # What is served afterwards is the frozen board, with the same entries.
    charlie.is_hidden = True
    charlie.save(update_fields=["is_hidden"])
    reloaded = phase_for_leaderboard(phase_id=phase.pk, user=organizer)
    entries, frozen_at = leaderboard_entries(phase=reloaded)
    assert frozen_at == AFTER_DEADLINE
    assert [(e.rank, e.team, e.submission_id) for e in entries] == [
        (1, "Charlie's", charlie.pk),
        (2, "Alpha", alice.pk),
    ]
    assert entries[0].submitted_at == at(1)


def test_freeze_before_the_deadline_is_refused(phase, organizer):
    with (
        time_machine.travel(END - dt.timedelta(seconds=1), tick=False),
        pytest.raises(ValidationFailed, match="only after the deadline"),
    ):
        leaderboard_freeze(phase=phase, actor=organizer)
    assert not FrozenLeaderboard.objects.exists()


def test_only_organizers_freeze(phase, alice):
    with (
        time_machine.travel(AFTER_DEADLINE, tick=False),
        pytest.raises(PermissionDenied),
    ):
        leaderboard_freeze(phase=phase, actor=alice)
    assert not FrozenLeaderboard.objects.exists()


def test_freezing_twice_is_a_conflict_and_unfreeze_allows_a_new_freeze(
    phase, organizer, alice_team
):
    with time_machine.travel(AFTER_DEADLINE, tick=False):
        leaderboard_freeze(phase=phase, actor=organizer)
        with pytest.raises(Conflict, match="already frozen"):
            leaderboard_freeze(phase=phase, actor=organizer)

        leaderboard_unfreeze(phase=phase, actor=organizer)
        late_fix = scored(phase, alice_team, 0.4, at=at(1))
        refrozen = leaderboard_freeze(phase=phase, actor=organizer)

    assert [e["submission_id"] for e in refrozen.entries] == [late_fix.pk]
    leaderboard_unfreeze(phase=phase, actor=organizer)
    with pytest.raises(Conflict, match="not frozen"):
        leaderboard_unfreeze(phase=phase, actor=organizer)


def test_only_organizers_unfreeze(phase, organizer, alice):
    with time_machine.travel(AFTER_DEADLINE, tick=False):
        leaderboard_freeze(phase=phase, actor=organizer)
    with pytest.raises(PermissionDenied):
        leaderboard_unfreeze(phase=phase, actor=alice)
    assert FrozenLeaderboard.objects.filter(phase=phase).exists()


def test_staff_users_organize_only_the_challenges_that_list_them(phase):
    from tests.factories import UserFactory

    # is_staff only lets a user into the admin; it makes nobody an organizer.
    staff = UserFactory(username="staffer", is_staff=True)
    with time_machine.travel(AFTER_DEADLINE, tick=False):
        with pytest.raises(PermissionDenied):
            leaderboard_freeze(phase=phase, actor=staff)
        phase.challenge.organizers.add(staff)
        assert leaderboard_freeze(phase=phase, actor=staff).frozen_by == staff


def test_reveal_makes_a_private_phase_public_once(phase, organizer):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    assert not phase.leaderboard_is_public

    with time_machine.travel(at(40), tick=False):
        leaderboard_reveal(phase=phase, actor=organizer)

    phase.refresh_from_db()
    assert phase.leaderboard_revealed_at == at(40)
    assert phase.leaderboard_is_public
    with pytest.raises(Conflict, match="revealed already"):
        leaderboard_reveal(phase=phase, actor=organizer)
    phase.refresh_from_db()
    assert phase.leaderboard_revealed_at == at(40)


def test_revealing_a_public_phase_is_a_conflict(phase, organizer):
    with pytest.raises(Conflict, match="public already"):
        leaderboard_reveal(phase=phase, actor=organizer)
    phase.refresh_from_db()
    assert phase.leaderboard_revealed_at is None


def test_only_organizers_reveal(phase, charlie):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])

    with pytest.raises(PermissionDenied):
        leaderboard_reveal(phase=phase, actor=charlie)
    phase.refresh_from_db()
    assert phase.leaderboard_revealed_at is None


def test_freeze_command(phase, alice_team, capsys):
    scored(phase, alice_team, 0.3, at=at(1))

    with time_machine.travel(AFTER_DEADLINE, tick=False):
        call_command("freeze_leaderboard", "--phase", "tinyactions-test/dev")
        assert "1 entries" in capsys.readouterr().out
        with pytest.raises(CommandError, match="already frozen"):
            call_command("freeze_leaderboard", "--phase", "tinyactions-test/dev")
        call_command("freeze_leaderboard", "--phase", "tinyactions-test/dev", "--unfreeze")

    assert not FrozenLeaderboard.objects.exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tinyactions-test", "must be <challenge-slug>/<phase-slug>"),
        ("tinyactions-test/", "must be <challenge-slug>/<phase-slug>"),
        ("tinyactions-test/dev/x", "must be <challenge-slug>/<phase-slug>"),
        ("tinyactions-test/final", "No phase 'final'"),
        ("other/dev", "No phase 'dev' in a challenge 'other'"),
    ],
)
def test_freeze_command_names_a_bad_phase(phase, spec, message):
    with pytest.raises(CommandError, match=message):
        call_command("freeze_leaderboard", "--phase", spec)
