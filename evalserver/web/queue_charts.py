"""The dashboard's queue charts as server-rendered SVG, like the leaderboard's
(leaderboard.charts): no JavaScript, nothing fetched, colours of the Okabe-Ito palette, every
series named in a legend and every bar or point in a ``<title>``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.safestring import SafeString, mark_safe

from submissions.stats import QueueHour

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
_W, _H = 760, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 120, 14, 40


def _nice_top(largest: float) -> float:
    if largest <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(largest))
    for step in (1, 2, 5, 10):
        if largest <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _frame(title_id: str, title: str, y_top: float, y_label: str, hours: Sequence[QueueHour]):
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="queue-chart" role="img" '
        f'viewBox="0 0 {_W} {_H}" width="100%" aria-labelledby="{title_id}">',
        f'<title id="{title_id}">{title}</title>',
    ]
    # Five steps of a 1-2-5 top: every tick label is a round number.
    for i in range(6):
        value = y_top * i / 5
        y = _TOP + plot_h * (1 - i / 5)
        label = f"{value:.4g}"
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>'
        )
    n = len(hours)
    for index in range(0, n, max(1, n // 6)):
        x = _LEFT + plot_w * (index + 0.5) / n
        parts.append(
            f'<text x="{x:.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle" font-size="11">'
            f"{hours[index].start:%d %H:00}</text>"
        )
    parts.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 4}" text-anchor="middle" font-size="12">'
        f"Hour (UTC)</text>"
        f'<text x="12" y="{_TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 12 {_TOP + plot_h / 2:.1f})">{y_label}</text>'
    )
    return parts, plot_w, plot_h


def _legend(parts: list[str], names: Sequence[str], colours: Sequence[str]) -> None:
    for index, (name, colour) in enumerate(zip(names, colours, strict=True)):
        y = _TOP + 14 + index * 18
        parts.append(
            f'<rect x="{_W - _RIGHT + 14}" y="{y - 9}" width="12" height="12" '
            f'fill="{colour}"/><text x="{_W - _RIGHT + 32}" y="{y + 1}" '
            f'font-size="12">{name}</text>'
        )


def submissions_per_hour_svg(*, hours: Sequence[QueueHour]) -> SafeString:
    """Uploads per hour (bars), with the hour's finished and failed counts in each title."""
    y_top = _nice_top(max((h.uploaded for h in hours), default=0))
    parts, plot_w, plot_h = _frame(
        "queue-uploads-title", "Submissions uploaded per hour", y_top, "Submissions", hours
    )
    n = max(len(hours), 1)
    bar_w = plot_w / n
    for index, hour in enumerate(hours):
        height = plot_h * hour.uploaded / y_top
        x = _LEFT + bar_w * index + 1
        parts.append(
            f'<rect x="{x:.1f}" y="{_TOP + plot_h - height:.1f}" width="{max(bar_w - 2, 1):.1f}" '
            f'height="{height:.1f}" fill="{PALETTE[0]}"><title>{hour.start:%Y-%m-%d %H:00} UTC: '
            f"{hour.uploaded} uploaded, {hour.finished} finished, {hour.failed} failed"
            f"</title></rect>"
        )
    _legend(parts, ["uploaded"], PALETTE[:1])
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and fixed text only


def scoring_time_svg(*, hours: Sequence[QueueHour]) -> SafeString:
    """Scoring time percentiles (p50, p90, p99) of the submissions finished each hour."""
    series = (("p50", "median"), ("p90", "90th pct"), ("p99", "99th pct"))
    values = [getattr(h, key) for h in hours for key, _ in series]
    y_top = _nice_top(max((v for v in values if v is not None), default=0))
    parts, plot_w, plot_h = _frame(
        "queue-times-title", "Scoring time per hour, percentiles", y_top, "Seconds", hours
    )
    n = max(len(hours), 1)
    for colour_index, (key, name) in enumerate(series):
        colour = PALETTE[colour_index + 1]
        points = []
        for index, hour in enumerate(hours):
            value = getattr(hour, key)
            if value is None:
                continue
            x = _LEFT + plot_w * (index + 0.5) / n
            y = _TOP + plot_h * (1 - min(value / y_top, 1.0))
            points.append((x, y))
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>'
                f"{hour.start:%Y-%m-%d %H:00} UTC {name}: {value:.1f} s</title></circle>"
            )
        if len(points) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
            )
    _legend(parts, [name for _, name in series], PALETTE[1:4])
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and fixed text only
