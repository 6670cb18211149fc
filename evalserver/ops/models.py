from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """When a scoring worker last said it was alive; /metrics reports the age of each.

    Workers may run on other hosts than the web process, so the shared database is the
    one place every /metrics scrape can read them from.
    """

    name = models.CharField(max_length=200, unique=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} seen {self.last_seen_at:%Y-%m-%d %H:%M:%S}"
