"""/metrics: who may read it, and what it says about requests, the queue and the workers."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from evalserver.ops.models import WorkerHeartbeat
from evalserver.ops.selectors import queue_figures
from evalserver.ops.services import worker_heartbeat
from submissions.models import Submission, SubmissionEvent
from tests.factories import PhaseFactory, SubmissionFactory

TOKEN = "a-long-enough-metrics-token"
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _scrape(client: Client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return _samples(response.content.decode())


@pytest.mark.django_db
def test_loopback_may_read_metrics_by_default():
    assert Client().get("/metrics").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("allowed", "remote", "status"),
    [
        (["10.20.0.0/16"], "10.20.3.4", 200),
        (["10.20.0.0/16"], "10.21.3.4", 403),
        (["10.20.0.0/16"], "127.0.0.1", 403),
        (["2001:db8::/32"], "2001:db8::7", 200),
        ([], "127.0.0.1", 403),
    ],
)
def test_networks_decide_without_a_token(settings, allowed, remote, status):
    import ipaddress

    settings.EVALSERVER_METRICS_ALLOWED = [ipaddress.ip_network(n) for n in allowed]
    settings.EVALSERVER_METRICS_TOKEN = TOKEN
    response = Client(REMOTE_ADDR=remote).get("/metrics")
    assert response.status_code == status
    if status == 403:
        assert b"evalserver_" not in response.content


@pytest.mark.django_db
def test_a_bearer_token_opens_metrics_from_anywhere_and_a_wrong_one_never(settings):
    settings.EVALSERVER_METRICS_ALLOWED = []
    settings.EVALSERVER_METRICS_TOKEN = TOKEN
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert outside.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403


@pytest.mark.django_db
def test_a_wrong_token_is_refused_even_from_an_allowed_network(settings):
    settings.EVALSERVER_METRICS_TOKEN = TOKEN
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


@pytest.mark.django_db
def test_the_proxy_count_decides_which_address_is_checked(settings):
    import ipaddress

    settings.EVALSERVER_METRICS_ALLOWED = [ipaddress.ip_network("10.9.0.0/16")]
    settings.EVALSERVER_TRUSTED_PROXIES = 1
    behind = Client(REMOTE_ADDR="192.0.2.1")
    assert behind.get("/metrics", HTTP_X_FORWARDED_FOR="10.9.1.1").status_code == 200
    # A client cannot choose its address by prepending to the header.
    assert behind.get("/metrics", HTTP_X_FORWARDED_FOR="10.9.1.1, 198.51.100.2").status_code == 403


@pytest.mark.django_db
def test_pipeline_figures():
    recognition = PhaseFactory(slug="dev")
    detection = PhaseFactory(slug="det", track="detection")
    with time_machine.travel(NOW, tick=False):
        for minutes in (30, 5):
            SubmissionFactory(phase=recognition, created_at=NOW - dt.timedelta(minutes=minutes))
        for took in (0.3, 0.7, 3.0):
            SubmissionFactory(
                phase=recognition,
                status=Submission.Status.FINISHED,
                started_at=NOW - dt.timedelta(seconds=took),
                finished_at=NOW,
            )
        SubmissionFactory(
            phase=detection,
            status=Submission.Status.FINISHED,
            started_at=NOW - dt.timedelta(seconds=42),
            finished_at=NOW,
        )
        failed = SubmissionFactory(phase=detection, status=Submission.Status.FAILED)
        for reason in ("invalid", "invalid", "time_limit"):
            SubmissionEvent.objects.create(
                submission=failed, action="failed", detail={"reason": reason}
            )
        worker_heartbeat(name="w1@host-a")
    with time_machine.travel(NOW + dt.timedelta(seconds=20), tick=False):
        metrics = _scrape(Client())
        figures = queue_figures()

    assert figures.depth == 2
    assert figures.oldest_queued_seconds == 30 * 60 + 20
    assert metrics[("evalserver_queue_depth", ())] == 2
    assert metrics[("evalserver_queue_oldest_seconds", ())] == 30 * 60 + 20
    phase_name = f"{recognition.challenge.slug}/dev"
    assert metrics[("evalserver_submissions", (("phase", phase_name), ("status", "queued")))] == 2
    assert metrics[("evalserver_submissions", (("phase", phase_name), ("status", "finished")))] == 3
    hist = "evalserver_scoring_duration_seconds"
    classification = (("track", "classification"),)
    assert metrics[(f"{hist}_bucket", (("le", "0.5"), *classification))] == 1
    assert metrics[(f"{hist}_bucket", (("le", "1.0"), *classification))] == 2
    assert metrics[(f"{hist}_bucket", (("le", "5.0"), *classification))] == 3
    assert metrics[(f"{hist}_bucket", (("le", "+Inf"), *classification))] == 3
    assert metrics[(f"{hist}_count", classification)] == 3
    assert metrics[(f"{hist}_sum", classification)] == pytest.approx(4.0)
    assert metrics[(f"{hist}_bucket", (("le", "30.0"), ("track", "detection")))] == 0
    assert metrics[(f"{hist}_bucket", (("le", "60.0"), ("track", "detection")))] == 1
    fails = "evalserver_submission_failures_total"
    assert metrics[(fails, (("reason", "invalid"),))] == 2
    assert metrics[(fails, (("reason", "time_limit"),))] == 1
    assert metrics[("evalserver_worker_last_seen_seconds", (("worker", "w1@host-a"),))] == 20


@pytest.mark.django_db
def test_an_empty_queue_has_no_age():
    figures = queue_figures()
    assert (figures.depth, figures.oldest_queued_seconds) == (0, 0.0)


@pytest.mark.django_db
def test_request_counts_and_latency_by_view():
    client = Client()
    for _ in range(3):
        client.get("/healthz")
    metrics = _scrape(client)
    counts = {
        labels: value
        for (name, labels), value in metrics.items()
        if name == "django_http_requests_total_by_view_transport_method_total"
        and ("view", "healthz") in labels
    }
    assert sum(counts.values()) >= 3
    assert any(
        name == "django_http_requests_latency_seconds_by_view_method_count"
        and ("view", "healthz") in labels
        for name, labels in metrics
    )


@pytest.mark.django_db
def test_heartbeats_update_one_row_per_worker():
    worker_heartbeat(name="w1@a")
    worker_heartbeat(name="w1@a")
    worker_heartbeat(name="w2@b")
    assert WorkerHeartbeat.objects.count() == 2
    assert WorkerHeartbeat.objects.get(name="w1@a").last_seen_at <= timezone.now()


@pytest.mark.django_db
def test_a_worker_silent_for_a_day_is_forgotten():
    with time_machine.travel(NOW, tick=False):
        worker_heartbeat(name="celery@old-container")
    with time_machine.travel(NOW + dt.timedelta(hours=23), tick=False):
        worker_heartbeat(name="celery@new-container")
        # Still listed, 23 hours old: an operator sees the dead worker.
        assert set(WorkerHeartbeat.objects.values_list("name", flat=True)) == {
            "celery@old-container",
            "celery@new-container",
        }
    with time_machine.travel(NOW + dt.timedelta(days=1, minutes=1), tick=False):
        worker_heartbeat(name="celery@new-container")
        samples = _scrape(Client())
    assert list(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["celery@new-container"]
    workers = {
        dict(labels)["worker"]
        for name, labels in samples
        if name == "evalserver_worker_last_seen_seconds"
    }
    assert workers == {"celery@new-container"}
    assert samples[("evalserver_pipeline_up", ())] == 1
