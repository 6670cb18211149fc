"""API routes of this app; included by evalserver/api_urls.py."""

urlpatterns: list = []
