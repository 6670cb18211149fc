"""What a Celery worker says when it starts (evalserver.ops.worker_signals)."""

import logging

from celery import signals

from evalserver.ops import worker_signals
from evalserver.scoring import detection_native


def _ready(caplog) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="evalserver.ops.worker_signals"):
        # The hook as Celery calls it, among the worker_ready receivers.
        worker_signals._say_if_detection_scoring_is_slow(sender=None)
    return [r.getMessage() for r in caplog.records]


def test_a_worker_without_the_compiled_detection_reader_says_so(caplog, monkeypatch):
    assert any(
        receiver is worker_signals._say_if_detection_scoring_is_slow
        for _, receiver in ((k, r()) for k, r in signals.worker_ready.receivers)
    )
    assert _ready(caplog) == []  # built here (CI has a C compiler)
    monkeypatch.setattr(detection_native, "_detection_csv", None)
    (message,) = _ready(caplog)
    assert "not built" in message
    assert "C compiler" in message
