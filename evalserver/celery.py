"""The Celery application. Workers start with ``celery -A evalserver worker``.

The sweeper runs on celery beat: ``celery -A evalserver beat`` (one per deployment), or
``celery -A evalserver worker -B`` on a single machine. Beat runs each sweep itself,
against the database (``SweepingScheduler``), instead of sending it to the workers: a
sweep must run however long the scoring queue is, and whether or not any worker is alive.
"""

import logging
import os

from celery import Celery
from celery.beat import PersistentScheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")

logger = logging.getLogger(__name__)

app = Celery("evalserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class SweepingScheduler(PersistentScheduler):
    """Celery's default scheduler, except that the sweep runs here, in the beat process.

    Sent to the workers, a sweep would wait behind every scoring task queued before it
    (and an expiry to keep sweeps from piling up would revoke them all): exactly when
    submissions are stranded, nothing would re-queue them. Configured as
    ``CELERY_BEAT_SCHEDULER``.
    """

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        from submissions import queue

        if entry.task != queue.SWEEP_TASK:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        if advance:
            entry = self.reserve(entry)
        from django.db import close_old_connections

        # Beat lives for weeks: a connection the database dropped (a restart) is replaced.
        close_old_connections()
        try:
            counts = queue.sweep_tick()
        finally:
            close_old_connections()
        logger.info("Sweep: %s", counts)
        return None


@app.on_after_finalize.connect
def _schedule_sweeper(sender, **kwargs):
    from django.conf import settings

    from submissions import queue

    sender.add_periodic_task(
        settings.EVALSERVER_SWEEP_INTERVAL, sender.signature(queue.SWEEP_TASK), name="sweep"
    )
