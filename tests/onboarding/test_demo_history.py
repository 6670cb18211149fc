"""The living demo (issue 14 item 4): seed_demo fills every board with a real history."""

from io import StringIO

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.utils import timezone

from evalserver import scoring
from evalserver.challenges.models import Phase
from evalserver.challenges.selectors import phase_labels
from leaderboard.selectors import leaderboard_ranking
from submissions.demo import HISTORY_TEAMS
from submissions.models import Submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    return out.getvalue()


def test_every_board_has_at_least_eight_teams_with_finished_and_failed_histories(seeded):
    for slug in ("dev", "test", "final-2021"):
        phase = Phase.objects.get(slug=slug)
        subs = Submission.objects.filter(phase=phase)
        teams = {s.team_id for s in subs.filter(status=Submission.Status.FINISHED)}
        assert len(teams) >= 8, slug
        assert subs.filter(status=Submission.Status.FAILED).exists(), slug
        days = {s.created_at.date() for s in subs}
        assert len(days) > 5, slug
        assert all(phase.starts_at <= s.created_at < phase.ends_at for s in subs)
    assert Submission.objects.filter(phase__slug="detection", status="finished").count() >= 3
    assert len(HISTORY_TEAMS) >= 8


def test_the_scores_are_the_scoring_librarys_for_the_stored_files(seeded):
    for sub in Submission.objects.select_related("phase").order_by("pk")[::7]:
        with storages["default"].open(sub.file.name, "rb") as fh:
            data = fh.read()
        if sub.status == Submission.Status.FINISHED:
            assert scoring.score(sub.phase.track, phase_labels(phase=sub.phase), data) == sub.scores
        else:
            with pytest.raises(scoring.SubmissionInvalid) as exc:
                scoring.score(sub.phase.track, phase_labels(phase=sub.phase), data)
            assert exc.value.errors == sub.errors


def test_the_ended_phase_has_a_private_board_to_reveal(seeded):
    final = Phase.objects.get(slug="final-2021")
    assert final.ends_at < timezone.now()
    assert not final.leaderboard_is_public
    ranking = leaderboard_ranking(phase=final)
    assert len(ranking) >= 8


def test_a_second_run_adds_nothing(seeded, settings):
    before = Submission.objects.count()
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    assert Submission.objects.count() == before
    assert "history" not in out.getvalue()
