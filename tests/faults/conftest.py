"""The fault suite: real Redis, celery workers, gunicorn and PostgreSQL processes that the
tests start, stop and kill by signal, never the machine's own services.

Every test here is marked ``faults`` and bounded in time: each wait has a timeout. The
figures of each run (outage length, requests, 5xx, time to recover) are printed on one
line starting ``FAULT`` (``pytest -s`` shows them) and recorded in the README's "What
survives what".
"""

from __future__ import annotations

import email
import logging
import time
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from tests.pipeline.conftest import LabelledPhase
from tests.processes import (  # noqa: F401 (fixtures)
    celery_processes,
    free_port,
    postgres_cluster,
    redis_server,
)
from tests.recognition_data import phase_with_labels, random_matrix

N_CLIPS = 200


def report(fault: str, **figures: object) -> str:
    """Print one fault's figures on a line of their own, and return it."""
    line = f"FAULT {fault}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n{line}")
    return line


@pytest.fixture
def open_phase(challenge) -> LabelledPhase:
    """A labelled phase without quotas: the fault tests upload many files."""
    truth = random_matrix(N_CLIPS, seed=11)
    phase = phase_with_labels(
        truth,
        challenge=challenge,
        slug="faults",
        name="Faults",
        max_submissions_per_day=None,
        max_submissions_total=None,
    )
    return LabelledPhase(phase, truth)


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def env(self) -> dict[str, str]:
        """What a process needs to mail here (and whom it would tell)."""
        return {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "false",
            "EVALSERVER_ADMINS": "ops@example.org",
        }


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    # aiosmtpd logs every SMTP command at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f}s"
