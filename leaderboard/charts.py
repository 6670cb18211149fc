"""Server-rendered SVG charts: no JavaScript and nothing fetched from elsewhere.

Every participant-chosen string (team and method names) goes through ``escape``; numbers
are formatted here. The colours are the Okabe-Ito palette, told apart by most people with
colour-vision deficiencies; the series are also named in a legend and in ``<title>``s.
"""

import datetime as dt
import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from leaderboard.selectors import ScoreHistory

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _axis_top(values: Sequence[float]) -> float:
    """The y-axis top: the next tenth above the largest value, at most 1 for scores <= 1."""
    largest = max(values, default=0.0)
    if largest <= 0:
        return 1.0
    return min(math.ceil(largest * 10 + 1e-9) / 10, max(1.0, largest))


def best_score_over_time_svg(
    *,
    histories: Sequence[ScoreHistory],
    start: dt.datetime,
    end: dt.datetime,
    metric_label: str,
) -> SafeString:
    """A step line per team: its best score so far, from ``start`` to ``end``."""
    width, height = 760, 320
    left, right, top, bottom = 56, 200, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    last_point = max(
        (points[-1][0] for points in (h.points for h in histories) if points), default=end
    )
    end = max(end, last_point)
    # The axis starts at the first submission: months of an empty phase say nothing.
    first_point = min(
        (points[0][0] for points in (h.points for h in histories) if points), default=start
    )
    start = min(max(start, first_point), end)
    span = max((end - start).total_seconds(), 1.0)
    y_top = _axis_top([p[1] for h in histories for p in h.points])

    def x_of(moment: dt.datetime) -> float:
        return left + plot_w * min(max((moment - start).total_seconds() / span, 0.0), 1.0)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(value / y_top, 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="leaderboard-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-labelledby="score-time-title">',
        f'<title id="score-time-title">Best {escape(metric_label)} over time of the top '
        f"{len(histories)} teams</title>",
    ]
    # Grid and axes.
    for i in range(6):
        value = y_top * i / 5
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{value:.2f}</text>"
        )
    for fraction in (0.0, 0.5, 1.0):
        moment = start + dt.timedelta(seconds=span * fraction)
        x = left + plot_w * fraction
        anchor = {0.0: "start", 0.5: "middle", 1.0: "end"}[fraction]
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="{anchor}" font-size="11">'
            f"{moment:%Y-%m-%d}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'font-size="12">Date (UTC)</text>'
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(metric_label)}</text>'
    )
    # One step line per team, and its legend row.
    for index, history in enumerate(histories):
        colour = PALETTE[index % len(PALETTE)]
        name = escape(history.team)
        if history.points:
            coords = []
            previous_y = None
            for moment, value in history.points:
                x, y = x_of(moment), y_of(value)
                if previous_y is not None:
                    coords.append(f"{x:.1f},{previous_y:.1f}")
                coords.append(f"{x:.1f},{y:.1f}")
                previous_y = y
            coords.append(f"{x_of(end):.1f},{previous_y:.1f}")
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(coords)}"><title>{name}</title></polyline>'
            )
            for moment, value in history.points:
                parts.append(
                    f'<circle cx="{x_of(moment):.1f}" cy="{y_of(value):.1f}" r="3" '
                    f'fill="{colour}"><title>{name}: {value:.4f} on '
                    f"{moment:%Y-%m-%d %H:%M} UTC</title></circle>"
                )
        legend_y = top + 14 + index * 20
        parts.append(
            f'<rect x="{width - right + 16}" y="{legend_y - 9}" width="12" height="12" '
            f'fill="{colour}"/><text x="{width - right + 34}" y="{legend_y + 1}" '
            f'font-size="12">{name}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built above from escaped strings


def per_class_svg(
    *,
    class_names: Sequence[str],
    values: Sequence[float | None],
    leader_values: Sequence[float | None] | None,
    metric_label: str,
    own_label: str = "This submission",
    leader_label: str = "Leader",
) -> SafeString:
    """Grouped horizontal bars: per class, this submission's value and the leader's."""
    label_w, bar_w, value_w = 200, 400, 56
    width = label_w + bar_w + value_w
    row_h = 26 if leader_values is not None else 16
    head = 30
    height = head + row_h * len(class_names) + 8
    own_colour, leader_colour = PALETTE[0], PALETTE[1]
    title = f"Per-class {metric_label} of {own_label}"
    if leader_values is not None:
        title += f" against {leader_label}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="per-class-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{label_w}" y="6" width="12" height="12" fill="{own_colour}"/>'
        f'<text x="{label_w + 18}" y="16" font-size="12">{escape(own_label)}</text>',
    ]
    if leader_values is not None:
        parts.append(
            f'<rect x="{label_w + 200}" y="6" width="12" height="12" fill="{leader_colour}"/>'
            f'<text x="{label_w + 218}" y="16" font-size="12">{escape(leader_label)}</text>'
        )

    def bar(y: float, value: float | None, colour: str, who: str, name: str) -> str:
        if value is None:
            return (
                f'<text x="{label_w + 4}" y="{y + 8}" font-size="10" fill="#555">n/a'
                f"<title>{escape(who)}: no {escape(metric_label)} for {escape(name)}</title>"
                f"</text>"
            )
        length = bar_w * min(max(value, 0.0), 1.0)
        return (
            f'<rect x="{label_w}" y="{y:.1f}" width="{length:.1f}" height="10" '
            f'fill="{colour}"><title>{escape(who)}: {escape(name)} {value:.4f}</title></rect>'
            f'<text x="{label_w + bar_w + 4}" y="{y + 9:.1f}" font-size="10">{value:.3f}</text>'
        )

    for index, name in enumerate(class_names):
        y = head + index * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 10}" text-anchor="end" font-size="11">'
            f"{escape(name)}</text>"
        )
        own = values[index] if index < len(values) else None
        parts.append(bar(y, own, own_colour, own_label, name))
        if leader_values is not None:
            theirs = leader_values[index] if index < len(leader_values) else None
            parts.append(bar(y + 12, theirs, leader_colour, leader_label, name))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built above from escaped strings
