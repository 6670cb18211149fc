"""Playwright against Debian's headless Chromium and pytest-django's live server.

Scoring runs on the embedded path (no broker): the live server's request thread commits
the upload and the in-process pool scores it in the background, as in ``make run``.
Each test saves screenshots of the pages it visits under ``screenshots/`` (git-ignored).
"""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from submissions import queue

# Playwright's sync API runs an event loop in the test thread; Django refuses database
# access from a thread with a running loop unless told this is intended.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/lib/chromium/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"  # every factory user's (tests/factories.py)
SCORING_TIMEOUT_MS = 30_000


def log_in(page, base: str, username: str) -> None:
    page.goto(base + reverse("login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": DESKTOP, "timezone_id": "Europe/Paris"}


@pytest.fixture(autouse=True)
def _embedded_scoring(settings):
    settings.EVALSERVER_INPROCESS_TASKS = True
    settings.EVALSERVER_INPROCESS_SYNC = False
    # Many logins from 127.0.0.1 in one session must not lock anybody out.
    settings.AXES_ENABLED = False
    yield
    # Let the background scorer finish before the database is flushed under it.
    queue.wait_for_in_process_scoring()


class Screens:
    """Saves a page at desktop and phone widths; names say which page it is."""

    def __init__(self):
        SCREENSHOTS.mkdir(exist_ok=True)

    def __call__(self, page, name: str, *, phone: bool = True) -> None:
        safe = re.sub(r"[^a-z0-9-]+", "-", name.lower())
        page.screenshot(path=str(SCREENSHOTS / f"{safe}.png"), full_page=True)
        if phone:
            size = page.viewport_size
            page.set_viewport_size(PHONE)
            page.screenshot(path=str(SCREENSHOTS / f"{safe}-phone.png"), full_page=True)
            page.set_viewport_size(size)


@pytest.fixture
def shot():
    return Screens()


@pytest.fixture
def csp_violations(page):
    """Messages Chromium logs when the Content-Security-Policy blocks something."""
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return seen
