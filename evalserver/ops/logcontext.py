"""The request id and submission id that every log line of a request or a task carries.

Context variables: a thread of the in-process executor or a Celery pool process sets its
own, and they never leak from one request or task into the next.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
submission_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "submission_id", default=None
)

# An incoming X-Request-ID is kept when it looks like an id (a proxy's or a client's), so a
# request can be followed through the load balancer; anything else is replaced, never
# written into our logs.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


def request_id_from(header: str | None) -> str:
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextlib.contextmanager
def bound(*, request: str | None = None, submission: int | None = None) -> Iterator[None]:
    tokens = []
    if request is not None:
        tokens.append((request_id, request_id.set(request)))
    if submission is not None:
        tokens.append((submission_id, submission_id.set(submission)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Adds request_id and submission_id to every record (None outside a request/task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not hasattr(record, "submission_id"):
            record.submission_id = submission_id.get()
        return True
