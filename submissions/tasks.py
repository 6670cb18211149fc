"""Celery tasks of the submission pipeline. They take ids and call a service.

Registered under the names submissions.queue sends them by (``SCORE_TASK``, ``SWEEP_TASK``);
nothing imports this module but Celery's autodiscovery.
"""

import logging
import os

from celery import shared_task
from django.conf import settings

from submissions import queue, services

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name=queue.SCORE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.EVALSERVER_SCORING_SOFT_TIME_LIMIT,
    time_limit=settings.EVALSERVER_SCORING_TIME_LIMIT,
)
def score_submission(self, submission_id: int) -> str:
    # The node name (worker@host) and the pool process say where to look in the logs. No
    # node name: run here by queue.run_here, in the web process's own thread pool.
    hostname = self.request.hostname
    worker = f"{hostname}:{os.getpid()}" if hostname else queue.inprocess_worker_identity()
    outcome = services.submission_score(submission_id=submission_id, worker=worker)
    # With EVALSERVER_LOG_FORMAT=json the line carries submission_id (evalserver.ops).
    logger.info("Submission %s: %s", submission_id, outcome)
    return outcome


@shared_task(name=queue.SWEEP_TASK, acks_late=False, ignore_result=True)
def sweep_submissions() -> dict[str, int]:
    return services.submissions_sweep()
