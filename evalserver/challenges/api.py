"""Challenge endpoints: the public list of challenges and their phases."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny

from evalserver.api import error_responses
from evalserver.challenges.selectors import challenge_list_published
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
