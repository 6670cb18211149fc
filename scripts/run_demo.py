"""`make run`: start the development server and say where it is and how to sign in.

Runs ``manage.py runserver`` as a child, waits (bounded) until it answers, then prints the
URL and the demo accounts; Ctrl-C stops both. The accounts are seed_demo's (DEMO_USERS).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ADDRESS = os.environ.get("EVALSERVER_RUN_ADDRESS", "127.0.0.1:8000")
WAIT_SECONDS = 60


def _banner(url: str) -> str:
    from evalserver.challenges.management.commands.seed_demo import DEMO_USERS

    roles = {
        "organizer": "organizer: dashboard, admin, freeze and reveal the ended private board",
        "alice": "participant in Tiny Transformers (a history of submissions)",
        "bob": "alice's teammate",
        "charlie": "participant in Low-Res Lab",
        "dave": "charlie's teammate",
        "erin": "new participant in no team: try the way to a first submission",
    }
    lines = ["", f"  The demo server is up: {url}", "", "  Demo accounts (username / password):"]
    for username, password, _ in DEMO_USERS:
        lines.append(f"    {username:<10} {password:<22} {roles.get(username, '')}")
    lines += [f"  API docs: {url}api/docs/", "  Stop with Ctrl-C.", ""]
    return "\n".join(lines)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own server
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")
    import django

    django.setup()
    url = f"http://{ADDRESS}/"
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", ADDRESS])
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            if _answers(url):
                print(_banner(url), flush=True)
                break
            time.sleep(0.3)
        else:
            if server.poll() is None:
                print(f"The server did not answer at {url} within {WAIT_SECONDS} s.", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        try:
            return server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            return server.wait()


if __name__ == "__main__":
    sys.exit(main())
