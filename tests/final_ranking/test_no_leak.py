"""No private-split score reaches a participant by any route until the final board is out.

Alpha and Charlie's each upload to a split phase; then every API call and page a
participant (or an anonymous visitor) can make is fetched before the deadline, after it,
and after publication, and searched for every private-split and all-clips number the
server holds (as JSON writes them, and as pages round them). Only the published final
board may show private scores, and all-clips scores never.
"""

from __future__ import annotations

import gzip

import pytest
import time_machine
from rest_framework.test import APIClient

from leaderboard.services import final_board_publish
from submissions.models import SubmissionEvaluation
from tests.clients import logged_in
from tests.final_ranking.conftest import AFTER, DURING

pytestmark = pytest.mark.django_db


def _floats(scores: dict) -> list[float]:
    found = [v for v in scores.values() if isinstance(v, float)]
    for row in scores.get("per_class") or ():
        found += [v for v in row.values() if isinstance(v, float)]
    return found


def _secrets(public_texts: set[str]) -> tuple[set[str], set[str]]:
    """(private-split texts, all-clips texts) that must not be shown, minus public look-alikes."""
    private: set[str] = set()
    everything: set[str] = set()
    for evaluation in SubmissionEvaluation.objects.all():
        for value in _floats(evaluation.private_scores):
            private.add(repr(value))
        for value in (
            evaluation.private_primary_score,
            evaluation.private_ci_low,
            evaluation.private_ci_high,
        ):
            private |= {repr(value), f"{value:.4f}"}
        for value in _floats(evaluation.all_scores):
            everything.add(repr(value))
        everything.add(f"{evaluation.all_scores['macro_f1']:.4f}")
    # Short reprs (0.5, 1.0) and numbers the public split happens to share prove nothing.
    keep = {t for t in private | everything if len(t) >= 6 and t not in public_texts}
    return private & keep, everything & keep


def _public_texts(submissions) -> set[str]:
    texts: set[str] = set()
    for submission in submissions:
        for value in [*_floats(submission.scores), submission.ci_low, submission.ci_high]:
            texts |= {repr(value), f"{value:.4f}", f"{value:.3f}"}
    return texts


def _participant_views(phase, submissions, alice) -> dict[str, bytes]:
    """Every route Alice (Alpha) or an anonymous visitor can reach, by name -> body."""
    token_client = APIClient()
    token_client.force_authenticate(alice)
    web = logged_in(alice)
    anonymous_web = logged_in.__globals__["Client"]()
    anonymous_api = APIClient()
    own = submissions[0]
    bodies: dict[str, bytes] = {}
    api_routes = [
        "/api/v1/challenges/",
        f"/api/v1/phases/{phase.pk}/submissions/",
        f"/api/v1/submissions/{own.pk}/",
        f"/api/v1/submissions/{submissions[1].pk}/",  # another team's: 404
        f"/api/v1/phases/{phase.pk}/leaderboard/",
        f"/api/v1/phases/{phase.pk}/leaderboard/?split=public",
        f"/api/v1/phases/{phase.pk}/leaderboard/?split=private",
        f"/api/v1/phases/{phase.pk}/leaderboard/?split=bogus",
    ]
    for route in api_routes:
        bodies[f"api {route}"] = token_client.get(route).content
        bodies[f"anonymous api {route}"] = anonymous_api.get(route).content
    compressed = token_client.get(
        f"/api/v1/phases/{phase.pk}/leaderboard/", HTTP_ACCEPT_ENCODING="gzip"
    )
    bodies["api gzip board"] = (
        gzip.decompress(compressed.content)
        if compressed.get("Content-Encoding") == "gzip"
        else compressed.content
    )
    bodies["api select"] = token_client.patch(
        f"/api/v1/submissions/{own.pk}/", {"selected": True}, format="json"
    ).content
    bodies["api publish"] = token_client.post(
        f"/api/v1/phases/{phase.pk}/leaderboard/publish/"
    ).content
    page_routes = [
        "/",
        f"/challenges/{phase.challenge.slug}/",
        f"/phases/{phase.pk}/",
        f"/phases/{phase.pk}/submissions/",
        f"/submissions/{own.pk}/",
        f"/submissions/{own.pk}/status/",
        f"/phases/{phase.pk}/leaderboard/",
        f"/phases/{phase.pk}/leaderboard/?split=private",
    ]
    for route in page_routes:
        bodies[f"page {route}"] = web.get(route).content
        bodies[f"anonymous page {route}"] = anonymous_web.get(route).content
    return bodies


def _leaks(bodies: dict[str, bytes], secrets: set[str]) -> list[tuple[str, str]]:
    return [
        (name, secret)
        for name, body in bodies.items()
        for secret in secrets
        if secret.encode() in body
    ]


def test_no_route_shows_a_participant_a_private_score_before_publication(
    split_board, alice, alice_team, charlie, charlie_team, organizer
):
    submissions = [
        split_board.upload(alice, split_board.noisy(wrong=0.35, seed=11)),
        split_board.upload(charlie, split_board.noisy(wrong=0.55, seed=12)),
    ]
    phase = split_board.phase
    private, everything = _secrets(_public_texts(submissions))
    assert len(private) >= 10
    assert len(everything) >= 10

    for moment in (DURING, AFTER):
        with time_machine.travel(moment, tick=False):
            bodies = _participant_views(phase, submissions, alice)
        assert _leaks(bodies, private | everything) == [], moment
        assert (
            b"published by the organizers after the phase ends"
            in bodies[f"api /api/v1/phases/{phase.pk}/leaderboard/?split=private"]
        )

    with time_machine.travel(AFTER, tick=False):
        final_board_publish(phase=phase, actor=organizer)
        bodies = _participant_views(phase, submissions, alice)
    final_routes = {
        f"api /api/v1/phases/{phase.pk}/leaderboard/?split=private",
        f"anonymous api /api/v1/phases/{phase.pk}/leaderboard/?split=private",
        f"page /phases/{phase.pk}/leaderboard/?split=private",
        f"anonymous page /phases/{phase.pk}/leaderboard/?split=private",
    }
    # Published: the final board shows the private split; nothing else does, and nothing
    # shows the all-clips scores.
    assert _leaks({k: v for k, v in bodies.items() if k not in final_routes}, private) == []
    # (Per-class ratios with small denominators can be equal on the private split and on
    # all clips: only the all-clips numbers the private split does not share prove a leak.)
    assert _leaks(bodies, everything - private) == []
    evaluation = SubmissionEvaluation.objects.get(submission=submissions[0])
    for route in final_routes:
        assert f"{evaluation.private_primary_score:.4f}".encode() in bodies[route], route
