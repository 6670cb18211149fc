"""The ranking rules of leaderboard.selectors.leaderboard_ranking, on PostgreSQL."""

import pytest

from leaderboard.selectors import leaderboard_ranking
from submissions.models import Submission
from tests.factories import TeamFactory
from tests.leaderboard.conftest import END, START, at, detection_scores, scored

pytestmark = pytest.mark.django_db


def _board(phase):
    return [(e.rank, e.team, e.submission_id) for e in leaderboard_ranking(phase=phase)]


def test_one_row_per_team_with_its_best_submission_best_first(phase, alice_team, charlie_team):
    scored(phase, alice_team, 0.30, at=at(1))
    alice_best = scored(phase, alice_team, 0.50, at=at(2))
    scored(phase, alice_team, 0.40, at=at(3))
    charlie_best = scored(phase, charlie_team, 0.60, at=at(1))
    scored(phase, charlie_team, 0.10, at=at(4))

    entries = leaderboard_ranking(phase=phase)

    assert [(e.rank, e.team, e.submission_id) for e in entries] == [
        (1, "Charlie's", charlie_best.pk),
        (2, "Alpha", alice_best.pk),
    ]
    assert entries[1].primary_score == 0.50
    assert entries[1].scores["macro_f1"] == 0.50
    assert entries[1].submitted_at == at(2)
    assert [e.submission_count for e in entries] == [2, 3]


def test_a_team_tie_goes_to_its_earlier_submission(phase, alice_team):
    first = scored(phase, alice_team, 0.5, at=at(1))
    scored(phase, alice_team, 0.5, at=at(2))

    assert _board(phase) == [(1, "Alpha", first.pk)]


def test_teams_with_equal_scores_get_distinct_ranks_earlier_first(phase, alice_team, challenge):
    later = TeamFactory(challenge=challenge, name="Later")
    earlier = TeamFactory(challenge=challenge, name="Earlier")
    late_sub = scored(phase, later, 0.7, at=at(5))
    early_sub = scored(phase, earlier, 0.7, at=at(3))
    low = scored(phase, alice_team, 0.2, at=at(1))

    assert _board(phase) == [
        (1, "Earlier", early_sub.pk),
        (2, "Later", late_sub.pk),
        (3, "Alpha", low.pk),
    ]


def test_same_score_same_moment_goes_to_the_lower_id(phase, challenge):
    a = TeamFactory(challenge=challenge, name="A")
    b = TeamFactory(challenge=challenge, name="B")
    first = scored(phase, b, 0.4, at=at(1))
    second = scored(phase, a, 0.4, at=at(1))

    assert _board(phase) == [(1, "B", first.pk), (2, "A", second.pk)]


@pytest.mark.parametrize(
    "fields",
    [
        {"is_hidden": True},
        {"is_disqualified": True},
        {"status": Submission.Status.CANCELLED},
        {"status": Submission.Status.FAILED},
        {"status": Submission.Status.QUEUED},
        {"status": Submission.Status.RUNNING},
    ],
    ids=["hidden", "disqualified", "cancelled", "failed", "queued", "running"],
)
def test_submissions_that_never_count(phase, alice_team, charlie_team, fields):
    counted = scored(phase, alice_team, 0.3, at=at(1))
    scored(phase, alice_team, 0.9, at=at(2), **fields)
    scored(phase, charlie_team, 0.95, at=at(2), **fields)

    entries = leaderboard_ranking(phase=phase)

    assert [(e.rank, e.submission_id) for e in entries] == [(1, counted.pk)]
    assert entries[0].submission_count == 1


def test_finished_without_a_primary_score_does_not_count(phase, alice_team):
    scored(phase, alice_team, None, at=at(1), scores={"track": "classification"})

    assert _board(phase) == []


def test_only_submissions_inside_the_phase_dates_count(phase, alice_team, charlie_team, challenge):
    import datetime as dt

    on_time = scored(phase, alice_team, 0.2, at=START)  # the first instant counts
    scored(phase, alice_team, 0.9, at=START - dt.timedelta(seconds=1))
    scored(phase, alice_team, 0.9, at=END)  # ends_at itself is already late
    scored(phase, charlie_team, 0.99, at=END + dt.timedelta(days=1))
    last_second = TeamFactory(challenge=challenge, name="Last second")
    just_in = scored(phase, last_second, 0.1, at=END - dt.timedelta(microseconds=1))

    assert _board(phase) == [(1, "Alpha", on_time.pk), (2, "Last second", just_in.pk)]


def test_baselines_are_shown_unranked_and_never_a_teams_best(phase, alice_team, organizer_team):
    baseline = scored(
        phase, organizer_team, 0.45, at=at(0), is_baseline=True, method_name="I3D baseline"
    )
    organizers_own = scored(phase, organizer_team, 0.20, at=at(2))
    alice_low = scored(phase, alice_team, 0.30, at=at(1))
    alice_high_baseline = scored(phase, alice_team, 0.90, at=at(1), is_baseline=True)

    entries = leaderboard_ranking(phase=phase)

    assert [(e.rank, e.team, e.submission_id, e.is_baseline) for e in entries] == [
        (None, "Alpha", alice_high_baseline.pk, True),
        (None, "Organizers", baseline.pk, True),
        (1, "Alpha", alice_low.pk, False),
        (2, "Organizers", organizers_own.pk, False),
    ]
    assert entries[1].method_name == "I3D baseline"
    # Baselines are not entries of a team: no submission count.
    assert [e.submission_count for e in entries] == [None, None, 1, 1]


def test_baselines_show_whatever_their_date_but_hidden_ones_do_not(phase, organizer_team):
    import datetime as dt

    early = scored(phase, organizer_team, 0.4, at=START - dt.timedelta(days=3), is_baseline=True)
    scored(phase, organizer_team, 0.5, at=at(1), is_baseline=True, is_hidden=True)

    assert _board(phase) == [(None, "Organizers", early.pk)]


def test_other_phases_do_not_leak_in(phase, alice_team, challenge):
    from tests.factories import PhaseFactory

    other = PhaseFactory(challenge=challenge, slug="test", starts_at=START, ends_at=END)
    scored(other, alice_team, 0.9, at=at(1))
    mine = scored(phase, alice_team, 0.1, at=at(1))

    assert _board(phase) == [(1, "Alpha", mine.pk)]


def test_detection_phases_rank_by_video_map(challenge, alice_team, charlie_team):
    from evalserver.challenges.models import Phase
    from tests.factories import PhaseFactory

    phase = PhaseFactory(
        challenge=challenge, track=Phase.Track.DETECTION, starts_at=START, ends_at=END
    )
    aps = [0.5] * 25 + [None]
    alice = scored(phase, alice_team, 0.4, at=at(1), scores=detection_scores(0.4, 0.7, aps))
    charlie = scored(phase, charlie_team, 0.6, at=at(1), scores=detection_scores(0.6, 0.2, aps))

    entries = leaderboard_ranking(phase=phase)

    assert [(e.rank, e.submission_id) for e in entries] == [(1, charlie.pk), (2, alice.pk)]
    assert entries[0].metric("frame_map") == 0.2
    assert entries[0].per_class("video_ap", 26)[-1] is None
    assert entries[0].per_class("video_ap", 26)[0] == 0.5


def test_empty_phase_has_an_empty_board(phase):
    assert leaderboard_ranking(phase=phase) == []


def test_the_ranking_is_one_query(phase, challenge, django_assert_num_queries):
    for i in range(12):
        team = TeamFactory(challenge=challenge)
        for day in range(3):
            scored(phase, team, (i * 3 + day) / 100, at=at(day))

    with django_assert_num_queries(1):
        entries = leaderboard_ranking(phase=phase)

    assert [e.rank for e in entries] == list(range(1, 13))
