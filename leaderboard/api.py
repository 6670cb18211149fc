"""``GET /api/v1/phases/{id}/leaderboard/`` (CONTRACT section 3)."""

import re

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from evalserver.api import error_responses
from evalserver.errors import ValidationFailed
from leaderboard.encoded import leaderboard_json
from leaderboard.final import final_board_entries, final_board_visible
from leaderboard.selectors import phase_for_leaderboard
from leaderboard.services import final_board_publish

# As django.middleware.gzip.GZipMiddleware reads the header (which is not enabled site-wide:
# on pages with secrets, compression leaks them).
_ACCEPTS_GZIP = re.compile(r"\bgzip\b")

_ENTRY_FIELDS = {
    "rank": serializers.IntegerField(
        allow_null=True, help_text="1 = best; null for baselines and hidden rankings."
    ),
    "team": serializers.CharField(),
    "submission_id": serializers.IntegerField(),
    "scores": serializers.JSONField(help_text="The score JSON of `manage.py score`."),
    "submitted_at": serializers.DateTimeField(),
    "team_id": serializers.IntegerField(),
    "method_name": serializers.CharField(),
    "primary_score": serializers.FloatField(),
    "is_baseline": serializers.BooleanField(),
    "submission_count": serializers.IntegerField(
        allow_null=True, help_text="The team's submissions that count in this phase."
    ),
    "ci_low": serializers.FloatField(
        allow_null=True,
        help_text="Lower end of the 95% bootstrap interval of primary_score (null if none).",
    ),
    "ci_high": serializers.FloatField(
        allow_null=True, help_text="Upper end of that interval (null if none)."
    ),
    "separable_from_next": serializers.BooleanField(
        help_text=(
            "True when the 95% bootstrap interval of the difference between this entry's "
            "primary score and the next entry's excludes 0 (same resamples for both); "
            "false on the last entry."
        )
    ),
}

_LeaderboardSerializer = inline_serializer(
    name="Leaderboard",
    fields={
        "phase": serializers.IntegerField(),
        "primary_metric": serializers.CharField(),
        "class_names": serializers.ListField(child=serializers.CharField()),
        "frozen_at": serializers.DateTimeField(allow_null=True),
        "ranking_hidden": serializers.BooleanField(),
        "split": serializers.ChoiceField(
            choices=["public", "private"],
            allow_null=True,
            help_text=(
                "Which split of the hidden clips a split phase's board ranks by: `public` "
                "while it runs (the default), `private` for the final board; null when the "
                "phase's labels have no split."
            ),
        ),
        "published_at": serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="The private board only: when the organizers published it (null: not yet).",
        ),
        "detail": serializers.CharField(required=False),
        "entries": inline_serializer(name="LeaderboardEntry", fields=_ENTRY_FIELDS, many=True),
    },
)


class PhaseLeaderboardView(APIView):
    # Public leaderboards are readable without an account; the selector decides what a
    # viewer may see.
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "split",
                str,
                OpenApiParameter.QUERY,
                required=False,
                enum=["public", "private"],
                description=(
                    "`private`: the final board of a split phase, each team ranked by its "
                    "best final submission's private-split score. Organizers always; everyone "
                    "else once published after the deadline (403 before; 404 for a phase "
                    "without a split)."
                ),
            )
        ],
        responses={200: _LeaderboardSerializer, **error_responses(400, 401, 403, 404, 429)},
        summary="A phase's leaderboard, best first",
        description=(
            "One entry per team (its best counting submission) plus the baselines, which "
            "have no rank. On a private phase not yet revealed, organizers get the full "
            "board and everybody else only their own team's entry, without a rank "
            "(`ranking_hidden` is true and `detail` says why). `frozen_at` is set when "
            "the organizers have frozen the final leaderboard. 404 for an unknown phase or "
            "one of an unpublished challenge. The full board is sent gzip-compressed to "
            "clients that accept it."
        ),
    )
    def get(self, request, phase_id: int):
        # The body is built as bytes (leaderboard.encoded), not rendered from data: at 1,000
        # teams re-encoding the entries' score JSON would cost most of the request. Errors
        # are raised, so they still get DRF's JSON answers.
        phase = phase_for_leaderboard(
            phase_id=phase_id, user=request.user, with_frozen_entries=False
        )
        split = request.query_params.get("split")
        if split not in (None, "public", "private"):
            raise ValidationFailed("split must be public or private.")
        if split == "private":
            return self._private(request, phase)
        body = leaderboard_json(
            phase=phase,
            user=request.user,
            accepts_gzip=bool(_ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", ""))),
        )
        response = HttpResponse(body.content, content_type="application/json")
        if body.shared:
            # The full board may come compressed or not, by the request's Accept-Encoding.
            patch_vary_headers(response, ["Accept-Encoding"])
        if body.encoding:
            response["Content-Encoding"] = body.encoding
        return response

    def _private(self, request, phase):
        final_board_visible(phase=phase, user=request.user)
        entries = final_board_entries(phase=phase)
        published = phase.final_board_published_at
        return Response(
            {
                "phase": phase.pk,
                "primary_metric": phase.primary_metric,
                "class_names": list(phase.challenge.class_names),
                "frozen_at": None,
                "ranking_hidden": False,
                "split": "private",
                "published_at": published.isoformat() if published else None,
                "entries": [entry.as_json() for entry in entries],
            }
        )


class PublishFinalBoardView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: _LeaderboardSerializer, **error_responses(400, 401, 403, 404, 409)},
        summary="Publish a split phase's final (private-split) board",
        description=(
            "Organizers of the challenge only (403 for others), after the phase's `ends_at` "
            "(400 before); 409 when published already. Answers with the published board."
        ),
    )
    def post(self, request, phase_id: int):
        phase = phase_for_leaderboard(phase_id=phase_id, user=request.user)
        final_board_publish(phase=phase, actor=request.user)
        return PhaseLeaderboardView()._private(request, phase)
