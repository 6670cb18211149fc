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

# The rest of the organizer API: the console's operations, for scripts.
urlpatterns += [
    path(
        "organizer/challenges/", api.OrganizerChallengesView.as_view(), name="api-v1-org-challenges"
    ),
    path(
        "organizer/phases/<int:phase_id>/",
        api.OrganizerPhaseView.as_view(),
        name="api-v1-org-phase",
    ),
    path(
        "organizer/phases/<int:phase_id>/open/",
        api.PhaseOpenView.as_view(),
        name="api-v1-org-phase-open",
    ),
    path(
        "organizer/phases/<int:phase_id>/close/",
        api.PhaseCloseView.as_view(),
        name="api-v1-org-phase-close",
    ),
    path(
        "organizer/phases/<int:phase_id>/labels/check/",
        api.PhaseLabelsCheckView.as_view(),
        name="api-v1-org-labels-check",
    ),
    path(
        "organizer/phases/<int:phase_id>/labels/",
        api.PhaseLabelsView.as_view(),
        name="api-v1-org-labels",
    ),
    path(
        "organizer/challenges/<slug:slug>/submissions/",
        api.OrganizerSubmissionsView.as_view(),
        name="api-v1-org-submissions",
    ),
    path(
        "organizer/challenges/<slug:slug>/submissions/actions/",
        api.SubmissionActionsView.as_view(),
        name="api-v1-org-submission-actions",
    ),
    path(
        "organizer/submissions/<int:submission_id>/events/",
        api.SubmissionEventsView.as_view(),
        name="api-v1-org-submission-events",
    ),
    path(
        "organizer/challenges/<slug:slug>/teams/",
        api.OrganizerTeamsView.as_view(),
        name="api-v1-org-teams",
    ),
    path(
        "organizer/challenges/<slug:slug>/teams.csv",
        api.TeamsCsvView.as_view(),
        name="api-v1-org-teams-csv",
    ),
    path(
        "organizer/challenges/<slug:slug>/members/<int:user_id>/remove/",
        api.MemberRemoveView.as_view(),
        name="api-v1-org-member-remove",
    ),
    path("organizer/challenges/<slug:slug>/bans/", api.BansView.as_view(), name="api-v1-org-bans"),
    path(
        "organizer/challenges/<slug:slug>/bans/<int:user_id>/lift/",
        api.BanLiftView.as_view(),
        name="api-v1-org-ban-lift",
    ),
    path(
        "organizer/challenges/<slug:slug>/audit/", api.AuditView.as_view(), name="api-v1-org-audit"
    ),
    path(
        "organizer/challenges/<slug:slug>/announcements/",
        api.AnnouncementsView.as_view(),
        name="api-v1-org-announcements",
    ),
    path(
        "organizer/challenges/<slug:slug>/",
        api.OrganizerChallengeView.as_view(),
        name="api-v1-org-challenge",
    ),
    path(
        "organizer/challenges/<slug:slug>/teams/<int:team_id>/approve/",
        api.TeamApproveView.as_view(),
        name="api-v1-org-team-approve",
    ),
]
