"""The backtest report's plots as inline SVG, drawn here: no plotting dependency, no external file.

Each plot is a frame (axes, ticks, labels), a legend above it and polylines or bars in between,
with coordinates as fractions of the plot area:

    (0, 1) +------------------+ (1, 1)        legend: one row above the frame
           |                  |
    (0, 0) +------------------+ (1, 0)        ticks and axis labels outside it
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from services.backtest.metrics import HISTOGRAM_BINS, ModelEval

COLOURS = ("#1f77b4", "#d62728")
CEILING = "#7f7f7f"
WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 44
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
LOG_DECADES = 5  # the score histograms' share axis: 1e-5 to 1
Tick = tuple[float, str]  # (fraction along the axis, label)
HALVES: list[Tick] = [(0.0, "0"), (0.5, "0.5"), (1.0, "1")]


def _x(f: float) -> float:
    return LEFT + f * PLOT_W


def _y(f: float) -> float:
    return TOP + (1.0 - f) * PLOT_H


def _frame(x_label: str, x_ticks: Sequence[Tick], y_label: str, y_ticks: Sequence[Tick]) -> list[str]:
    out = [
        f'<line x1="{_x(0)}" y1="{_y(0)}" x2="{_x(1)}" y2="{_y(0)}" stroke="#333"/>',
        f'<line x1="{_x(0)}" y1="{_y(0)}" x2="{_x(0)}" y2="{_y(1)}" stroke="#333"/>',
        f'<text x="{_x(0.5)}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{_y(0.5)}" transform="rotate(-90 14 {_y(0.5)})" text-anchor="middle">'
        f"{escape(y_label)}</text>",
    ]
    for f, label in x_ticks:
        anchor = "start" if f == 0 else "end" if f == 1 else "middle"
        out.append(f'<line x1="{_x(f):.1f}" y1="{_y(0)}" x2="{_x(f):.1f}" y2="{_y(0) + 4}" stroke="#333"/>')
        out.append(f'<text x="{_x(f):.1f}" y="{_y(0) + 16}" text-anchor="{anchor}">{escape(label)}</text>')
    for f, label in y_ticks:
        out.append(f'<line x1="{_x(0) - 4}" y1="{_y(f):.1f}" x2="{_x(0)}" y2="{_y(f):.1f}" stroke="#333"/>')
        out.append(f'<text x="{_x(0) - 6}" y="{_y(f) + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    return out


def _legend(entries: Sequence[tuple[str, str, bool]]) -> list[str]:
    """(name, colour, dashed) in one row above the frame."""
    out, x = [], float(LEFT)
    for name, colour, dashed in entries:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<line x1="{x}" y1="14" x2="{x + 18}" y2="14" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 22}" y="18" fill="{colour}">{escape(name)}</text>')
        x += 40 + 6.2 * len(name)  # about 6 px a character at font-size 11
    return out


def _polyline(points: Sequence[tuple[float, float]], colour: str, dashed: bool = False) -> str:
    coords = " ".join(f"{_x(px):.1f},{_y(py):.1f}" for px, py in points)
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{coords}"/>'


def _svg(svg_id: str, title: str, body: list[str]) -> str:
    return (
        f'<svg id="{svg_id}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _ap(e: ModelEval) -> str:
    return "-" if e.average_precision is None else f"{e.average_precision:.3f}"


def pr_curve_svg(evals: Sequence[ModelEval]) -> str:
    body = _frame("recall", HALVES, "precision", HALVES)
    body += [_polyline(list(zip(*e.curve, strict=True)), COLOURS[i]) for i, e in enumerate(evals)]
    body += _legend([(f"{e.name} (AP {_ap(e)})", COLOURS[i], False) for i, e in enumerate(evals)])
    return _svg("pr-curve", "precision-recall curve", body)


def _log_share(share: float) -> float:
    return max(0.0, 1.0 + math.log10(share) / LOG_DECADES) if share > 0 else 0.0


def score_distribution_svg(e: ModelEval, svg_id: str) -> str:
    """Per class, the share of its swipes in each score bin, on a log scale: both classes show."""
    y_ticks = [(1.0 - k / LOG_DECADES, f"{10.0**-k:g}") for k in range(LOG_DECADES + 1)]
    body = _frame(f"{e.name} score", HALVES, "share of the class's swipes (log)", y_ticks)
    width = PLOT_W / HISTOGRAM_BINS / 2
    for i, counts in enumerate((e.histogram_legit, e.histogram_fraud)):
        total = sum(counts) or 1
        for b, count in enumerate(counts):
            top = _log_share(count / total)
            if top <= 0:
                continue
            x = _x(b / HISTOGRAM_BINS) + i * width
            body.append(
                f'<rect x="{x:.1f}" y="{_y(top):.1f}" width="{width:.1f}" height="{_y(0) - _y(top):.1f}" '
                f'fill="{COLOURS[i]}" fill-opacity="0.75"/>'
            )
    body += _legend([("legitimate", COLOURS[0], False), ("fraud", COLOURS[1], False)])
    return _svg(svg_id, f"{e.name}: score distributions", body)


def daily_precision_svg(evals: Sequence[ModelEval]) -> str:
    """Each scorer's card precision@k per test day, and the best any ranking could do that day."""
    days = sorted({d.day_start for e in evals for d in e.daily})
    span = max(len(days) - 1, 1)
    at = {day: j / span for j, day in enumerate(days)}
    ends = sorted({days[0], days[-1]}) if days else []
    x_ticks = [(at[d], f"{datetime.fromtimestamp(d, UTC):%Y-%m-%d}") for d in ends]
    body = _frame("test day", x_ticks, f"card precision@{evals[0].k}", HALVES)
    body.append(_polyline([(at[d.day_start], d.best) for d in evals[0].daily], CEILING, dashed=True))
    body += [
        _polyline([(at[d.day_start], d.precision) for d in e.daily], COLOURS[i]) for i, e in enumerate(evals)
    ]
    legend = [(f"{e.name} (mean {_mean(e)})", COLOURS[i], False) for i, e in enumerate(evals)]
    body += _legend([*legend, ("best possible", CEILING, True)])
    return _svg("daily-card-precision", "daily card precision", body)


def _mean(e: ModelEval) -> str:
    return "-" if e.card_precision is None else f"{e.card_precision:.3f}"
