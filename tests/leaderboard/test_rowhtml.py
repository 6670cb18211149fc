"""leaderboard.rowhtml writes a board row exactly as leaderboard/_board_row.html does.

Random rows (hypothesis) are rendered both ways and compared character for character:
numbers at and around floatformat's rounding ties, tiny and exponent-written floats, ints,
zeros of either sign, None, team names and methods with HTML in them, every flag, and
aware times in other zones. What the module does not cover must give way to the template.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.template.loader import get_template
from django.test import override_settings
from django.utils import timezone, translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leaderboard import rowhtml
from leaderboard.selectors import LeaderboardEntry
from leaderboard.views import ROW_TEMPLATE

# Values where rounding to 3 or 4 places sits on or next to a tie, or where repr and the
# binary value disagree about it.
_TIES = [0.00005, 0.00015, 0.12345, 0.2675, 0.0005, 1.0005, 0.99995, 0.12344999999999999]
_numbers = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-05, 1.5e-07, 2.5e-10, 123456.78915, *_TIES]),
    st.integers(min_value=-10, max_value=10**6),
)
_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(['<b>"x"</b>', "a & b", "l'équipe", ""])
_moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([dt.UTC, zoneinfo.ZoneInfo("Asia/Kolkata")]),
)


def _template(row: dict, has_intervals: bool) -> str:
    return str(get_template(ROW_TEMPLATE).render({"row": row, "has_intervals": has_intervals}))


# A scorer's values: None, 0, or at least 1e-12 (never the 1e-199 that Django would write
# with its exponent, which the module leaves to the template).
_scores = st.one_of(
    st.none(), st.floats(min_value=1e-12, max_value=1), st.sampled_from([0.0, 1.0, *_TIES])
)


@st.composite
def _rows(draw, scores=_numbers):
    n_secondary = draw(st.integers(0, 4))
    n_classes = draw(st.integers(0, 30))
    rank = draw(st.one_of(st.none(), st.integers(1, 5000), st.just("rank-placeholder")))
    low = draw(scores)
    entry = LeaderboardEntry(
        rank=rank,
        team_id=1,
        team=draw(_text),
        submission_id=7,
        method_name=draw(_text),
        scores={},
        primary_score=0.5,
        submitted_at=draw(_moments),
        is_baseline=draw(st.booleans()),
        submission_count=draw(st.one_of(st.none(), st.integers(0, 10**5))),
        ci_low=low,
        ci_high=None if low is None else draw(scores.filter(lambda v: v is not None)),
    )
    return {
        "entry": entry,
        "primary": draw(scores),
        "secondary": draw(st.lists(scores, min_size=n_secondary, max_size=n_secondary)),
        "per_class": draw(st.lists(scores, min_size=n_classes, max_size=n_classes)),
        "is_own": draw(st.booleans()),
        "tied_with_previous": draw(st.booleans()),
    }


def _plain_row(**changes) -> dict:
    entry = LeaderboardEntry(
        rank=1,
        team_id=1,
        team="T",
        submission_id=7,
        method_name="m",
        scores={},
        primary_score=0.5,
        submitted_at=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
        is_baseline=False,
        submission_count=1,
        ci_low=0.4,
        ci_high=0.6,
    )
    row = {
        "entry": entry,
        "primary": 0.5,
        "secondary": [0.25],
        "per_class": [0.125],
        "is_own": False,
        "tied_with_previous": False,
    }
    for key, value in changes.items():
        if key in row:
            row[key] = value
        else:
            setattr(entry, key, value)
    return row


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=_rows(), has_intervals=st.booleans())
@example(
    row=_plain_row(
        rank=3,
        team="Team <3>",
        method_name="",
        submitted_at=dt.datetime(2026, 12, 3, 4, 5, 6, 789, tzinfo=dt.UTC),
        submission_count=5,
        ci_low=0.12345,
        ci_high=0.2675,
        primary=0.00005,
        secondary=[None, 1, -0.0],
        per_class=[None, 0.0005, 1e-05],
        is_own=True,
        tied_with_previous=True,
    ),
    has_intervals=True,
)
def test_a_row_is_the_templates_character_for_character(row, has_intervals):
    """Written by the module (or left to the template), never written differently."""
    assert rowhtml.supported()
    html = rowhtml.row_html(row, has_intervals=has_intervals)
    assert html is None or html == _template(row, has_intervals)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=_rows(scores=_scores), has_intervals=st.booleans())
def test_every_row_of_real_scores_is_written_by_the_module(row, has_intervals):
    """Scores in [0, 1] (and None), as the scorer gives them: always the fast path."""
    assert rowhtml.row_html(row, has_intervals=has_intervals) == _template(row, has_intervals)


@pytest.mark.parametrize(
    "changes",
    [
        {"primary": True},  # a JSON true among the scores: floatformat writes nothing
        {"per_class": [float("nan")]},
        {"secondary": [float("inf")]},
        {"ci_high": None},
        {"submitted_at": dt.datetime(2026, 12, 3)},  # noqa: DTZ001 - naive on purpose
        {"submitted_at": "2026-12-03T00:00:00+00:00"},
        {"primary": 10**40},
        {"per_class": [1.0239408104171161e-188]},  # over 200 digits: Django keeps the exponent
    ],
)
def test_what_it_does_not_cover_gives_way_to_the_template(changes):
    assert rowhtml.row_html(_plain_row(**changes), has_intervals=True) is None


def test_the_current_time_zone_is_the_templates():
    row = _plain_row(submitted_at=dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC))
    with timezone.override(zoneinfo.ZoneInfo("Asia/Kolkata")):
        html = rowhtml.row_html(row, has_intervals=False)
        assert html == _template(row, False)
    assert "2026-12-04 05:00" in html


def test_a_language_that_writes_a_decimal_comma_is_left_to_the_template():
    with translation.override("de"), override_settings(USE_THOUSAND_SEPARATOR=False):
        assert not rowhtml.supported()
    with override_settings(USE_THOUSAND_SEPARATOR=True):
        assert not rowhtml.supported()
    assert rowhtml.supported()
