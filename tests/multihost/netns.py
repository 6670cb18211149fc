"""A private network of hosts made of Linux network namespaces, for multi-host tests.

One namespace ("svc") holds a bridge with the services' address; every other host is a
namespace joined to that bridge by a veth pair. Every address lives inside namespaces
this module made (10.231.0.0/24 by default), never on the machine's own interfaces, and
``close()`` deletes them all, which removes the veths with them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); CI runs as root"
    name = f"evs-probe-{uuid.uuid4().hex[:6]}"
    try:
        _ip("netns", "add", name)
    except FileNotFoundError:
        return "the ip command (iproute2) is not installed"
    except subprocess.CalledProcessError as exc:
        return f"ip netns add failed: {exc.stderr.decode(errors='replace').strip()}"
    _ip("netns", "del", name)
    return None


class Network:
    def __init__(self, prefix: str = "10.231.0"):
        self.tag = uuid.uuid4().hex[:5]
        self.prefix = prefix
        self.services_address = f"{prefix}.1"
        self.hosts: dict[str, str] = {}  # host name -> namespace
        self.addresses: dict[str, str] = {}
        self.svc = self._ns("svc")
        _ip("netns", "add", self.svc)
        self._created = [self.svc]
        _ip("-n", self.svc, "link", "set", "lo", "up")
        _ip("-n", self.svc, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.svc, "addr", "add", f"{self.services_address}/24", "dev", "br0")
        _ip("-n", self.svc, "link", "set", "br0", "up")

    def _ns(self, host: str) -> str:
        return f"evs-{self.tag}-{host}"

    def add_host(self, host: str, last_octet: int) -> str:
        ns = self._ns(host)
        _ip("netns", "add", ns)
        self._created.append(ns)
        address = f"{self.prefix}.{last_octet}"
        side = f"v{self.tag}{host}"[:15]
        # Both ends are made inside namespaces: nothing appears on the machine's own links.
        _ip(
            "-n", self.svc, "link", "add", side, "type", "veth", "peer", "name", "eth0", "netns", ns
        )
        _ip("-n", self.svc, "link", "set", side, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[host] = ns
        self.addresses[host] = address
        return address

    def run_in(self, host: str) -> list[str]:
        """The prefix that runs a command on ``host`` ("svc" for the services)."""
        ns = self.svc if host == "svc" else self.hosts[host]
        return ["ip", "netns", "exec", ns]

    def kill_host(self, host: str, sig: int = signal.SIGKILL) -> list[int]:
        """Signal every process of ``host`` (all were started by this test), like a crash."""
        ns = self.svc if host == "svc" else self.hosts[host]
        out = subprocess.run(
            ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False
        )
        pids = [int(p) for p in out.stdout.split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def close(self) -> None:
        for ns in reversed(self._created):
            self.kill_host_ns(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)
        self._created = []

    @staticmethod
    def kill_host_ns(ns: str) -> None:
        out = subprocess.run(
            ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False
        )
        for pid in out.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
