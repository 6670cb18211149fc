"""The dispatcher (submissions.queue) sends and runs tasks by name, so the services that
enqueue never import the tasks that call them: the pipeline's imports go one way."""

from __future__ import annotations

import ast
import datetime as dt
import typing
from pathlib import Path

import pytest
from django.utils import timezone

from evalserver.celery import app
from submissions import queue
from submissions.models import Submission
from tests.factories import SubmissionFactory
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("evalserver", "submissions", "leaderboard")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every first-party module ``path`` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from submissions import queue`` imports submissions.queue.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in FIRST_PARTY)
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = {
        _module_name(path): path
        for package in FIRST_PARTY
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    return {name: _imports(path) & modules.keys() for name, path in modules.items()}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module == goal:
            return True
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return False


def test_the_dispatcher_imports_neither_the_services_nor_the_tasks():
    graph = _import_graph()
    assert "submissions.services" not in graph["submissions.queue"]
    assert "submissions.tasks" not in graph["submissions.queue"]
    # The tasks call the services, which enqueue through the dispatcher: one way only,
    # even counting imports made inside functions.
    assert _reaches(graph, "submissions.tasks", "submissions.queue")
    for low, high in [
        ("submissions.queue", "submissions.services"),
        ("submissions.queue", "submissions.tasks"),
        ("submissions.services", "submissions.tasks"),
    ]:
        assert not _reaches(graph, low, high), f"{low} reaches {high}"


def test_the_task_names_sent_are_the_names_registered():
    assert typing.get_args(queue.TaskName) == (queue.SCORE_TASK, queue.SWEEP_TASK)
    for name in typing.get_args(queue.TaskName):
        assert app.tasks[name].name == name


@pytest.fixture
def memory_broker(settings):
    settings.EVALSERVER_INPROCESS_TASKS = False
    previous = app.conf.broker_url
    app.conf.broker_url = "memory://"
    yield
    app.conf.broker_url = previous


def test_enqueueing_publishes_the_scoring_task_by_name(memory_broker, phase, alice_team):
    submission = SubmissionFactory(team=alice_team, phase=phase)

    assert queue.enqueue_scoring(submission.pk) is True

    with app.connection_for_read() as conn, conn.SimpleQueue("celery") as messages:
        message = messages.get(timeout=5)
        message.ack()
    assert message.headers["task"] == queue.SCORE_TASK
    assert message.payload[0] == [submission.pk]
    submission.refresh_from_db()
    assert submission.enqueued_at is not None
    assert submission.status == Submission.Status.QUEUED


def test_running_here_goes_through_the_registered_task(inprocess_sync, phase, alice_team):
    # The sweep task's body, run in this process by name: nothing to do on an empty table.
    assert queue.run_here(queue.SWEEP_TASK) == {"requeued": 0, "recovered": 0, "timed_out": 0}


def _purge() -> None:
    with app.connection_for_write() as conn:
        app.amqp.queues[app.conf.task_default_queue](conn.default_channel).purge()


def test_the_broker_backlog_counts_the_waiting_messages(memory_broker, phase, alice_team):
    _purge()
    assert queue.broker_backlog() == 0
    for _ in range(2):
        assert queue.enqueue_scoring(SubmissionFactory(team=alice_team, phase=phase).pk)
    assert queue.broker_backlog() == 2
    _purge()
    assert queue.broker_backlog() == 0


def test_the_broker_backlog_is_unknown_without_a_broker_or_when_it_is_down(settings):
    settings.EVALSERVER_INPROCESS_TASKS = True
    assert queue.broker_backlog() is None
    settings.EVALSERVER_INPROCESS_TASKS = False
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    try:
        assert queue.broker_backlog() is None
    finally:
        app.conf.broker_url = previous


def test_a_message_the_broker_lost_is_sent_again_only_when_nothing_waits(
    settings, memory_broker, phase, alice_team
):
    from submissions.services import submissions_sweep

    _purge()
    handed_over = timezone.now() - dt.timedelta(seconds=settings.EVALSERVER_SWEEP_INTERVAL + 1)
    lost = SubmissionFactory(team=alice_team, phase=phase, enqueued_at=handed_over)
    # Behind a backlog its message may still be waiting: left alone.
    waiting = SubmissionFactory(team=alice_team, phase=phase)
    assert queue.enqueue_scoring(waiting.pk)
    assert submissions_sweep()["requeued"] == 0

    # Nothing waits any more (a Redis restarted without its data): sent again, once.
    _purge()
    assert submissions_sweep()["requeued"] == 1
    assert queue.broker_backlog() == 1
    assert submissions_sweep()["requeued"] == 0
    lost.refresh_from_db()
    assert lost.enqueued_at > handed_over
    _purge()
