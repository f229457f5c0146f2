"""Small charts drawn on the server as inline SVG: no script, no external asset, and every
label escaped (a provider's order id or status can be anything)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

BAR_W = 6  # pixels per bar
CHART_H = 36  # pixels


def bars(series: Sequence[Sequence[int]], *, classes: Sequence[str], label: str) -> Markup:
    """Stacked bars, one per slot (a minute), the series bottom up; scaled to the tallest."""
    slots = max((len(s) for s in series), default=0)
    totals = [sum(s[i] for s in series) for i in range(slots)]
    top = max(totals, default=0) or 1
    width = max(slots * BAR_W, BAR_W)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {CHART_H}" width="{width}"'
        f' height="{CHART_H}" aria-label="{escape(label)}"><title>{escape(label)}</title>'
    ]
    for i in range(slots):
        y = float(CHART_H)
        for values, css in zip(series, classes, strict=True):
            h = values[i] * (CHART_H - 2) / top
            if h > 0:
                y -= h
                parts.append(
                    f'<rect class="{css}" x="{i * BAR_W}" y="{y:.1f}"'
                    f' width="{BAR_W - 1}" height="{h:.1f}"/>'
                )
    parts.append(f'<line class="axis" x1="0" y1="{CHART_H}" x2="{width}" y2="{CHART_H}"/></svg>')
    return Markup("".join(parts))


@dataclass(frozen=True, kw_only=True, slots=True)
class Lane:
    """One timeline entry: where it sits on each axis, and how it reads."""

    seq: int
    occurred_at: datetime  # the provider's event time
    recorded_at: datetime  # when it arrived here
    label: str
    kind: str  # applied, stale, unchanged, created, stuck


LANE_W = 640
LANE_H = 176
_PAD = 56  # room for a label at either end


def lanes(entries: Sequence[Lane]) -> Markup:
    """Two lanes: provider event time above, arrival time below, one line per entry between
    them. Arrivals in the providers' order draw parallel lines; an entry that arrived out of
    order crosses the others and is drawn in the stale colour when it was not applied."""
    if not entries:
        return Markup('<p class="muted">No timeline entries.</p>')

    def scale(values: list[datetime]) -> list[float]:
        low, high = min(values), max(values)
        span = (high - low).total_seconds() or 1.0
        inner = LANE_W - 2 * _PAD
        return [_PAD + (v - low).total_seconds() / span * inner for v in values]

    top = scale([e.occurred_at for e in entries])
    bottom = scale([e.recorded_at for e in entries])
    y_top, y_bottom = 50.0, LANE_H - 48.0
    parts = [
        f'<svg class="lanes" role="img" viewBox="0 0 {LANE_W} {LANE_H}" width="100%"'
        ' aria-label="Provider event time against arrival time">'
        "<title>Provider event time (top) against arrival time (bottom)</title>"
        f'<text class="lane-label" x="4" y="12">provider event time</text>'
        f'<text class="lane-label" x="4" y="{LANE_H - 4}">arrival time</text>'
        f'<line class="lane" x1="{_PAD}" y1="{y_top}" x2="{LANE_W - _PAD}" y2="{y_top}"/>'
        f'<line class="lane" x1="{_PAD}" y1="{y_bottom}" x2="{LANE_W - _PAD}" y2="{y_bottom}"/>'
    ]
    arrival_rank = sorted(range(len(entries)), key=lambda i: entries[i].occurred_at)
    for order, i in enumerate(arrival_rank):
        entry = entries[i]
        out_of_order = any(
            entries[j].occurred_at > entry.occurred_at and entries[j].seq < entry.seq
            for j in range(len(entries))
        )
        css = f"k-{escape(entry.kind)}" + (" late" if out_of_order else "")
        label_y = y_top - 8 - (order % 3) * 11  # three rows, so close labels do not overlap
        tip = escape(f"#{entry.seq} {entry.label} ({entry.kind})")
        parts.append(
            f'<g class="{css}"><title>{tip}</title>'
            f'<line x1="{top[i]:.1f}" y1="{y_top}" x2="{bottom[i]:.1f}" y2="{y_bottom}"/>'
            f'<circle cx="{top[i]:.1f}" cy="{y_top}" r="4"/>'
            f'<circle cx="{bottom[i]:.1f}" cy="{y_bottom}" r="4"/>'
            f'<text x="{top[i]:.1f}" y="{label_y}">{escape(entry.label)}</text>'
            f'<text x="{bottom[i]:.1f}" y="{y_bottom + 15 + (i % 2) * 11}">#{entry.seq}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
