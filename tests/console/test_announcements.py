"""Announcements: Markdown rendered safely, shown on the challenge page, mailed in batches
to participants through a real SMTP server (aiosmtpd, started here), retried when it is down."""

from __future__ import annotations

import datetime as dt
import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from evalserver.announcements import services
from evalserver.announcements.models import Announcement, MailOptOut
from evalserver.announcements.rendering import render_markdown
from evalserver.challenges.models import ChallengeBan
from evalserver.teams.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


class Sink:
    def __init__(self):
        self.messages: list[tuple[list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port; ``start()``/``stop()`` to take it down."""

    class Server:
        def __init__(self):
            self.port = _free_port()
            self.sink = Sink()
            self.controller = None

        def start(self):
            self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
            self.controller.start()

        def stop(self):
            if self.controller is not None:
                self.controller.stop()
                self.controller = None

        def recipients(self) -> list[str]:
            return [r for rcpts, _ in self.sink.messages for r in rcpts]

    server = Server()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def participants(challenge, alice_team, charlie_team):
    """alice, bob, charlie and five more in a fourth team: eight participants."""
    team = TeamFactory(challenge=challenge, name="Many")
    for i in range(5):
        MembershipFactory(team=team, user=UserFactory(username=f"p{i}", email=f"p{i}@example.org"))
    return list(
        Membership.objects.filter(challenge=challenge).values_list("user__email", flat=True)
    )


def test_markdown_is_rendered_and_anything_active_is_removed():
    html = render_markdown(
        "# Deadline\n\n**Moved** to [Friday](https://example.org/x).\n\n"
        "<script>alert(1)</script>\n\n[bad](javascript:alert(1)) "
        '<img src=x onerror="alert(1)">\n\n- one\n- two'
    )
    assert "<h1>Deadline</h1>" in html
    assert "<strong>Moved</strong>" in html
    assert 'href="https://example.org/x"' in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert "<li>one</li>" in html
    assert "<script" not in html
    # Left as inert text: no link to it, no element carrying it.
    assert 'href="javascript' not in html
    assert "&lt;img" in html
    assert "<img" not in html


def test_posting_shows_it_on_the_challenge_page_safely(organizer_api, challenge, alice_web, phase):
    response = organizer_api.post(
        f"/api/v1/organizer/challenges/{challenge.slug}/announcements/",
        {"title": "Labels fixed", "body": "We fixed **12** labels. <script>x()</script>"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["mail"] == "none"
    page = alice_web.get(f"/challenges/{challenge.slug}/").content.decode()
    assert "Labels fixed" in page
    assert "<strong>12</strong>" in page
    assert "<script>x()" not in page
    empty = organizer_api.post(
        f"/api/v1/organizer/challenges/{challenge.slug}/announcements/",
        {"title": " ", "body": "x"},
        format="json",
    )
    assert empty.status_code == 400


def test_mail_goes_to_every_participant_once_in_batches_except_opted_out_and_banned(
    smtp,
    organizer,
    organizer_api,
    challenge,
    participants,
    alice,
    charlie,
    inprocess_sync,
    monkeypatch,
):
    monkeypatch.setattr(services, "MAIL_BATCH", 3)
    MailOptOut.objects.create(user=alice)
    ChallengeBan.objects.create(challenge=challenge, user=charlie, reason="x", created_by=organizer)
    smtp.start()
    with inprocess_sync():
        response = organizer_api.post(
            f"/api/v1/organizer/challenges/{challenge.slug}/announcements/",
            {"title": "Deadline moved", "body": "To **Friday**.", "mail": True},
            format="json",
        )
    assert response.status_code == 201
    announcement = Announcement.objects.get()
    assert announcement.mail == "sent"
    expected = sorted(set(participants) - {alice.email, charlie.email})
    assert sorted(smtp.recipients()) == expected
    assert announcement.mail_sent == len(expected)
    _, message = smtp.sink.messages[0]
    assert message["Subject"] == f"[{challenge.title}] Deadline moved"
    assert "/account/mail/" in message.get_payload()
    # Sent is sent: another run mails nobody again.
    assert services.announcement_mail_send(announcement_id=announcement.pk) == "nothing"
    assert len(smtp.recipients()) == len(expected)


def test_a_mail_server_that_is_down_never_fails_the_post_and_is_retried(
    smtp, organizer_api, challenge, participants, inprocess_sync
):
    with inprocess_sync():
        response = organizer_api.post(
            f"/api/v1/organizer/challenges/{challenge.slug}/announcements/",
            {"title": "Server down", "body": "Hello.", "mail": True},
            format="json",
        )
    assert response.status_code == 201
    announcement = Announcement.objects.get()
    assert announcement.mail == "pending"
    assert announcement.mail_attempts == 1
    assert "Connection" in announcement.mail_error or "refused" in announcement.mail_error
    assert announcement.mail_next_attempt_at > timezone.now()
    # Not due yet: the sweeper leaves it.
    assert services.announcements_mail_sweep() == 0

    smtp.start()
    later = timezone.now() + dt.timedelta(hours=1)
    with inprocess_sync():
        assert services.announcements_mail_sweep(now=later) == 1
    announcement.refresh_from_db()
    assert announcement.mail == "sent"
    assert announcement.mail_error == ""
    assert sorted(smtp.recipients()) == sorted(participants)


def test_the_account_page_switches_challenge_mail_off_and_on(alice, alice_web):
    page = alice_web.get("/account/mail/")
    assert page.status_code == 200
    assert "checked" in page.content.decode()
    alice_web.post("/account/mail/", {})
    assert MailOptOut.objects.filter(user=alice).exists()
    alice_web.post("/account/mail/", {"challenge_mail": "on"})
    assert not MailOptOut.objects.filter(user=alice).exists()


def test_announcements_are_organizers_only(challenge, alice_api, organizer_web, alice_web):
    url = f"/api/v1/organizer/challenges/{challenge.slug}/announcements/"
    assert alice_api.get(url).status_code == 404
    assert alice_api.post(url, {"title": "x", "body": "y"}, format="json").status_code == 404
    assert alice_web.get(f"/console/{challenge.slug}/announcements/").status_code == 404
    assert organizer_web.get(f"/console/{challenge.slug}/announcements/").status_code == 200
    posted = organizer_web.post(
        f"/console/{challenge.slug}/announcements/", {"title": "Hi", "body": "*all*"}
    )
    assert posted.status_code == 302
    assert not Announcement.objects.filter(mail="pending").exists()
