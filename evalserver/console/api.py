"""The organizer API: label fixes with a rank diff (CONTRACT section 6).

Organizers of the phase's challenge (and superusers) only; 404 for everyone else.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from evalserver.announcements.selectors import announcements_of
from evalserver.announcements.services import announcement_post
from evalserver.api import error_responses
from evalserver.console import selectors, services
from evalserver.console.models import Rescore
from evalserver.console.serializers import (
    AnnouncementCreateSerializer,
    AnnouncementSerializer,
    AuditEntrySerializer,
    BanCreateSerializer,
    BanSerializer,
    BulkActionSerializer,
    BulkOutcomeSerializer,
    ChallengeSummarySerializer,
    LabelsCheckSerializer,
    LabelsUploadSerializer,
    OrganizerPhaseSerializer,
    OrganizerSubmissionSerializer,
    OrganizerTeamSerializer,
    PhaseUpdateSerializer,
    ReasonSerializer,
    RegistrationSerializer,
    RequiredReasonSerializer,
    RescoreCreateSerializer,
    RescoreSerializer,
    SubmissionEventSerializer,
)
from evalserver.errors import ValidationFailed

_PHASE_ID = OpenApiParameter("phase_id", int, OpenApiParameter.PATH, description="The phase's id.")
_RESCORE_ID = OpenApiParameter("rescore_id", int, OpenApiParameter.PATH)
_TOP = OpenApiParameter(
    "top", int, OpenApiParameter.QUERY, description="N of 'entered/left the top N' (default 10)."
)


def organizer_phase(*, phase_id: int, user):
    return selectors.organizer_phase(phase_id=phase_id, user=user)


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
    if services.rescore_resume_if_stalled(rescore=rescore):
        rescore.refresh_from_db()
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
        request={"multipart/form-data": RescoreCreateSerializer},
        responses={201: RescoreSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = RescoreCreateSerializer(data=request.data)
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


# --- The rest of the organizer API (the console's operations for scripts) ------------------

_SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The challenge's slug.")
_SUBMISSION_ID = OpenApiParameter("submission_id", int, OpenApiParameter.PATH)
_USER_ID = OpenApiParameter("user_id", int, OpenApiParameter.PATH)
_FILTERS = [
    OpenApiParameter("phase", int, description="Only this phase's submissions."),
    OpenApiParameter("status", str, enum=["queued", "running", "finished", "failed", "cancelled"]),
    OpenApiParameter("team", str, description="A team id, or part of a team's name."),
    OpenApiParameter("flag", str, enum=list(selectors.FLAGS)),
    OpenApiParameter("since", str, description="From this UTC day on (YYYY-MM-DD)."),
    OpenApiParameter("until", str, description="Up to and including this UTC day."),
    OpenApiParameter("page", int),
]


class OrganizerChallengesView(APIView):
    @extend_schema(
        operation_id="organizer_challenges",
        summary="The challenges the caller organizes, with their phases' settings",
        responses={200: ChallengeSummarySerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        challenges = selectors.organizer_challenges(user=request.user).prefetch_related(
            "phases__challenge"
        )
        return Response(ChallengeSummarySerializer(challenges, many=True).data)


class OrganizerPhaseView(APIView):
    @extend_schema(
        operation_id="organizer_phase",
        summary="A phase's settings (organizers)",
        parameters=[_PHASE_ID],
        responses={200: OrganizerPhaseSerializer, **error_responses(401, 404)},
    )
    def get(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        return Response(OrganizerPhaseSerializer(phase).data)

    @extend_schema(
        operation_id="organizer_phase_update",
        summary="Edit a phase's dates, limits, switch or visibility",
        description="Send only what changes; `reason` (optional) is kept in the audit trail.",
        parameters=[_PHASE_ID],
        request=PhaseUpdateSerializer,
        responses={200: OrganizerPhaseSerializer, **error_responses(400, 401, 404)},
    )
    def patch(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = PhaseUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        reason = values.pop("reason", "")
        phase = services.phase_update(
            phase=phase, actor=request.user, changes=values, reason=reason
        )
        return Response(OrganizerPhaseSerializer(phase).data)


class PhaseOpenView(APIView):
    @extend_schema(
        operation_id="organizer_phase_open",
        summary="Open a phase now (switch on; a start in the future moves to now)",
        parameters=[_PHASE_ID],
        request=ReasonSerializer,
        responses={200: OrganizerPhaseSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        phase = services.phase_open_now(
            phase=phase, actor=request.user, reason=data.validated_data.get("reason", "")
        )
        return Response(OrganizerPhaseSerializer(phase).data)


class PhaseCloseView(APIView):
    @extend_schema(
        operation_id="organizer_phase_close",
        summary="Close a phase now (switch off)",
        parameters=[_PHASE_ID],
        request=ReasonSerializer,
        responses={200: OrganizerPhaseSerializer, **error_responses(401, 404)},
    )
    def post(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        phase = services.phase_close_now(
            phase=phase, actor=request.user, reason=data.validated_data.get("reason", "")
        )
        return Response(OrganizerPhaseSerializer(phase).data)


def _labels_response(check) -> Response:
    return Response(
        LabelsCheckSerializer(
            {
                "valid": check.valid,
                "errors": check.errors,
                "n_items": check.n_items,
                "sha256": check.sha256,
                "needs_rescore": check.needs_rescore,
                "saved": check.saved,
            }
        ).data
    )


class PhaseLabelsCheckView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="organizer_labels_check",
        summary="Check a hidden label file with the import's checks; stores nothing",
        parameters=[_PHASE_ID],
        request={"multipart/form-data": LabelsUploadSerializer},
        responses={200: LabelsCheckSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = LabelsUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check = services.phase_labels_check(
            phase=phase, actor=request.user, data=data.validated_data["labels"].read()
        )
        return _labels_response(check)


class PhaseLabelsView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="organizer_labels_replace",
        summary="Replace the hidden labels of a phase with no scored submission yet",
        description=(
            "400 with `errors.labels` when the file fails the import's checks; 409 once the "
            "phase has scored submissions (use `POST /api/v1/phases/{id}/rescores/`)."
        ),
        parameters=[_PHASE_ID],
        request={"multipart/form-data": LabelsUploadSerializer},
        responses={200: LabelsCheckSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, phase_id: int):
        phase = organizer_phase(phase_id=phase_id, user=request.user)
        data = LabelsUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["labels"]
        check = services.phase_labels_replace(
            phase=phase,
            actor=request.user,
            data=upload.read(),
            filename=upload.name or "labels.json",
            reason=data.validated_data.get("reason", ""),
        )
        return _labels_response(check)


class OrganizerSubmissionsView(ListAPIView):
    serializer_class = OrganizerSubmissionSerializer

    def get_queryset(self):
        challenge = selectors.organizer_challenge(slug=self.kwargs["slug"], user=self.request.user)
        filters = selectors.SubmissionFilters.parse(self.request.query_params)
        return selectors.console_submissions(challenge=challenge, filters=filters)

    @extend_schema(
        operation_id="organizer_submissions",
        summary="Every submission of a challenge, filtered, newest first (paginated)",
        parameters=[_SLUG, *_FILTERS],
        responses={200: OrganizerSubmissionSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SubmissionActionsView(APIView):
    @extend_schema(
        operation_id="organizer_submissions_action",
        summary="Re-run, cancel, hide, disqualify or mark baseline many submissions",
        description=(
            "Each submission goes through the same service as the admin's actions; the "
            "`reason` (required) is kept in its audit trail and shown to its team. The answer "
            "lists each id with `ok` and why not."
        ),
        parameters=[_SLUG],
        request=BulkActionSerializer,
        responses={200: BulkOutcomeSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def post(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = BulkActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcomes = services.submissions_bulk_action(
            challenge=challenge,
            actor=request.user,
            action=data.validated_data["action"],
            submission_ids=data.validated_data["ids"],
            reason=data.validated_data["reason"],
        )
        return Response(BulkOutcomeSerializer(outcomes, many=True).data)


class SubmissionEventsView(APIView):
    @extend_schema(
        operation_id="organizer_submission_events",
        summary="A submission's audit trail: who did what, when and why",
        parameters=[_SUBMISSION_ID],
        responses={200: SubmissionEventSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, submission_id: int):
        submission = selectors.submission_for_organizer(
            submission_id=submission_id, user=request.user
        )
        events = selectors.submission_audit(submission=submission)
        return Response(SubmissionEventSerializer(events, many=True).data)


class OrganizerTeamsView(APIView):
    @extend_schema(
        operation_id="organizer_teams",
        summary="Every team: members, submission counts, last activity",
        parameters=[_SLUG],
        responses={200: OrganizerTeamSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        rows = selectors.console_teams(challenge=challenge)
        for row in rows:
            for membership in row.members:
                membership.user_id = membership.user.pk
        return Response(OrganizerTeamSerializer(rows, many=True).data)


class TeamsCsvView(APIView):
    @extend_schema(
        operation_id="organizer_teams_csv",
        summary="Every team as CSV (formula-like cells defused)",
        parameters=[_SLUG],
        responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(401, 404)},
    )
    def get(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        return teams_csv_response(challenge)


def teams_csv_response(challenge) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{challenge.slug}-teams.csv"'
    selectors.write_teams_csv(challenge=challenge, out=response)
    return response


class MemberRemoveView(APIView):
    @extend_schema(
        operation_id="organizer_member_remove",
        summary="Take a user out of their team (the team and its submissions stay)",
        parameters=[_SLUG, _USER_ID],
        request=RequiredReasonSerializer,
        responses={204: None, **error_responses(400, 401, 404)},
    )
    def post(self, request, slug: str, user_id: int):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = RequiredReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.team_member_remove(
            challenge=challenge,
            actor=request.user,
            user_id=user_id,
            reason=data.validated_data["reason"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class BansView(APIView):
    @extend_schema(
        operation_id="organizer_bans",
        summary="The users banned from a challenge",
        parameters=[_SLUG],
        responses={200: BanSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        return Response(
            BanSerializer(selectors.challenge_bans(challenge=challenge), many=True).data
        )

    @extend_schema(
        operation_id="organizer_ban",
        summary="Ban a user from the challenge",
        description=(
            "They leave their team and can no longer upload, create or join a team of the "
            "challenge; their team's submissions stay, flagged `banned`."
        ),
        parameters=[_SLUG],
        request=BanCreateSerializer,
        responses={201: BanSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = BanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ban = services.user_ban(
            challenge=challenge,
            actor=request.user,
            user_id=data.validated_data["user_id"],
            reason=data.validated_data["reason"],
        )
        return Response(BanSerializer(ban).data, status=status.HTTP_201_CREATED)


class BanLiftView(APIView):
    @extend_schema(
        operation_id="organizer_ban_lift",
        summary="Lift a user's ban",
        parameters=[_SLUG, _USER_ID],
        request=RequiredReasonSerializer,
        responses={204: None, **error_responses(400, 401, 404)},
    )
    def post(self, request, slug: str, user_id: int):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = RequiredReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_unban(
            challenge=challenge,
            actor=request.user,
            user_id=user_id,
            reason=data.validated_data["reason"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditView(APIView):
    @extend_schema(
        operation_id="organizer_audit",
        summary="The challenge's audit trail of console actions, newest first (200 at most)",
        parameters=[_SLUG],
        responses={200: AuditEntrySerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        entries = selectors.audit_entries(challenge=challenge)
        return Response(AuditEntrySerializer(entries, many=True).data)


class AnnouncementsView(APIView):
    @extend_schema(
        operation_id="organizer_announcements",
        summary="A challenge's announcements, newest first",
        parameters=[_SLUG],
        responses={200: AnnouncementSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        return Response(
            AnnouncementSerializer(announcements_of(challenge=challenge, limit=200), many=True).data
        )

    @extend_schema(
        operation_id="organizer_announcement_post",
        summary="Post an announcement (Markdown), optionally mailed to every participant",
        description=(
            "Shown on the challenge page at once; the mail goes out in batches on the workers, "
            "and a mail server that is down is retried later (the post never fails for it)."
        ),
        parameters=[_SLUG],
        request=AnnouncementCreateSerializer,
        responses={201: AnnouncementSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = AnnouncementCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        announcement = announcement_post(
            challenge=challenge, actor=request.user, **data.validated_data
        )
        announcement.refresh_from_db()
        return Response(AnnouncementSerializer(announcement).data, status=status.HTTP_201_CREATED)


class OrganizerChallengeView(APIView):
    @extend_schema(
        operation_id="organizer_challenge_registration",
        summary="Set who may take part: open, approval, or confirmed addresses at some domains",
        parameters=[_SLUG],
        request=RegistrationSerializer,
        responses={200: ChallengeSummarySerializer, **error_responses(400, 401, 404)},
    )
    def patch(self, request, slug: str):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = RegistrationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        challenge = services.challenge_registration_update(
            challenge=challenge, actor=request.user, **data.validated_data
        )
        return Response(ChallengeSummarySerializer(challenge).data)


class TeamApproveView(APIView):
    @extend_schema(
        operation_id="organizer_team_approve",
        summary="Approve a team (registration `approval`): it can upload from now on",
        parameters=[_SLUG, OpenApiParameter("team_id", int, OpenApiParameter.PATH)],
        request=ReasonSerializer,
        responses={200: OrganizerTeamSerializer, **error_responses(401, 404)},
    )
    def post(self, request, slug: str, team_id: int):
        challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.team_approve(
            challenge=challenge,
            actor=request.user,
            team_id=team_id,
            reason=data.validated_data.get("reason", ""),
        )
        row = next(r for r in selectors.console_teams(challenge=challenge) if r.team.pk == team_id)
        for membership in row.members:
            membership.user_id = membership.user.pk
        return Response(OrganizerTeamSerializer(row).data)
