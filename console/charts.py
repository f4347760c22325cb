"""Draw the statistics page's charts as SVG on the server: bars, and stacked weekly bars.

No chart library and no script: each chart is a small data structure that the
``chart.svg`` template draws, escaped like every other template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

PALETTE: Final = ("#1f5fa8", "#c2571a", "#2e7d32", "#7b3fa0", "#8d6e00", "#00838f", "#ad1457")
WIDTH: Final = 640
BAR: Final = 22


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class Segment:
    x: int
    y: int
    height: int
    colour: str
    title: str


@dataclass(slots=True)
class Column:
    label: str
    x: int
    segments: list[Segment] = field(default_factory=list)


def bars(rows: list[tuple[str, int]]) -> tuple[list[Bar], int]:
    """Lay out horizontal bars; return them and the chart's height."""
    top = max([v for _, v in rows] + [1])
    room = WIDTH - 260
    laid = [
        Bar(label, value, 8 + i * (BAR + 8), round(room * value / top))
        for i, (label, value) in enumerate(rows)
    ]
    return laid, 16 + len(rows) * (BAR + 8)


def stacked(
    labels: list[str], series: dict[str, list[int]], height: int = 200
) -> tuple[list[Column], list[tuple[str, str]]]:
    """Lay out stacked columns, one per label; return them and the legend (name, colour)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = max([*totals, 1])
    step = (WIDTH - 60) // max(1, len(labels))
    columns = [Column(label, 40 + i * step) for i, label in enumerate(labels)]
    legend = [(name, PALETTE[k % len(PALETTE)]) for k, name in enumerate(series)]
    for i, column in enumerate(columns):
        base = height
        for (name, colour), values in zip(legend, series.values(), strict=True):
            h = round(height * values[i] / top)
            if h:
                base -= h
                column.segments.append(Segment(column.x, base, h, colour, f"{name}: {values[i]}"))
    return columns, legend
