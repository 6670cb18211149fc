"""The organizer API: label fixes with a rank diff (CONTRACT section 6).

Organizers of the phase's challenge (and superusers) only; 404 for everyone else.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from evalserver.api import error_responses
from evalserver.challenges.models import Phase
from evalserver.console import selectors, services
from evalserver.console.models import Rescore
from evalserver.console.serializers import RescoreCreateRequestSerializer, RescoreSerializer
from evalserver.errors import NotFound, ValidationFailed

_PHASE_ID = OpenApiParameter("phase_id", int, OpenApiParameter.PATH, description="The phase's id.")
_RESCORE_ID = OpenApiParameter("rescore_id", int, OpenApiParameter.PATH)
_TOP = OpenApiParameter(
    "top", int, OpenApiParameter.QUERY, description="N of 'entered/left the top N' (default 10)."
)


def organizer_phase(*, phase_id: int, user) -> Phase:
    phase = Phase.objects.select_related("challenge").filter(pk=phase_id).first()
    if phase is None or not phase.challenge.is_organizer(user):
        raise NotFound("No such phase.")
    return phase


def _top_n(request) -> int:
    raw = request.query_params.get("top", selectors.DEFAULT_TOP_N)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed("top must be a whole number from 1 to 1000.") from None
    if not 1 <= value <= 1000:
        raise ValidationFailed("top must be a whole number from 1 to 1000.")
    return value


def rescore_json(rescore: Rescore, *, top_n: int = selectors.DEFAULT_TOP_N) -> dict:
    done, total = selectors.rescore_progress(rescore=rescore)
    diff = None
    if rescore.status == Rescore.Status.READY:
        diff = selectors.rescore_diff(rescore=rescore, top_n=top_n).as_json()
    return RescoreSerializer(
        {
            "id": rescore.pk,
            "phase_id": rescore.phase_id,
            "status": rescore.status,
            "progress": 1.0 if total == 0 else round(done / total, 4),
            "scored": {"done": done, "total": total},
            "errors": rescore.errors,
            "created_at": rescore.created_at,
            "created_by": rescore.created_by.username if rescore.created_by else None,
            "diff": diff,
        }
    ).data


class PhaseRescoresView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="rescores_list",
        summary="The label-fix previews of a phase, newest first (organizers)",
        parameters=[_PHASE_ID],
        responses={200: RescoreSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        return Response([rescore_json(r) for r in selectors.rescore_list(phase=phase)])

    @extend_schema(
        operation_id="rescores_create",
        summary="Preview a label fix: re-score every submission against corrected labels",
        description=(
            "Validates the file with the import's checks (400 with `errors.labels` listing "
            "the problems, nothing stored), then scores every finished submission of the "
            "phase against it on the workers, leaving the live labels and board alone. A "
            "preview of the same phase still running or ready is discarded. Poll "
            "`GET /api/v1/rescores/{id}/`."
        ),
        parameters=[_PHASE_ID],
        request={"multipart/form-data": RescoreCreateRequestSerializer},
        responses={201: RescoreSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = RescoreCreateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["labels"]
        rescore = services.rescore_start(
            phase=phase, actor=request.user, data=upload.read(), filename=upload.name or ""
        )
        rescore.refresh_from_db()
        return Response(rescore_json(rescore), status=status.HTTP_201_CREATED)


class RescoreDetailView(APIView):
    @extend_schema(
        operation_id="rescores_detail",
        summary="A label-fix preview: progress, and once ready the rank diff",
        parameters=[_RESCORE_ID, _TOP],
        responses={200: RescoreSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request, rescore_id: int):
        rescore = selectors.rescore_get_for_organizer(rescore_id=rescore_id, user=request.user)
        return Response(rescore_json(rescore, top_n=_top_n(request)))


class RescoreApplyView(APIView):
    @extend_schema(
        operation_id="rescores_apply",
        summary="Apply a ready preview: new labels and every new score in one transaction",
        request=None,
        parameters=[_RESCORE_ID],
        responses={200: RescoreSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, rescore_id: int):
        rescore = selectors.rescore_get_for_organizer(rescore_id=rescore_id, user=request.user)
        rescore = services.rescore_apply(rescore=rescore, actor=request.user)
        return Response(rescore_json(rescore))


class RescoreDiscardView(APIView):
    @extend_schema(
        operation_id="rescores_discard",
        summary="Discard a preview; nothing changes",
        request=None,
        parameters=[_RESCORE_ID],
        responses={200: RescoreSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, rescore_id: int):
        rescore = selectors.rescore_get_for_organizer(rescore_id=rescore_id, user=request.user)
        rescore = services.rescore_discard(rescore=rescore, actor=request.user)
        return Response(rescore_json(rescore))
