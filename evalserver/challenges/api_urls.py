"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from evalserver.challenges import api

urlpatterns = [
    path("challenges/", api.ChallengeListView.as_view(), name="api-v1-challenge-list"),
    path(
        "challenges/<slug:slug>/", api.ChallengeDetailView.as_view(), name="api-v1-challenge-detail"
    ),
    path(
        "challenges/<slug:slug>/downloads/<str:name>",
        api.ChallengeDownloadView.as_view(),
        name="api-v1-challenge-download",
    ),
    path(
        "phases/<int:phase_id>/downloads/<str:name>",
        api.PhaseDownloadView.as_view(),
        name="api-v1-phase-download",
    ),
]
