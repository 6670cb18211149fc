"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from leaderboard.api import PhaseLeaderboardView, PublishFinalBoardView

urlpatterns = [
    path(
        "phases/<int:phase_id>/leaderboard/",
        PhaseLeaderboardView.as_view(),
        name="api-phase-leaderboard",
    ),
    path(
        "phases/<int:phase_id>/leaderboard/publish/",
        PublishFinalBoardView.as_view(),
        name="api-phase-leaderboard-publish",
    ),
]
