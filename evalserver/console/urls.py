"""The organizer console's pages; included by evalserver/urls.py."""

from django.urls import path

from evalserver.console import views

urlpatterns = [
    path("console/", views.index, name="console-index"),
    path("console/<slug:slug>/", views.overview, name="console-overview"),
    path("console/<slug:slug>/phases/<int:phase_id>/", views.phase_page, name="console-phase"),
    path(
        "console/<slug:slug>/phases/<int:phase_id>/labels/",
        views.phase_labels,
        name="console-phase-labels",
    ),
    path(
        "console/<slug:slug>/phases/<int:phase_id>/<str:switch>/",
        views.phase_switch,
        name="console-phase-switch",
    ),
    path(
        "console/<slug:slug>/rescores/<int:rescore_id>/", views.rescore_page, name="console-rescore"
    ),
    path(
        "console/<slug:slug>/rescores/<int:rescore_id>/<str:verb>/",
        views.rescore_action,
        name="console-rescore-action",
    ),
    path("console/<slug:slug>/submissions/", views.submissions_page, name="console-submissions"),
    path(
        "console/<slug:slug>/submissions/<int:submission_id>/",
        views.submission_page,
        name="console-submission",
    ),
    path("console/<slug:slug>/teams/", views.teams_page, name="console-teams"),
    path("console/<slug:slug>/teams.csv", views.teams_csv, name="console-teams-csv"),
    path(
        "console/<slug:slug>/teams/<int:team_id>/approve/",
        views.team_approve,
        name="console-team-approve",
    ),
    path(
        "console/<slug:slug>/users/<int:user_id>/<str:verb>/",
        views.user_action,
        name="console-user-action",
    ),
    path("console/<slug:slug>/audit/", views.audit_page, name="console-audit"),
    path(
        "console/<slug:slug>/announcements/",
        views.announcements_page,
        name="console-announcements",
    ),
]
