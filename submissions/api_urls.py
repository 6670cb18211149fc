"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from submissions import api

urlpatterns = [
    path(
        "phases/<int:phase_id>/submissions/",
        api.PhaseSubmissionsView.as_view(),
        name="api-v1-phase-submissions",
    ),
    path(
        "phases/<int:phase_id>/validate/",
        api.PhaseValidateView.as_view(),
        name="api-v1-phase-validate",
    ),
    path(
        "submissions/<int:submission_id>/",
        api.SubmissionDetailView.as_view(),
        name="api-v1-submission-detail",
    ),
]
