"""Challenge endpoints: the public list of challenges, one challenge, and its downloads."""

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from evalserver.api import error_responses
from evalserver.challenges.downloads import LoginRequired, download_get, download_open
from evalserver.challenges.selectors import challenge_get_published, challenge_list_published
from evalserver.challenges.serializers import ChallengeSerializer


class ChallengeListView(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = ChallengeSerializer

    @extend_schema(
        operation_id="challenges_list",
        summary="Published challenges with their phases",
        description=(
            "Public: no token needed, so a participant can find phase ids before signing up. "
            "`is_open` is true when the phase is switched open and now is inside its dates."
        ),
        responses={200: ChallengeSerializer(many=True), **error_responses(429)},
        auth=[],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return challenge_list_published()

    def get_serializer_context(self):
        # One clock for the whole page, so two phases never disagree about "now".
        return {**super().get_serializer_context(), "now": timezone.now()}


class ChallengeDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="challenges_detail",
        summary="One challenge with its phases and downloads",
        description=(
            "Public. `downloads` are the challenge's files (test clip list, class map, "
            "starting kit, ...); each phase lists its own `downloads` too."
        ),
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH)],
        responses={200: ChallengeSerializer, **error_responses(404, 429)},
        auth=[],
    )
    def get(self, request, slug: str):
        challenge = challenge_get_published(slug=slug)
        context = {"request": request, "now": timezone.now()}
        return Response(ChallengeSerializer(challenge, context=context).data)


def _serve(request, **where):
    try:
        download = download_get(user=request.user, **where)
    except LoginRequired as exc:
        # DRF's own 401, with the WWW-Authenticate header a token client expects.
        raise NotAuthenticated(exc.message) from None
    response = FileResponse(
        download_open(download=download),
        as_attachment=True,
        filename=download.name,
        content_type="application/octet-stream",
    )
    response["X-Content-SHA256"] = download.sha256
    return response


_DOWNLOAD_RESPONSES = {
    200: OpenApiResponse(OpenApiTypes.BINARY, description="The file's bytes."),
    **error_responses(401, 403, 404, 429),
}
_DOWNLOAD_DESCRIPTION = (
    "Files with `audience: participants` are for members of a team of the challenge: "
    "401 without a token or session, 403 when not in a team."
)


class ChallengeDownloadView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="challenges_download",
        summary="A challenge's download",
        description=_DOWNLOAD_DESCRIPTION,
        parameters=[
            OpenApiParameter("slug", str, OpenApiParameter.PATH),
            OpenApiParameter("name", str, OpenApiParameter.PATH),
        ],
        responses=_DOWNLOAD_RESPONSES,
    )
    def get(self, request, slug: str, name: str):
        return _serve(request, challenge_slug=slug, name=name)


class PhaseDownloadView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="phases_download",
        summary="A phase's download",
        description=_DOWNLOAD_DESCRIPTION,
        parameters=[
            OpenApiParameter("phase_id", int, OpenApiParameter.PATH),
            OpenApiParameter("name", str, OpenApiParameter.PATH),
        ],
        responses=_DOWNLOAD_RESPONSES,
    )
    def get(self, request, phase_id: int, name: str):
        return _serve(request, phase_id=phase_id, name=name)
