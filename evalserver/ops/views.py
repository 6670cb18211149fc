"""The operators' endpoints: /healthz, /readyz, /metrics (thin: the work is in the modules)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from evalserver.ops.health import run_readiness_checks
from evalserver.ops.metrics import metrics_allowed, metrics_text

# The classic text format every Prometheus version reads (names escaped with underscores,
# prometheus-client's default, so the body is the same as its newer 1.0.0 label).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    # The process answers: nothing else is checked, so a database outage never gets the
    # web processes restarted by their supervisor.
    return JsonResponse({"status": "ok"})


def _run_checks():
    try:
        # async_to_sync: the checks' synchronous database and cache calls come back to this
        # thread, so their connections are the ones closed below.
        return async_to_sync(run_readiness_checks)()
    finally:
        connections.close_all()


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    # The checks are coroutines (django-health-check); they run on a thread of their own,
    # whatever event loop the calling thread may already be running.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz") as pool:
        results = pool.submit(_run_checks).result()
    failing = [r.name for r in results if not r.ok]
    body = {
        "status": "unavailable" if failing else "ok",
        "failing": failing,
        "components": {
            r.name: {"ok": r.ok, "error": r.error, "seconds": r.seconds} for r in results
        },
    }
    return JsonResponse(body, status=503 if failing else 200)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse(
            "metrics are not public: allowed networks or a bearer token only\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(metrics_text(), content_type=METRICS_CONTENT_TYPE)
