"""Team endpoints: create, join, see, leave, remove a member, new invite code.

A team's details (members, invite code) are for its members: anybody else gets 404.
Joining is the exception, because the invite code is the secret that grants access.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from evalserver.accounts.models import User
from evalserver.api import error_responses
from evalserver.challenges.selectors import challenge_get
from evalserver.errors import NotFound
from evalserver.teams import selectors, services
from evalserver.teams.serializers import (
    InviteCodeSerializer,
    MyTeamSerializer,
    TeamCreatedSerializer,
    TeamCreateRequestSerializer,
    TeamDetailSerializer,
    TeamJoinRequestSerializer,
)

_TEAM_ID = OpenApiParameter("team_id", int, OpenApiParameter.PATH, description="The team's id.")


class TeamCreateView(APIView):
    @extend_schema(
        operation_id="teams_create",
        summary="Create a team for a challenge",
        description=(
            "The caller becomes its owner and first member. A user is in at most one team "
            "per challenge; names are unique per challenge, ignoring case."
        ),
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH)],
        request=TeamCreateRequestSerializer,
        responses={201: TeamCreatedSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, slug: str):
        challenge = challenge_get(slug=slug)
        data = TeamCreateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(
            user=request.user, challenge=challenge, name=data.validated_data["name"]
        )
        return Response(TeamCreatedSerializer(team).data, status=status.HTTP_201_CREATED)


class MyTeamListView(ListAPIView):
    serializer_class = MyTeamSerializer

    @extend_schema(
        operation_id="teams_mine",
        summary="The caller's teams, one per challenge at most",
        responses={200: MyTeamSerializer(many=True), **error_responses(401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.team_list_for_user(user=self.request.user)


class TeamDetailView(APIView):
    @extend_schema(
        operation_id="teams_detail",
        summary="Your team: members and invite code",
        parameters=[_TEAM_ID],
        responses={200: TeamDetailSerializer, **error_responses(401, 404)},
    )
    def get(self, request, team_id: int):
        team = selectors.team_get_for_member(user=request.user, team_id=team_id)
        return Response(TeamDetailSerializer(team).data)


class TeamJoinView(APIView):
    @extend_schema(
        operation_id="teams_join",
        summary="Join a team with its invite code",
        parameters=[_TEAM_ID],
        request=TeamJoinRequestSerializer,
        responses={200: TeamDetailSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, team_id: int):
        team = selectors.team_get(team_id=team_id)
        data = TeamJoinRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.team_join(
            user=request.user, team=team, invite_code=data.validated_data["invite_code"]
        )
        return Response(TeamDetailSerializer(team).data)


class TeamLeaveView(APIView):
    @extend_schema(
        operation_id="teams_leave",
        summary="Leave your team",
        description=(
            "An owner who leaves hands the team to the longest-standing member. The last "
            "member leaving deletes a team that never submitted."
        ),
        parameters=[_TEAM_ID],
        request=None,
        responses={204: None, **error_responses(401, 404)},
    )
    def post(self, request, team_id: int):
        team = selectors.team_get_for_member(user=request.user, team_id=team_id)
        services.team_leave(user=request.user, team=team)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMemberView(APIView):
    @extend_schema(
        operation_id="teams_remove_member",
        summary="Remove a member (team owner only)",
        parameters=[_TEAM_ID, OpenApiParameter("user_id", int, OpenApiParameter.PATH)],
        responses={204: None, **error_responses(400, 401, 403, 404)},
    )
    def delete(self, request, team_id: int, user_id: int):
        team = selectors.team_get_for_member(user=request.user, team_id=team_id)
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound("No such member of this team.")
        services.team_remove_member(actor=request.user, team=team, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamInviteCodeView(APIView):
    @extend_schema(
        operation_id="teams_regenerate_invite_code",
        summary="Replace the invite code (team owner only)",
        description="The old code stops working at once.",
        parameters=[_TEAM_ID],
        request=None,
        responses={200: InviteCodeSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request, team_id: int):
        team = selectors.team_get_for_member(user=request.user, team_id=team_id)
        code = services.team_regenerate_invite(actor=request.user, team=team)
        return Response({"invite_code": code})
