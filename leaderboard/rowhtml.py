"""A leaderboard row written in Python, the same bytes as ``leaderboard/_board_row.html``.

The template costs about 1.5 ms a row, most of it in ``floatformat`` and localisation
asking for the active language and its formats on each of a row's 60 numbers. That is paid
for every row a board version renders anew: all 1,000 of them in a worker that has just
started or after a change of the whole board (seconds of CPU), and the viewer's own rows
on every page view. This module writes the same characters with plain string formatting.

It covers the common case only and says so by returning None, for the caller to render
that row with the template: numbers formatted as in English (the decimal point, no
thousands separator: the project's only language today), numbers that are plain ints or
finite floats. ``tests/leaderboard/test_rowhtml.py`` compares it with the template over
random rows, character for character.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Context, Decimal
from html import escape

from django.conf import settings
from django.utils import formats, timezone

_DASH = "—"
# Between an interval's ends, as the template writes it (an en dash).
_TO = "\u2013"
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in (3, 4)}
# Enough digits for any score (and for much larger numbers) not to round when quantized.
_CONTEXT = Context(prec=60)
# Beyond this the fast path gives way.
_LARGEST = 1e30
_MOST_DIGITS = 200
_TINY = 1e-150


class _Unsupported(Exception):
    """A value this module does not write exactly as the template would."""


def supported() -> bool:
    """Whether the active language formats numbers as this module writes them."""
    return not settings.USE_THOUSAND_SEPARATOR and formats.get_format("DECIMAL_SEPARATOR") == "."


def _decimal(text: str) -> Decimal:
    number = Decimal(text)
    _, digits, exponent = number.as_tuple()
    # Django writes numbers of more than 200 digits as they come (exponent and all).
    if len(digits) + abs(exponent) > _MOST_DIGITS:
        raise _Unsupported
    return number


def _number(value) -> Decimal:
    if type(value) is int:
        if abs(value) >= _LARGEST:
            raise _Unsupported
        return Decimal(value)
    if type(value) is float and math.isfinite(value) and abs(value) < _LARGEST:
        # Only a float this close to 0 can have 200 digits in its decimal form.
        if value and abs(value) < _TINY:
            return _decimal(repr(value))
        return Decimal(repr(value))
    raise _Unsupported


def _fixed(value, places: int) -> str:
    """``value|floatformat:places``: rounded half up from the shortest decimal repr."""
    rounded = _number(value).quantize(_QUANTUM[places], ROUND_HALF_UP, _CONTEXT)
    if not rounded:
        rounded = abs(rounded)  # floatformat writes no minus before a zero
    return f"{rounded:f}"


def _plain(value) -> str:
    """``{{ value }}`` of a number, as localize writes it (no exponent)."""
    if type(value) is int:
        return str(value)
    text = repr(value) if type(value) is float and math.isfinite(value) else None
    if text is None:
        raise _Unsupported
    if "e" in text:
        return f"{_decimal(text):f}"
    return text


def _sort_value(value) -> str:
    """``{{ value|default_if_none:'' }}``."""
    return "" if value is None else _plain(value)


def _metric(value) -> str:
    """``{{ value|floatformat:4|default:"—" }}``."""
    return _DASH if value is None else _fixed(value, 4)


def _moment(value: dt.datetime | None) -> tuple[str, str]:
    """``{{ value|date:'c' }}`` and ``{{ value|date:"Y-m-d H:i" }}``, in the current zone."""
    if value is None:
        return "", ""
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise _Unsupported
    local = timezone.localtime(value)
    return (
        local.isoformat(),
        f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}",
    )


def row_html(row: dict, *, has_intervals: bool) -> str | None:
    """The template's output for ``row`` (the context views._row builds), or None when
    this module does not cover it; call only when :func:`supported` is true."""
    try:
        return _row_html(row, has_intervals=has_intervals)
    except _Unsupported:
        return None


def _row_html(row: dict, *, has_intervals: bool) -> str:
    entry = row["entry"]
    tied = row["tied_with_previous"]
    own = row["is_own"]
    rank = entry.rank
    classes = (
        ("baseline" if entry.is_baseline else "")
        + (" own-team" if own else "")
        + (" not-separable" if tied else "")
    )
    rank_text = escape(str(rank)) if rank else ""
    if rank:
        rank_cell = rank_text
    elif entry.is_baseline:
        rank_cell = '<span class="badge baseline-badge">Baseline</span>'
    else:
        rank_cell = _DASH
    if tied:
        rank_cell += (
            ' <span class="not-separable-mark" title="Not separable from the entry above: '
            'see the note below the table">≈</span>'
        )
    team = escape(str(entry.team))
    method = escape(str(entry.method_name)) if entry.method_name else _DASH
    primary = row["primary"]
    parts = [
        f'\n<tr class="{classes}">\n',
        f'  <td class="sticky-rank" data-sort-value="{rank_text}">{rank_cell}</td>\n',
        f'  <th scope="row" class="sticky-team" title="{team}">{team}'
        + (' <span class="badge own-badge">your team</span>' if own else "")
        + "</th>\n",
        f"  <td>{method}</td>\n",
        '  <td class="metric primary-metric sticky-primary" '
        f'data-sort-value="{_sort_value(primary)}">{_metric(primary)}</td>\n  ',
    ]
    if has_intervals:
        low, high = entry.ci_low, entry.ci_high
        interval = _DASH if low is None else f"{_fixed(low, 4)}{_TO}{_fixed(high, 4)}"
        parts.append(f'<td class="interval" data-sort-value="{_sort_value(low)}">{interval}</td>')
    parts.append("\n  ")
    for value in row["secondary"]:
        parts.append(f'\n  <td data-sort-value="{_sort_value(value)}">{_metric(value)}</td>\n  ')
    parts.append("\n  ")
    for value in row["per_class"]:
        shown = _DASH if value is None else _fixed(value, 3)
        parts.append(f'\n  <td data-sort-value="{_sort_value(value)}">{shown}</td>\n  ')
    count = entry.submission_count
    iso, minute = _moment(entry.submitted_at)
    parts += [
        f'\n  <td data-sort-value="{_sort_value(count)}">'
        f"{_DASH if count is None else _plain(count)}</td>\n",
        f'  <td data-sort-value="{iso}"><time datetime="{iso}">{minute}</time></td>\n',
        "</tr>\n",
    ]
    return "".join(parts)
