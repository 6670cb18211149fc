from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser pages: templates, vendored static files and thin views over the services."""

    name = "evalserver.web"
    label = "web"
