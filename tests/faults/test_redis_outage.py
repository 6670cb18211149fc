"""A Redis outage (issue 11, item 2): the documented compose layout, cache on Redis
database 1 and broker on database 0, with Redis killed for several seconds.

gunicorn, a celery worker and beat run as real processes against a private redis-server.
During the outage every page and endpoint a participant uses keeps answering (throttles
fail open, uploads are stored queued); once Redis is back the sweeper hands the queued
uploads to the worker and every one is scored, with its exact score. That includes the
uploads whose messages were waiting in Redis when it was killed (it keeps no data here).
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import override_settings

from evalserver import cache as fail_open
from submissions.models import Submission
from tests.faults.conftest import elapsed, report
from tests.processes import wait_until
from tests.recognition_data import answer_bytes, expected_macro_f1

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

Status = Submission.Status
PASSWORD = "correct horse battery"  # tests/factories.py
OUTAGE_SECONDS = 8.0


def test_the_cache_fails_open_and_warns_once_while_redis_is_down(redis_server, caplog):
    # The backend on its own: what a throttle, a mail rate limit or a cached page sees.
    location = redis_server.url_for(1)
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "evalserver.cache.FailOpenRedisCache",
                "LOCATION": location,
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
            }
        }
    ):
        from django.core.cache import cache

        cache.set("k", [1, 2], 30)
        assert cache.get("k") == [1, 2]
        redis_server.stop(signal.SIGKILL)

        began = time.monotonic()
        assert cache.get("k", "miss") == "miss"
        assert cache.get_or_set("n", lambda: 7) == 7
        assert cache.add("once", 1) is True  # as on an empty cache: rate limits let it through
        assert cache.set("k", [3]) is None
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert cache.get_many(["a", "b"]) == {}
        assert cache.has_key("k") is False
        with pytest.raises(ValueError, match="not found"):
            cache.incr("n")
        for _ in range(200):
            assert cache.get("k") is None
        took = time.monotonic() - began
        assert took < 3, f"{took:.1f} s for 210 cache calls against a dead Redis"
        warnings = [r for r in caplog.records if r.name == "evalserver.cache"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "cannot be reached" in warnings[0].getMessage()

        redis_server.start()
        # Retried after fail_open.RETRY_AFTER seconds: the cache works again by itself.
        wait_until(
            lambda: cache.set("k", [4]) is None and cache.get("k") == [4],
            timeout=fail_open.RETRY_AFTER + 5,
            what="the cache to answer again",
        )
        assert "answers again" in caplog.records[-1].getMessage()


def test_a_redis_outage_costs_no_5xx_and_loses_no_upload(
    redis_server, celery_processes, open_phase, alice, alice_team
):
    phase = open_phase.phase
    cache_url = redis_server.url_for(1)
    celery_processes.worker(
        "w1",
        beat=True,
        EVALSERVER_SWEEP_INTERVAL="2",
        EVALSERVER_CACHE_URL=cache_url,
        # Slow enough that uploads made just before the outage wait in the broker.
        EVALSERVER_TEST_SCORING_DELAY_MS="400",
    )
    web, base = celery_processes.web(workers=2, EVALSERVER_CACHE_URL=cache_url)
    # The tests hash with MD5 (tests/conftest.py); gunicorn knows only the real hashers.
    alice.password = PBKDF2PasswordHasher().encode(PASSWORD, "faultsalt")
    alice.save(update_fields=["password"])
    session = requests.Session()
    token = session.post(
        f"{base}/api/v1/auth/token/",
        data={"username": "alice", "password": PASSWORD},
        timeout=30,
    ).json()["token"]
    auth = {"Authorization": f"Token {token}"}
    predictions: dict[int, object] = {}

    def upload() -> requests.Response:
        prediction = open_phase.prediction()
        response = session.post(
            f"{base}/api/v1/phases/{phase.pk}/submissions/",
            files={"file": ("answer.txt", answer_bytes(prediction))},
            headers=auth,
            timeout=30,
        )
        if response.status_code == 201:
            predictions[response.json()["id"]] = prediction
        return response

    # Anonymous and signed-in reads, the token endpoint, uploads: the participant's day.
    def token_request() -> requests.Response:
        return session.post(
            f"{base}/api/v1/auth/token/",
            data={"username": "alice", "password": PASSWORD},
            timeout=30,
        )

    requests_by_name = {
        "upload": upload,
        "token": token_request,
        "leaderboard api": lambda: session.get(
            f"{base}/api/v1/phases/{phase.pk}/leaderboard/", timeout=30
        ),
        "leaderboard page": lambda: session.get(
            f"{base}/phases/{phase.pk}/leaderboard/", timeout=30
        ),
        "submission list api": lambda: session.get(
            f"{base}/api/v1/phases/{phase.pk}/submissions/", headers=auth, timeout=30
        ),
        "challenge list api": lambda: requests.get(f"{base}/api/v1/challenges/", timeout=30),
    }

    for _ in range(4):
        before = upload()
        assert before.status_code == 201, before.text
    made_before = set(predictions)

    def some_waiting_in_the_broker():
        # One being scored, the others handed to the broker and waiting there.
        handed_over = Submission.objects.filter(
            pk__in=made_before, status=Status.QUEUED, enqueued_at__isnull=False
        )
        return Submission.objects.filter(pk__in=made_before, status=Status.RUNNING).exists() and (
            set(handed_over.values_list("pk", flat=True))
        )

    # Killed without persistence: the messages waiting in it are gone with it.
    lost_with_redis = wait_until(
        some_waiting_in_the_broker, timeout=60, what="uploads waiting in the broker"
    )
    redis_server.stop(signal.SIGKILL)
    outage_began = time.monotonic()
    statuses: Counter[tuple[str, int]] = Counter()
    slowest = 0.0
    while time.monotonic() - outage_began < OUTAGE_SECONDS:
        for name, call in requests_by_name.items():
            began = time.monotonic()
            response = call()
            slowest = max(slowest, time.monotonic() - began)
            statuses[(name, response.status_code)] += 1
    during = set(predictions) - made_before
    # Stored and queued, never handed to the (dead) broker.
    queued = Submission.objects.filter(pk__in=during)
    assert all(s.status == Status.QUEUED and s.enqueued_at is None for s in queued)

    redis_server.start()
    outage = time.monotonic() - outage_began
    back = time.monotonic()

    def all_scored() -> bool:
        return not Submission.objects.filter(pk__in=predictions).exclude(status=Status.FINISHED)

    wait_until(all_scored, timeout=120, what="every upload to be scored")
    recovered_in = elapsed(back)

    failures = {key: n for key, n in statuses.items() if key[1] >= 500}
    total = sum(statuses.values())
    uploads = sum(n for (name, _), n in statuses.items() if name == "upload")
    report(
        "redis-down",
        outage=f"{outage:.1f}s",
        requests=total,
        uploads=uploads,
        lost_in_the_broker=len(lost_with_redis),
        http_5xx=sum(failures.values()),
        slowest_request=f"{slowest:.2f}s",
        all_scored_after_restart=recovered_in,
        statuses=dict(sorted(Counter(code for _, code in statuses.elements()).items())),
    )
    assert failures == {}, failures
    assert statuses[("upload", 201)] == uploads == len(during) > 0
    assert all(code == 200 for (name, code) in statuses if name != "upload"), statuses
    for submission in Submission.objects.filter(pk__in=predictions):
        assert submission.attempts == 1
        assert submission.primary_score == pytest.approx(
            expected_macro_f1(open_phase.truth, predictions[submission.pk])
        )
    # Throttles failed open with a warning, at most once a minute in each web process.
    warnings = web.output().count("cannot be reached")
    assert 1 <= warnings <= 2, web.output()[-3000:]
