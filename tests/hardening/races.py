"""Two sign-ups at the same moment, the second losing the race in the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import connection, connections, transaction

from evalserver.accounts import services as accounts

PASSWORD = "a sturdy pw 91"


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def while_first_signs_up(first: dict, second: Callable[[], object]) -> object:
    """Run ``second`` while ``first``'s sign-up is inserted but not committed: the second's
    check passes, then its insert waits on the first's row in the unique index and fails
    when that commits. Returns what ``second`` returned."""
    first_inserted = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, object] = {}

    def sign_up_first():
        try:
            with transaction.atomic():
                accounts.user_create(**first, password=PASSWORD)
                first_inserted.set()
                release_first.wait(timeout=20)
        finally:
            connections.close_all()

    def run_second():
        try:
            outcome["second"] = second()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_up_first), threading.Thread(target=run_second)]
    threads[0].start()
    assert first_inserted.wait(timeout=20)
    threads[1].start()
    deadline = time.monotonic() + 20
    while not _waiting_on_a_lock():
        assert time.monotonic() < deadline, "the second sign-up never waited on the first"
        time.sleep(0.02)
    release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    return outcome["second"]


def service_sign_up(**fields) -> Callable[[], object]:
    """A second sign-up through the service: its field errors, or "created"."""

    def second():
        try:
            accounts.user_create(**fields, password=PASSWORD)
        except accounts.AccountInvalid as exc:
            return exc.field_errors
        return "created"

    return second
