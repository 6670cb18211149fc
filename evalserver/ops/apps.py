from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operators watch and keep: health, metrics, structured logs, backups."""

    name = "evalserver.ops"
    label = "ops"

    def ready(self) -> None:
        # The worker-side hooks (heartbeats, the submission id in log lines) connect to
        # Celery's signals; importing them here wires every process the same way.
        from evalserver.ops import worker_signals  # noqa: F401
