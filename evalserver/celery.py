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
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")

logger = logging.getLogger(__name__)

app = Celery("evalserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tune_memory_for_scoring(**kwargs):
    """A worker's pool process scores one file after another: let its arrays reuse the
    memory the previous ones freed (evalserver.scoring.detection_arrow)."""
    from evalserver.scoring.detection_arrow import reuse_freed_memory

    reuse_freed_memory()


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

    interval = settings.EVALSERVER_SWEEP_INTERVAL
    sender.add_periodic_task(interval, sender.signature(queue.SWEEP_TASK), name="sweep")
    # Cheap sweeps of their own rows, sent to the workers and expiring before the next run (so
    # they never pile up behind a stopped worker): label-fix previews whose worker died
    # (evalserver.console), and announcement mail whose mail server was down.
    sender.add_periodic_task(
        interval,
        sender.signature("console.sweep_rescores", expires=interval),
        name="sweep-rescores",
    )
    sender.add_periodic_task(
        interval,
        sender.signature("announcements.sweep_mail", expires=interval),
        name="sweep-announcement-mail",
    )
