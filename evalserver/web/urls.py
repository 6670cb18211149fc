from django.contrib.auth import views as auth_views
from django.urls import path

from evalserver.web import registration_views, views

urlpatterns = [
    path("", views.challenge_list, name="challenge-list"),
    path("challenges/<slug:slug>/", views.challenge_detail, name="challenge-detail"),
    path(
        "challenges/<slug:slug>/dashboard/",
        views.challenge_dashboard,
        name="challenge-dashboard",
    ),
    path("challenges/<slug:slug>/team/", views.team_page, name="team-page"),
    path("challenges/<slug:slug>/team/create/", views.team_create_view, name="team-create"),
    path("challenges/<slug:slug>/team/join/", views.team_join_view, name="team-join"),
    path("challenges/<slug:slug>/team/leave/", views.team_leave_view, name="team-leave"),
    path(
        "challenges/<slug:slug>/team/invite/",
        views.team_regenerate_invite_view,
        name="team-regenerate-invite",
    ),
    path(
        "challenges/<slug:slug>/team/members/<int:user_id>/remove/",
        views.team_remove_member_view,
        name="team-remove-member",
    ),
    # Email confirmation, for challenges limited to email domains (issue 15).
    path("account/confirm-email/", registration_views.confirm_email, name="confirm-email"),
    path(
        "account/confirm-email/<str:token>/",
        registration_views.confirm_email_token,
        name="confirm-email-token",
    ),
    # Accounts: Django's own views with our templates under templates/registration/.
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/token/", views.api_token, name="api-token"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
