"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from evalserver.challenges import api

urlpatterns = [
    path("challenges/", api.ChallengeListView.as_view(), name="api-v1-challenge-list"),
]
