"""/metrics: Prometheus text from prometheus-client.

Two sources. Request counts and latency by view come from django-prometheus's
middleware, per process; under gunicorn set PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode) so every worker's counts add up in one scrape. The pipeline figures
(submissions by status and phase, the queue, scoring durations, failures, workers) are
read from the shared database at scrape time by a custom collector: correct whichever
process or host did the work, and nothing to aggregate across Celery workers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from evalserver.ops import selectors
from evalserver.proxies import client_address

logger = logging.getLogger(__name__)


class PipelineCollector(Collector):
    """The pipeline's figures, read from the shared database at each scrape.

    When the database cannot be read (down, restarting), the scrape still answers: the
    per-process request figures, and ``evalserver_pipeline_up`` 0 instead of the pipeline's
    (a 500 would lose both, and Prometheus could not tell a dead web process from a dead
    database).
    """

    def collect(self):
        try:
            families, up = list(self._pipeline()), 1
        except DatabaseError:
            logger.warning("/metrics: the pipeline figures could not be read", exc_info=True)
            families, up = [], 0
        yield GaugeMetricFamily(
            "evalserver_pipeline_up",
            "1 if the pipeline figures below were read from the database, 0 if it failed.",
            value=up,
        )
        yield from families

    def _pipeline(self):
        submissions = GaugeMetricFamily(
            "evalserver_submissions",
            "Submissions by phase (challenge/phase) and status.",
            labels=["phase", "status"],
        )
        for phase, status, n in selectors.submission_counts():
            submissions.add_metric([phase, status], n)
        yield submissions

        queue = selectors.queue_figures()
        yield GaugeMetricFamily(
            "evalserver_queue_depth", "Submissions waiting for a worker.", value=queue.depth
        )
        yield GaugeMetricFamily(
            "evalserver_queue_oldest_seconds",
            "Age of the oldest queued submission (0 when none waits).",
            value=queue.oldest_queued_seconds,
        )

        durations = HistogramMetricFamily(
            "evalserver_scoring_duration_seconds",
            "Time from a worker's claim to the score, by track (finished submissions).",
            labels=["track"],
        )
        for h in selectors.scoring_durations():
            buckets = [(_bound(b), n) for b, n in h.buckets] + [("+Inf", h.count)]
            durations.add_metric([h.track], buckets, sum_value=h.total_seconds)
        yield durations

        failures = CounterMetricFamily(
            "evalserver_submission_failures",
            "Failed scorings by reason (invalid, time_limit, server_error, crashed, ...).",
            labels=["reason"],
        )
        for reason, n in selectors.failure_counts():
            failures.add_metric([reason], n)
        yield failures

        workers = GaugeMetricFamily(
            "evalserver_worker_last_seen_seconds",
            "Seconds since each Celery worker's last heartbeat.",
            labels=["worker"],
        )
        for name, age in selectors.workers_last_seen():
            workers.add_metric([name], age)
        yield workers


def _bound(value: float) -> str:
    return repr(float(value))


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.EVALSERVER_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in settings.EVALSERVER_METRICS_ALLOWED)


def metrics_text() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    pipeline = CollectorRegistry(auto_describe=False)
    pipeline.register(PipelineCollector())
    return generate_latest(processes) + generate_latest(pipeline)
