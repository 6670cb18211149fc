"""What every page sends and every form carries: security headers, CSRF, labels."""

import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from tests.factories import SubmissionFactory

pytestmark = pytest.mark.django_db


class _FormAudit(HTMLParser):
    """Collects forms (with whether they carry a CSRF token) and labelled controls."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.controls: list[dict] = []
        self.label_targets: set[str] = set()
        self.inline_scripts = 0
        self.inline_styles = 0
        self._open_labels = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "style" in a:
            self.inline_styles += 1
        if tag == "style":
            self.inline_styles += 1
        if tag == "script" and "src" not in a:
            self.inline_scripts += 1
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "csrf": False})
        if tag == "label":
            self._open_labels += 1
            if a.get("for"):
                self.label_targets.add(a["for"])
        if tag == "input" and a.get("name") == "csrfmiddlewaretoken" and self.forms:
            self.forms[-1]["csrf"] = True
        if tag in ("input", "select", "textarea"):
            kind = a.get("type", "text")
            if kind not in ("hidden", "submit", "button"):
                self.controls.append(
                    {"id": a.get("id"), "aria": a.get("aria-label"), "wrapped": self._open_labels}
                )

    def handle_endtag(self, tag):
        if tag == "label":
            self._open_labels -= 1


def _pages(alice, alice_team, phase, organizer):
    submission = SubmissionFactory(phase=phase, team=alice_team, status="failed", errors=["x"])
    slug = phase.challenge.slug
    return [
        (None, reverse("challenge-list")),
        (None, reverse("challenge-detail", args=[slug])),
        (None, reverse("login")),
        (None, reverse("signup")),
        (None, reverse("password_reset")),
        (None, reverse("phase-detail", args=[phase.pk])),
        (alice, reverse("phase-detail", args=[phase.pk])),
        (alice, reverse("team-page", args=[slug])),
        (alice, reverse("api-token")),
        (alice, reverse("submission-detail", args=[submission.pk])),
        (alice, reverse("submission-list", args=[phase.pk])),
        (alice, reverse("password_change")),
        (organizer, reverse("challenge-dashboard", args=[slug])),
        (organizer, reverse("team-page", args=[slug])),
    ]


@pytest.fixture
def audited_pages(alice, alice_team, phase_labelled, organizer):
    # With labels, so the phase page shows its upload form to audit.
    results = []
    for user, url in _pages(alice, alice_team, phase_labelled, organizer):
        client = Client()
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        response = client.get(url)
        assert response.status_code == 200, url
        results.append((url, response))
    return results


def test_every_page_sends_the_security_headers(audited_pages):
    for url, response in audited_pages:
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp, url
        assert "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp, url


def test_no_page_has_inline_script_or_style_the_policy_would_block(audited_pages):
    for url, response in audited_pages:
        audit = _FormAudit()
        audit.feed(response.content.decode())
        assert audit.inline_scripts == 0, url
        assert audit.inline_styles == 0, url


def test_every_post_form_carries_a_csrf_token(audited_pages):
    forms_seen = 0
    for url, response in audited_pages:
        audit = _FormAudit()
        audit.feed(response.content.decode())
        for form in audit.forms:
            if form["method"] == "post":
                forms_seen += 1
                assert form["csrf"], url
    assert forms_seen >= 10


def test_every_form_control_has_a_label(audited_pages):
    controls_seen = 0
    for url, response in audited_pages:
        audit = _FormAudit()
        audit.feed(response.content.decode())
        for control in audit.controls:
            controls_seen += 1
            labelled = control["id"] in audit.label_targets or control["aria"] or control["wrapped"]
            assert labelled, (url, control)
    assert controls_seen >= 15


def test_a_post_without_csrf_token_is_refused(alice, alice_team, phase):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(reverse("team-leave", args=[phase.challenge.slug]))
    assert response.status_code == 403
    assert "security token" in response.content.decode()


def test_the_api_docs_page_uses_only_our_own_files_under_the_policy(client):
    response = client.get(reverse("api-docs"))
    assert "default-src 'self'" in response["Content-Security-Policy"]
    audit = _FormAudit()
    audit.feed(response.content.decode())
    assert (audit.inline_scripts, audit.inline_styles) == (0, 0)
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 4  # Swagger UI's CSS, two scripts and its settings script
    for asset in assets:
        assert asset.startswith("/"), asset
        assert not asset.startswith("//"), asset
        if asset.startswith(settings.STATIC_URL):
            assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
        else:
            assert client.get(asset).status_code == 200, asset


def test_unknown_pages_use_the_site_template(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert re.search(r"<h1>Not found</h1>", response.content.decode())
