"""Celery tasks of the console. They take ids and call a service."""

import os

from celery import shared_task

from evalserver.console import services
from submissions import queue


@shared_task(
    bind=True,
    name="console.run_rescore",
    # Acknowledged when done, and given back if the worker dies: the preview resumes from
    # the results it stored (services.rescore_run).
    acks_late=True,
    reject_on_worker_lost=True,
)
def run_rescore(self, rescore_id: int) -> str:
    hostname = self.request.hostname
    worker = f"{hostname}:{os.getpid()}" if hostname else queue.worker_name()
    return services.rescore_run(rescore_id=rescore_id, worker=worker)


@shared_task(name="console.sweep_rescores", acks_late=False, ignore_result=True)
def sweep_rescores() -> int:
    return services.rescores_sweep()
