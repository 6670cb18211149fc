"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from evalserver.teams import api

urlpatterns = [
    path("challenges/<slug:slug>/teams/", api.TeamCreateView.as_view(), name="api-v1-team-create"),
    path("teams/", api.MyTeamListView.as_view(), name="api-v1-team-list"),
    path("teams/<int:team_id>/", api.TeamDetailView.as_view(), name="api-v1-team-detail"),
    path("teams/<int:team_id>/join/", api.TeamJoinView.as_view(), name="api-v1-team-join"),
    path("teams/<int:team_id>/leave/", api.TeamLeaveView.as_view(), name="api-v1-team-leave"),
    path(
        "teams/<int:team_id>/members/<int:user_id>/",
        api.TeamMemberView.as_view(),
        name="api-v1-team-member",
    ),
    path(
        "teams/<int:team_id>/invite-code/",
        api.TeamInviteCodeView.as_view(),
        name="api-v1-team-invite-code",
    ),
]
