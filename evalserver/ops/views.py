"""The operators' endpoints: /healthz, /readyz, /metrics (thin: the work is in the modules)."""

from __future__ import annotations

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


@never_cache
async def readyz(request: HttpRequest) -> HttpResponse:
    results = await run_readiness_checks()
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
