"""The dispatcher (submissions.queue) sends and runs tasks by name, so the services that
enqueue never import the tasks that call them: the pipeline's imports go one way."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from evalserver.celery import app
from submissions import queue
from submissions.models import Submission
from tests.factories import SubmissionFactory

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
