"""Organizer API routes; included by evalserver/api_urls.py."""

from django.urls import path

from evalserver.console import api

urlpatterns = [
    path(
        "phases/<int:phase_id>/rescores/",
        api.PhaseRescoresView.as_view(),
        name="api-v1-phase-rescores",
    ),
    path("rescores/<int:rescore_id>/", api.RescoreDetailView.as_view(), name="api-v1-rescore"),
    path(
        "rescores/<int:rescore_id>/apply/",
        api.RescoreApplyView.as_view(),
        name="api-v1-rescore-apply",
    ),
    path(
        "rescores/<int:rescore_id>/discard/",
        api.RescoreDiscardView.as_view(),
        name="api-v1-rescore-discard",
    ),
]
