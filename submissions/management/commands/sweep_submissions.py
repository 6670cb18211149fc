"""Run the sweeper once: ``python manage.py sweep_submissions``.

Nobody needs to run this on a schedule. With a broker, celery beat sweeps every
EVALSERVER_SWEEP_INTERVAL; without one (the embedded default), the web process sweeps
itself in a thread that its first request starts, and that first sweep takes over at once
what the process before a restart left behind: uploads handed to its thread pool and
submissions it was scoring. The command is for a one-off sweep, e.g. while no web process
is running. Without a broker it scores what it re-queues in this process and waits for it;
submissions a live web process is scoring are left alone.
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
