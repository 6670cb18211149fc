"""The size limits a phase states: the rules (challenge and phase pages) and the upload form
say the same thing, from one source (submissions.selectors.submission_upload_caps)."""

import json
import random
import re

import pytest
from django.test import Client
from django.urls import reverse

from evalserver.challenges import demo
from evalserver.challenges.models import Phase
from evalserver.challenges.services import phase_set_labels
from submissions.selectors import submission_upload_caps
from tests.factories import PhaseFactory
from tests.recognition_data import labels_json, random_matrix

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _labelled_phase(**fields) -> Phase:
    # With hidden labels: a phase without any takes no uploads, so its page has no form.
    phase = PhaseFactory(**fields)
    if phase.track == Phase.Track.DETECTION:
        data = json.dumps(demo.detection_records(random.Random(0), ["00000", "00001"])).encode()
    else:
        data = labels_json(random_matrix(5, seed=0))
    phase_set_labels(phase=phase, data=data, filename="labels.json")
    phase.refresh_from_db()
    return phase


def _rules_lines(html: str) -> list[str]:
    # Collapse the template's line breaks, not the no-break spaces of filesizeformat.
    found = re.findall(r"<li>Largest file: (.*?)</li>", html, re.S)
    return [re.sub(r"[ \n]+", " ", line) for line in found]


def _pages(phase, user) -> tuple[str, str]:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    challenge_page = client.get(reverse("challenge-detail", args=[phase.challenge.slug]))
    phase_page = client.get(reverse("phase-detail", args=[phase.pk]))
    assert challenge_page.status_code == phase_page.status_code == 200
    return challenge_page.content.decode(), phase_page.content.decode()


def test_the_rules_name_the_decompressed_cap_when_it_is_the_smaller(
    settings, challenge, alice, alice_team
):
    settings.EVALSERVER_DETECTION_MAX_BYTES = 64 * 1024
    phase = _labelled_phase(
        challenge=challenge, track=Phase.Track.DETECTION, max_upload_bytes=100 * MB
    )

    challenge_html, phase_html = _pages(phase, alice)

    stated = "100.0\xa0MB, and 64.0\xa0KB once decompressed."
    assert _rules_lines(challenge_html) == [stated]
    assert _rules_lines(phase_html) == [stated]
    assert f"At most {stated}" in phase_html
    assert 'data-max-bytes="104857600"' in phase_html


def test_the_rules_follow_the_server_cap_when_it_is_below_the_phases(
    settings, challenge, alice, alice_team
):
    # The form never took more than the server's request cap; the rules said the phase's.
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 2 * MB
    phase = _labelled_phase(challenge=challenge, max_upload_bytes=100 * MB)
    caps = submission_upload_caps(phase=phase)
    assert (caps.upload_bytes, caps.decompressed_is_tighter) == (2 * MB, False)

    challenge_html, phase_html = _pages(phase, alice)

    assert _rules_lines(challenge_html) == ["2.0\xa0MB."]
    assert _rules_lines(phase_html) == ["2.0\xa0MB."]
    assert "At most 2.0\xa0MB." in phase_html
    assert f'data-max-bytes="{2 * MB}"' in phase_html


def test_a_small_phase_cap_is_stated_alone(challenge, alice, alice_team):
    phase = _labelled_phase(challenge=challenge, max_upload_bytes=5 * MB)

    challenge_html, phase_html = _pages(phase, alice)

    assert _rules_lines(challenge_html) == _rules_lines(phase_html) == ["5.0\xa0MB."]
    assert "At most 5.0\xa0MB." in phase_html
