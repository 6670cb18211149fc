"""API routes of this app; included by evalserver/api_urls.py."""

from django.urls import path

from evalserver.accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="api-register"),
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("auth/token/rotate/", api.TokenRotateView.as_view(), name="api-token-rotate"),
    path("auth/me/", api.MeView.as_view(), name="api-me"),
]
