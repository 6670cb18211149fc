"""The admin at 1280 px (issue 14 item 5): open switch first, rounded scores, score tables."""

import re

import pytest
from django.urls import reverse

from tests.clients import logged_in
from tests.factories import SubmissionFactory, UserFactory
from tests.leaderboard.conftest import recognition_scores

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return logged_in(UserFactory(username="root", is_staff=True, is_superuser=True))


def test_the_phase_list_shows_the_open_switch_right_after_the_phase(root, phase):
    html = root.get(reverse("admin:challenges_phase_changelist")).content.decode()
    headers = re.findall(r'<th scope="col" class="(?:sortable )?column-([a-z_]+)', html)
    assert headers.index("is_open") <= 1, headers


def test_the_submission_list_rounds_scores_and_the_page_shows_a_table(root, phase, alice_team):
    submission = SubmissionFactory(
        phase=phase,
        team=alice_team,
        status="finished",
        primary_score=0.123456789,
        scores=recognition_scores(0.123456789),
    )
    listing = root.get(reverse("admin:submissions_submission_changelist")).content.decode()
    assert "0.1235" in listing
    assert "0.123456789" not in listing
    page = root.get(
        reverse("admin:submissions_submission_change", args=[submission.pk])
    ).content.decode()
    assert '<table class="scores-table">' in page
    assert "<th>macro_f1</th><td>0.1235</td>" in page
    assert "<td>Opening</td>" in page
    assert '"per_class"' not in page
