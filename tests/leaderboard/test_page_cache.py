"""The leaderboard page's rendered rows and chart are kept per board version."""

import gzip
import re

import pytest
from django.urls import reverse

from evalserver.challenges.models import Phase
from leaderboard import views
from submissions.services import submission_set_flags
from tests.leaderboard.conftest import at, scored
from tests.leaderboard.test_page import PAGE_QUERIES, _body_rows

pytestmark = pytest.mark.django_db


def page(client, phase) -> str:
    response = client.get(reverse("phase-leaderboard", kwargs={"phase_id": phase.pk}))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def board(phase, alice_team, charlie_team):
    return {
        "charlie": scored(phase, charlie_team, 0.6, at=at(3)),
        "alice": scored(phase, alice_team, 0.4, at=at(2)),
    }


def test_a_warm_page_skips_the_ranking_and_the_chart_queries(
    client, phase, board, alice, django_assert_num_queries
):
    client.force_login(alice)
    with django_assert_num_queries(PAGE_QUERIES):
        cold = page(client, phase)
    with django_assert_num_queries(PAGE_QUERIES - 2):
        warm = page(client, phase)
    # The same page, but for the CSRF token, masked afresh for every response.
    token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
    assert token.sub("", warm) == token.sub("", cold)


def test_each_viewer_sees_their_own_row_highlighted(client, phase, board, alice, charlie):
    client.force_login(alice)
    rows = _body_rows(page(client, phase))
    assert "own-team" in rows[1]
    assert "own-team" not in rows[0]
    client.force_login(charlie)
    rows = _body_rows(page(client, phase))
    assert "own-team" in rows[0]
    assert "your team" in rows[0]
    assert "own-team" not in rows[1]
    client.logout()
    assert "own-team" not in page(client, phase)


def test_a_change_of_the_board_is_shown_at_once(client, phase, board, alice, organizer):
    client.force_login(alice)
    assert "Charlie" in _body_rows(page(client, phase))[0]
    submission_set_flags(submission=board["charlie"], actor=organizer, disqualified=True)
    rows = _body_rows(page(client, phase))
    assert len(rows) == 1
    assert "own-team" in rows[0]
    assert "Charlie" not in page(client, phase).split("<tbody>", 1)[1].split("</tbody>")[0]


def test_a_private_board_is_never_served_from_the_full_boards_rows(
    client, phase, board, alice, organizer
):
    client.force_login(organizer)
    assert len(_body_rows(page(client, phase))) == 2
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    # The organizer still sees the whole (now private) board, from the same rows.
    assert len(_body_rows(page(client, phase))) == 2
    client.force_login(alice)
    html = page(client, phase)
    rows = _body_rows(html)
    assert len(rows) == 1
    assert "own-team" in rows[0]
    assert "Charlie" not in html
    assert "leaderboard-chart" not in html


def _unmasked(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


@pytest.mark.parametrize("viewer", ["alice", "charlie", "anonymous"])
def test_the_gzip_page_is_the_plain_page_compressed(
    client, phase, board, alice, charlie, viewer, monkeypatch
):
    # One row a chunk: the viewer's own row's chunk is compressed for the request, the other
    # is the version's.
    monkeypatch.setattr(views, "CHUNK_ROWS", 1)
    user = {"alice": alice, "charlie": charlie}.get(viewer)
    if user is not None:
        client.force_login(user)
    url = reverse("phase-leaderboard", kwargs={"phase_id": phase.pk})
    for _ in ("cold", "warm"):
        plain = client.get(url)
        zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
        assert "Content-Encoding" not in plain
        assert zipped["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in zipped["Vary"]
        html = gzip.decompress(zipped.content).decode()
        assert _unmasked(html) == _unmasked(plain.content.decode())
    rows = _body_rows(html)
    if viewer == "alice":
        assert "own-team" in rows[1]
        assert "own-team" not in rows[0]
    elif viewer == "charlie":
        assert "own-team" in rows[0]
        assert "own-team" not in rows[1]
    else:
        assert "own-team" not in html
    if user is not None:
        # The viewer's own part of the page is never compressed (BREACH): their CSRF token
        # and name travel in stored deflate blocks, readable in the gzip bytes as they are.
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]*)"', html).group(1)
        assert token.encode() in zipped.content
        assert f">{user.username}</span>".encode() in zipped.content


def test_the_gzip_page_follows_a_change_of_the_board(
    client, phase, board, alice, organizer, monkeypatch
):
    monkeypatch.setattr(views, "CHUNK_ROWS", 1)
    url = reverse("phase-leaderboard", kwargs={"phase_id": phase.pk})

    def rows() -> list[str]:
        zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        return _body_rows(gzip.decompress(zipped.content).decode())

    assert len(rows()) == 2
    submission_set_flags(submission=board["charlie"], actor=organizer, hidden=True)
    assert len(rows()) == 1
    scored(phase, board["charlie"].team, 0.9, at=at(4))
    first = rows()
    assert len(first) == 2
    assert "Charlie" in first[0]
