import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")

application = get_wsgi_application()

# Import every view now, while gunicorn boots the worker, rather than on its first request:
# the URLconf pulls in the views, serializers and their schema patterns (about a second of
# CPU), which the first participants to reach a fresh worker would otherwise wait for.
get_resolver().url_patterns  # noqa: B018
