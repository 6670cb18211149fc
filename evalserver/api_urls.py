"""Every path of the public REST API (CONTRACT section 3), gathered from the apps."""

from django.urls import include, path

urlpatterns = [
    path("", include("evalserver.accounts.api_urls")),
    path("", include("evalserver.challenges.api_urls")),
    path("", include("evalserver.teams.api_urls")),
    path("", include("submissions.api_urls")),
    path("", include("leaderboard.api_urls")),
    path("", include("evalserver.console.api_urls")),
]
