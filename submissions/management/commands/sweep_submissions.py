"""Run the sweeper once: ``python manage.py sweep_submissions``.

Deployments with a broker sweep on celery beat. The embedded default has no beat, so run
this after restarting the web process: it re-queues uploads the restart left queued.
"""

from django.core.management.base import BaseCommand

from submissions import queue
from submissions.services import submissions_sweep


class Command(BaseCommand):
    help = "Re-queue stranded submissions and fail those no worker will finish."

    def handle(self, *args, **options):
        counts = submissions_sweep()
        # Without a broker the re-queued ones score in this process: let them finish.
        queue.wait_for_in_process_scoring()
        self.stdout.write(
            ", ".join(f"{name}: {count}" for name, count in counts.items()),
        )
