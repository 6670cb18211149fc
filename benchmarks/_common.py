"""What the benchmarks share: a scratch database, a free port, waiting for a process to
answer, stopping its process group, and the peak memory of a measuring child."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")


def recreate_database(url: str) -> None:
    import dj_database_url
    import psycopg2

    config = dj_database_url.parse(url)
    name = config["NAME"]
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: the benchmark database name must say bench")
    admin = psycopg2.connect(
        dbname="postgres",
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def peak_rss_kib() -> int:
    """This process's peak resident memory, in KiB.

    ``ru_maxrss`` survives ``exec``, so in a child it can report the (large) parent it was
    forked from; the kernel's VmHWM starts afresh at exec and belongs to this program alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and every child it forked."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """Every process's (parent, name, CPU seconds of itself and its reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        # The name is in parentheses and may itself hold spaces or parentheses.
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[1] is the parent; [11:15] utime, stime, cutime, cstime (in clock ticks).
        stats[int(entry.name)] = (
            int(fields[1]),
            name,
            sum(int(x) for x in fields[11:15]) / tick,
        )
    return stats


def cpu_by_tree(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named group of process trees.

    A process counts its own time and that of the children it has reaped, so a child that
    ended between two readings still counts (in its parent); take differences of two
    readings for an interval.
    """
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _name, _cpu) in stats.items():
        children.setdefault(parent, []).append(pid)
    totals = {}
    for group, pids in roots.items():
        total, todo = 0.0, [p for p in pids if p in stats]
        while todo:
            pid = todo.pop()
            total += stats[pid][2]
            todo.extend(children.get(pid, ()))
        totals[group] = total
    return totals


def pids_named(name: str) -> list[int]:
    """The processes called ``name`` whose parent is not (the roots of such trees)."""
    stats = _proc_stats()
    return [
        pid
        for pid, (parent, own, _cpu) in stats.items()
        if own == name and stats.get(parent, (0, ""))[1] != name
    ]
