"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from evalserver.accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="api-v1-register"),
    path("auth/token/", api.TokenView.as_view(), name="api-v1-token"),
    path("auth/token/rotate/", api.TokenRotateView.as_view(), name="api-v1-token-rotate"),
    path("auth/logout/", api.LogoutView.as_view(), name="api-v1-logout"),
    path("auth/me/", api.MeView.as_view(), name="api-v1-me"),
    path("auth/password-reset/", api.PasswordResetView.as_view(), name="api-v1-password-reset"),
]
