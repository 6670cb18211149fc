"""Helpers for the leaderboard tests: scored submissions at chosen moments."""

import datetime as dt

import pytest

from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from submissions.models import Submission
from tests.factories import MembershipFactory, TeamFactory

START = dt.datetime(2021, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2021, 6, 12, 23, 59, 59, tzinfo=dt.UTC)


def recognition_scores(macro_f1: float, *, per_class_f1: list[float] | None = None) -> dict:
    """A score JSON shaped like CONTRACT section 1; other metrics derived so columns differ."""
    names = TINYVIRAT_V2_CLASSES
    per_class_f1 = per_class_f1 or [macro_f1] * len(names)
    return {
        "track": "classification",
        "primary_metric": "macro_f1",
        "macro_f1": macro_f1,
        "macro_precision": round(macro_f1 + 0.01, 6),
        "macro_recall": round(macro_f1 - 0.01, 6),
        "micro_precision": round(macro_f1 + 0.02, 6),
        "micro_recall": round(macro_f1 - 0.02, 6),
        "micro_f1": round(macro_f1 + 0.03, 6),
        "samples_f1": macro_f1,
        "n_items": 6097,
        "per_class": [
            {
                "class_id": i,
                "name": name,
                "precision": f1,
                "recall": f1,
                "f1": f1,
                "support": 10,
            }
            for i, (name, f1) in enumerate(zip(names, per_class_f1, strict=True))
        ],
    }


def detection_scores(video_map: float, frame_map: float, video_ap: list[float | None]) -> dict:
    return {
        "track": "detection",
        "primary_metric": "video_map",
        "video_map": video_map,
        "frame_map": frame_map,
        "n_items": 10,
        "per_class": [
            {"class_id": i, "name": name, "frame_ap": ap, "video_ap": ap, "support": 1}
            for i, (name, ap) in enumerate(zip(TINYVIRAT_V2_CLASSES, video_ap, strict=True))
        ],
    }


def scored(phase, team, score: float | None, *, at: dt.datetime, **fields) -> Submission:
    """A submission of ``team`` made at ``at``, finished with macro F1 ``score`` by default."""
    from tests.factories import SubmissionFactory

    fields.setdefault("status", Submission.Status.FINISHED)
    # No new account per submission: hashing a password each time makes big boards slow.
    fields.setdefault("submitted_by", None)
    if "scores" not in fields and score is not None:
        fields["scores"] = recognition_scores(score)
    return SubmissionFactory(phase=phase, team=team, primary_score=score, created_at=at, **fields)


@pytest.fixture(autouse=True)
def _empty_board_cache():
    # Each test starts cold, so a query count or a build never depends on the test before.
    from leaderboard.encoded import clear_board_cache

    clear_board_cache()
    yield
    clear_board_cache()


@pytest.fixture
def phase(challenge):
    from tests.factories import PhaseFactory

    return PhaseFactory(
        challenge=challenge, slug="dev", name="Validation", starts_at=START, ends_at=END
    )


@pytest.fixture
def organizer_team(challenge, organizer):
    team = TeamFactory(challenge=challenge, name="Organizers")
    MembershipFactory(team=team, user=organizer)
    return team


def at(days: float) -> dt.datetime:
    """A moment ``days`` after the phase starts."""
    return START + dt.timedelta(days=days)
