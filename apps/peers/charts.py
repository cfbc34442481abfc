"""The RTT history chart as plain numbers for an inline SVG (no chart library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH = 720
HEIGHT = 200
PAD_LEFT = 48
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 28
SPAN = timedelta(hours=1)


@dataclass
class Tick:
    pos: float
    label: str


@dataclass
class RttChart:
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    plot_top: int = PAD_TOP
    plot_bottom: int = HEIGHT - PAD_BOTTOM
    points: str = ""
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    count: int = 0
    min_ms: float | None = None
    max_ms: float | None = None
    avg_ms: float | None = None
    last_ms: float | None = None


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^n at or above `value` (so the axis reads in round numbers)."""
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value * 10 and step > 0.01:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def rtt_chart(samples: list[tuple[datetime, float]], *, now: datetime) -> RttChart:
    """Lay out (measured_at, rtt_ms) samples of the last hour on a time axis ending at `now`."""
    chart = RttChart()
    start = now - SPAN
    inner_w = chart.plot_right - chart.plot_left
    inner_h = chart.plot_bottom - chart.plot_top
    chart.x_ticks = [
        Tick(
            chart.plot_left + inner_w * minutes / 60,
            f"-{60 - minutes} min" if minutes < 60 else "now",
        )
        for minutes in (0, 15, 30, 45, 60)
    ]
    values = [rtt for _, rtt in samples]
    top = _nice_ceiling(max(values) if values else 1.0)
    chart.y_ticks = [
        Tick(chart.plot_bottom - inner_h * frac, f"{top * frac:g} ms") for frac in (0, 0.5, 1)
    ]
    if not samples:
        return chart
    coords = []
    for at, rtt in samples:
        x = chart.plot_left + inner_w * max(0.0, (at - start) / SPAN)
        y = chart.plot_bottom - inner_h * (rtt / top)
        coords.append((round(x, 1), round(y, 1), f"{rtt:.1f} ms at {at:%H:%M:%S}"))
    chart.points = " ".join(f"{x},{y}" for x, y, _ in coords)
    chart.dots = coords[-120:]  # hover targets for the latest samples; the line shows them all
    chart.count = len(values)
    chart.min_ms = min(values)
    chart.max_ms = max(values)
    chart.avg_ms = sum(values) / len(values)
    chart.last_ms = values[-1]
    return chart
