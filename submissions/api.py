"""Submission endpoints: upload a prediction file, list the team's, follow one."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from evalserver.api import CompactJSON, CompactJSONRenderer, error_responses
from evalserver.challenges.selectors import phase_get
from evalserver.throttling import UserRateThrottle
from submissions import selectors, services
from submissions.checks import submission_validate
from submissions.serializers import (
    SubmissionCheckResultSerializer,
    SubmissionCheckSerializer,
    SubmissionCreateRequestSerializer,
    SubmissionSelectSerializer,
    SubmissionSerializer,
    submission_list_items,
)

_PHASE_ID = OpenApiParameter("phase_id", int, OpenApiParameter.PATH, description="The phase's id.")


class UploadRateThrottle(ScopedRateThrottle):
    """Uploads are expensive (storage, hashing, scoring): a tighter per-user rate on POST
    only, on top of the teams' submission quotas."""

    def allow_request(self, request, view):
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


class PhaseSubmissionsView(ListAPIView):
    serializer_class = SubmissionSerializer
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UserRateThrottle, UploadRateThrottle]
    throttle_scope = "uploads"
    # DRF's default renderers, the JSON one writing the list's rows with msgspec.
    renderer_classes = [CompactJSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self):
        phase = phase_get(phase_id=self.kwargs["phase_id"])
        return selectors.submission_list_for_user(user=self.request.user, phase=phase)

    def list(self, request, *args, **kwargs):
        # ListAPIView.list with the same answers (404s in the same order: the phase, then
        # the page), from plain rows in two queries: the API's hottest read (issue 12).
        phase_id = self.kwargs["phase_id"]
        access = selectors.submission_list_access(user=request.user, phase_id=phase_id)
        paginator = self.paginator
        number = paginator.requested_page(request)
        page = selectors.submission_page_for_user(
            user=request.user,
            phase_id=phase_id,
            access=access,
            page=number,
            page_size=paginator.get_page_size(request),
        )
        items, alike = submission_list_items(page.rows, challenge_slug=access.challenge_slug)
        paginator.paginate_counted(items, request, count=page.count, number=number)
        response = paginator.get_paginated_response(items)
        if alike:
            response.data = CompactJSON(response.data)
        return response

    @extend_schema(
        operation_id="submissions_list",
        summary="Your team's submissions to a phase, newest first",
        description="Organizers of the challenge see every team's.",
        parameters=[_PHASE_ID],
        responses={200: SubmissionSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="submissions_create",
        summary="Upload a prediction file",
        description=(
            "Queues the file for scoring and answers at once with `status` `queued`; poll "
            "`GET /api/v1/submissions/{id}/`. Refused with a JSON `detail`: 403 when not "
            "in a team or the phase is closed, 413 when too large, 429 when over the "
            "team's quota (or uploading too fast), 400 when the file is unusable."
        ),
        parameters=[_PHASE_ID],
        request={"multipart/form-data": SubmissionCreateRequestSerializer},
        responses={
            201: SubmissionSerializer,
            **error_responses(400, 401, 403, 404, 413, 429),
        },
    )
    def post(self, request, phase_id: int):
        phase = phase_get(phase_id=phase_id)
        data = SubmissionCreateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = services.submission_create(
            user=request.user,
            phase=phase,
            upload=data.validated_data["file"],
            method_name=data.validated_data.get("method_name", ""),
            description=data.validated_data.get("description", ""),
        )
        submission = selectors.submission_get_for_user(
            user=request.user, submission_id=submission.pk
        )
        return Response(SubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


class SubmissionDetailView(APIView):
    @extend_schema(
        operation_id="submissions_detail",
        summary="One submission: status, scores, errors",
        description="404 for other teams' submissions.",
        parameters=[OpenApiParameter("submission_id", int, OpenApiParameter.PATH)],
        responses={200: SubmissionSerializer, **error_responses(401, 404)},
    )
    def get(self, request, submission_id: int):
        submission = selectors.submission_get_for_user(
            user=request.user, submission_id=submission_id
        )
        return Response(SubmissionSerializer(submission).data)

    @extend_schema(
        operation_id="submissions_select",
        summary="Mark a finished submission as final (or not)",
        description=(
            "Members of the submitting team only. At most the phase's "
            "`max_final_submissions` per team: one more is refused with 409 and a `detail` "
            "naming the ones marked. 403 after the phase's `ends_at` (selections freeze "
            "there); 400 on a phase that counts every submission; 409 for a submission "
            "that is not finished. A team that marks none is ranked on the final board by "
            "its best public-split submissions, up to the limit. 400 on a phase without a "
            "private split."
        ),
        parameters=[OpenApiParameter("submission_id", int, OpenApiParameter.PATH)],
        request=SubmissionSelectSerializer,
        responses={200: SubmissionSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def patch(self, request, submission_id: int):
        data = SubmissionSelectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = selectors.submission_get_for_user(
            user=request.user, submission_id=submission_id
        )
        if "selected" in data.validated_data:
            services.submission_select(
                user=request.user, submission=submission, selected=data.validated_data["selected"]
            )
        submission = selectors.submission_get_for_user(
            user=request.user, submission_id=submission_id
        )
        return Response(SubmissionSerializer(submission).data)


class PhaseValidateView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    # The uploads' throttle and counter: checking costs the server as much as an upload's
    # validation, so it cannot be used to get around that rate.
    throttle_classes = [UserRateThrottle, UploadRateThrottle]
    throttle_scope = "uploads"

    @extend_schema(
        operation_id="phases_validate",
        summary="Check a file against a phase without submitting it",
        description=(
            "Runs the full validation of an upload against the phase's clip ids (the same "
            "caps and messages) and answers `valid`, `errors` and the phase's `n_items`. "
            "Scores nothing, stores nothing and counts toward no quota; throttled like "
            "uploads. Reveals nothing about the hidden labels: only clip ids, which are "
            "public. 409 when the phase has no clip list yet, 413 when too large."
        ),
        parameters=[_PHASE_ID],
        request={"multipart/form-data": SubmissionCheckSerializer},
        responses={
            200: SubmissionCheckResultSerializer,
            **error_responses(400, 401, 404, 409, 413, 429),
        },
    )
    def post(self, request, phase_id: int):
        phase = phase_get(phase_id=phase_id)
        data = SubmissionCheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = submission_validate(phase=phase, upload=data.validated_data["file"])
        return Response(SubmissionCheckResultSerializer(result.as_dict()).data)
