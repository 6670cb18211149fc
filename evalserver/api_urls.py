"""Every path of the public REST API (CONTRACT section 3), gathered from the apps."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
