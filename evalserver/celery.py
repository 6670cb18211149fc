"""The Celery application. Workers start with ``celery -A evalserver worker``.

The sweeper runs on celery beat: ``celery -A evalserver beat`` (one per deployment), or
``celery -A evalserver worker -B`` on a single machine.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")

app = Celery("evalserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_sweeper(sender, **kwargs):
    from django.conf import settings

    # Expires before the next run: sweeps never pile up behind a stopped worker.
    interval = settings.EVALSERVER_SWEEP_INTERVAL
    sender.add_periodic_task(
        interval, sender.signature("submissions.sweep", expires=interval), name="sweep"
    )
    # Label-fix previews whose worker died (evalserver.console): handed out again.
    sender.add_periodic_task(
        interval,
        sender.signature("console.sweep_rescores", expires=interval),
        name="sweep-rescores",
    )
    # Announcement mail whose mail server was down: tried again when due.
    sender.add_periodic_task(
        interval,
        sender.signature("announcements.sweep_mail", expires=interval),
        name="sweep-announcement-mail",
    )
