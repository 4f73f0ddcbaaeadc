"""Server-rendered SVG pictures for the console: a run's timeline and small sparklines.

No chart library (the network is closed and the pictures are simple): the markup is built here,
escaped, and returned as safe HTML. The timeline puts each step on a time axis from its start
offset and duration; steps that ran at the same time go on different lanes (assigned greedily:
the first lane that is free when the step starts), so parallel work is visible at a glance.
Each bar carries its action as a symbol and its status in words, not by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ACTION_SYMBOL = {"create": "+", "update": "~", "delete": "-", "no-op": "=", "skipped": "»", "error": "!"}
ACTION_FILL = {"create": "#2e7d32", "update": "#1565c0", "delete": "#b71c1c", "no-op": "#78909c"}
FAILED_FILL, SKIPPED_FILL = "#c62828", "#bdbdbd"

LEFT, RIGHT, TOP, BAR_H, GAP, AXIS_H = 8, 16, 8, 20, 4, 24


def lanes(spans: Sequence[tuple[float, float]]) -> list[int]:
    """For each (start, end), the lowest lane that is free at its start; returns lane per span."""
    ends: list[float] = []
    assigned = [0] * len(spans)
    for i in sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1])):
        start, end = spans[i]
        lane = next((n for n, free_at in enumerate(ends) if free_at <= start + 1e-9), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        assigned[i] = lane
    return assigned


def _tick_step(total: float, target: int = 6) -> float:
    """A round tick interval (1, 2 or 5 times a power of ten) giving about `target` ticks."""
    raw = max(total / target, 1e-6)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s" if value >= 1 else f"{value:.2f} s"


def timeline(steps: Iterable[Any], width: int = 760) -> SafeString:
    """Steps (resource, action, status, started_offset_s, seconds) as bars on a time axis."""
    steps = list(steps)
    if not steps:
        return mark_safe('<p class="ep-muted">No step has finished yet.</p>')
    spans = [(s.started_offset_s, s.started_offset_s + max(s.seconds, 0.0)) for s in steps]
    lane_of = lanes(spans)
    total = max(end for _, end in spans) or 1.0
    scale = (width - LEFT - RIGHT) / total
    n_lanes = max(lane_of) + 1
    axis_y = TOP + n_lanes * (BAR_H + GAP)
    height = axis_y + AXIS_H
    out = [
        f'<svg class="ep-timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Timeline: {len(steps)} steps on {n_lanes} lanes over {_seconds(total)}">'
    ]
    tick = _tick_step(total)
    for i in range(int(total / tick) + 1):
        x = LEFT + i * tick * scale
        anchor = "start" if i == 0 else "middle"
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{axis_y}" stroke="#e0e0e0"/>'
            f'<text x="{x:.1f}" y="{axis_y + 14}" font-size="10" text-anchor="{anchor}" '
            f'fill="#555">{_seconds(i * tick)}</text>'
        )
    for step, lane, (start, end) in zip(steps, lane_of, spans, strict=True):
        x, y = LEFT + start * scale, TOP + lane * (BAR_H + GAP)
        w = max((end - start) * scale, 2.0)
        failed, skipped = step.status == "failed", step.status == "skipped"
        fill = FAILED_FILL if failed else SKIPPED_FILL if skipped else ACTION_FILL.get(step.action, "#607d8b")
        symbol = "✖" if failed else ACTION_SYMBOL.get(step.action, "·")
        label = f"{symbol} {step.resource}"
        chars = int((w - 6) / 6.2)  # about 6 px per character at 10 px: what fits in the bar
        text = label if len(label) <= chars else (label[: chars - 1] + "…" if chars > 3 else "")
        resource = escape(step.resource)
        out.append(
            f'<g class="ep-bar" data-status="{escape(step.status)}">'
            f"<title>{resource}: {escape(step.action)}, {escape(step.status)}, "
            f"{_seconds(end - start)} from {_seconds(start)}</title>"
            f'<rect data-resource="{resource}" data-lane="{lane}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{BAR_H}" rx="3" fill="{fill}"'
            + (' stroke="#000" stroke-dasharray="3 2"' if skipped or failed else "")
            + "/>"
            + (
                f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="10" fill="#fff">{escape(text)}</text>'
                if text
                else ""
            )
            + "</g>"
        )
    out.append("</svg>")
    return mark_safe("".join(out))


def sparkline(
    values: Sequence[float | None], label: str, unit: str, width: int = 120, height: int = 24
) -> SafeString:
    """A small line of `values` (oldest first; None for a run with no value) with its last value named."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return mark_safe(f'<span class="ep-muted" title="{escape(label)}: no data">-</span>')
    low, high = min(v for _, v in points), max(v for _, v in points)
    span_v = (high - low) or 1.0
    step_x = (width - 4) / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 2 + i * step_x, height - 3 - (v - low) / span_v * (height - 6)

    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
    last_x, last_y = xy(*points[-1])
    summary = (
        f"{label}: last {points[-1][1]:.0f} {unit}, min {low:.0f}, max {high:.0f} over {len(points)} runs"
    )
    return mark_safe(
        f'<svg class="ep-spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}">'
        f"<title>{escape(summary)}</title>"
        f'<polyline points="{coords}" fill="none" stroke="#1565c0" stroke-width="1.5"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="#1565c0"/></svg>'
    )


def traffic_chart(
    points: Sequence[tuple[float, int]], until_s: float, rolled_back: bool = False, width: int = 760
) -> SafeString:
    """A release's traffic over time: the new version's share (0-100%) as a step line.

    `points` are (seconds from the release's start, percent) as the traffic changed; the line
    holds each share until the next change, and the last one until `until_s` (now, or the end).
    A rollback is marked where the share fell back to 0. The percentages are written on the line
    and in the title, not told by colour alone.
    """
    if not points:
        return mark_safe('<p class="ep-muted">No traffic has moved to the new version yet.</p>')
    height, plot_h = 140, 100
    total = max(until_s, points[-1][0], 1.0)
    scale = (width - LEFT - RIGHT - 30) / total
    x0 = LEFT + 30

    def xy(at: float, percent: int) -> tuple[float, float]:
        return x0 + at * scale, TOP + plot_h - percent / 100 * plot_h

    coords: list[str] = [f"{x0:.1f},{TOP + plot_h:.1f}"]
    for i, (at, percent) in enumerate(points):
        previous = points[i - 1][1] if i else 0
        coords.append("{:.1f},{:.1f}".format(*xy(at, previous)))
        coords.append("{:.1f},{:.1f}".format(*xy(at, percent)))
    coords.append("{:.1f},{:.1f}".format(*xy(total, points[-1][1])))
    moves = ", ".join(f"{p}% at {_seconds(at)}" for at, p in points)
    summary = f"Traffic on the new version: {moves}" + ("; rolled back" if rolled_back else "")
    out = [
        f'<svg class="ep-traffic" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}">'
        f"<title>{escape(summary)}</title>"
    ]
    for percent in (0, 50, 100):
        _, y = xy(0, percent)
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" stroke="#e0e0e0"/>'
            f'<text x="{x0 - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end" '
            f'fill="#555">{percent}%</text>'
        )
    tick = _tick_step(total)
    for i in range(int(total / tick) + 1):
        x, _ = xy(i * tick, 0)
        out.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" font-size="10" text-anchor="middle" '
            f'fill="#555">{_seconds(i * tick)}</text>'
        )
    colour = FAILED_FILL if rolled_back else ACTION_FILL["update"]
    out.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for at, percent in points:
        x, y = xy(at, percent)
        right = x > width - RIGHT - 40  # a label near the right edge goes to the left of its point
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
            f'<text x="{x - 4 if right else x + 4:.1f}" y="{max(y - 4, TOP + 8):.1f}" font-size="10" '
            f'text-anchor="{"end" if right else "start"}" fill="#222">{percent}%</text>'
        )
    if rolled_back:
        x, y = xy(points[-1][0], 0)
        out.append(
            f'<text x="{x:.1f}" y="{y - 4:.1f}" font-size="12" fill="{FAILED_FILL}">✖ rolled back</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))


# --- traffic charts (issue 19): metrics on one time axis, alarm bands and run markers --------------
SERIES_STYLE = (  # colour and dash: each series tells itself apart without colour too
    ("#1565c0", ""),
    ("#c62828", "6 3"),
    ("#ef6c00", "2 2"),
    ("#2e7d32", "8 3 2 3"),
    ("#6a1b9a", "4 4"),
    ("#00838f", "1 3"),
)
BAND_FILL = {"ALARM": ("#c62828", 0.16), "INSUFFICIENT_DATA": ("#9e9e9e", 0.14)}
MARKER_SYMBOL = {"provision": "P", "release": "R", "rollback": "↶", "drift repair": "D"}


def _clock(epoch: float, span: float) -> str:
    """A time label fit for the range: minutes within a day, day and hour within a week, else the day."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    if span <= 86400:
        return moment.strftime("%H:%M")
    if span <= 7 * 86400:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%d %b")


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _last_max(series: Any) -> str:
    if not series.values:
        return "no data"
    return f"last {_number(series.values[-1])}, max {_number(max(series.values))}"


@dataclass(frozen=True)
class _Plot:
    """Where a traffic chart's values go: the time axis [start, end) and values 0..ceiling."""

    start: float
    span: float
    ceiling: float
    tick: float
    x0: float
    plot_w: float
    width: int
    plot_h: int = 120

    def x(self, t: float) -> float:
        return self.x0 + (t - self.start) / self.span * self.plot_w

    def y(self, v: float) -> float:
        return TOP + self.plot_h - v / self.ceiling * self.plot_h


def _plot_of(chart: Any, start: float, end: float, width: int) -> _Plot:
    x0 = LEFT + 44
    top = max((max(s.values) for s in chart.series if s.values), default=1.0) or 1.0
    tick = _tick_step(top, 4)
    ceiling = max(tick * math.ceil(top / tick), tick)
    return _Plot(start, max(end - start, 1.0), ceiling, tick, x0, width - x0 - RIGHT, width)


def metric_chart(
    chart: Any,
    start: float,
    end: float,
    period: float,
    bands: Sequence[Any] = (),
    markers: Sequence[tuple[float, str, str, str]] = (),
    width: int = 760,
) -> SafeString:
    """One chart of a traffic view (`provisioning.traffic.Chart`): a line per series on the time
    axis [start, end), alarm bands (ALARM red, INSUFFICIENT_DATA grey) behind them, and the portal's
    runs as marked vertical lines, each a link to its run (`markers`: (epoch, kind, label, url)).

    A gap longer than 1.5 periods breaks a line (CloudWatch has no datapoint where nothing happened).
    A line has at most one point per pixel column of the plot: where several periods fall in one
    column, the highest is drawn (peaks stay visible; a 30-day range of hours is 720 periods on
    about 650 columns). The legend names each series with its dash pattern, last and highest value."""
    plot = _plot_of(chart, start, end, width)
    summary = f"{chart.title}: " + "; ".join(f"{s.label} {_last_max(s)}" for s in chart.series)
    out = [f"<title>{escape(summary)}</title>"]
    out += _band_marks(plot, bands, end)
    out += _axes(plot)
    for index, series in enumerate(chart.series):
        out += _series_marks(plot, series, index, period)
    out += _run_marks(plot, markers, end)
    legend, height = _legend(plot, chart.series)
    return mark_safe(
        f'<svg class="ep-metric" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}" '
        f'data-chart="{escape(chart.key)}">' + "".join(out) + "".join(legend) + "</svg>"
    )


def _band_marks(plot: _Plot, bands: Sequence[Any], end: float) -> list[str]:
    out = []
    for band in bands:
        if band.state not in BAND_FILL or band.end <= plot.start or band.start >= end:
            continue
        fill, opacity = BAND_FILL[band.state]
        left = plot.x(max(band.start, plot.start))
        bw = max(plot.x(min(band.end, end)) - left, 1.0)
        out.append(
            f'<rect class="ep-band" data-state="{escape(band.state)}" x="{left:.1f}" y="{TOP}" '
            f'width="{bw:.1f}" '
            f'height="{plot.plot_h}" fill="{fill}" fill-opacity="{opacity}"><title>{escape(band.alarm)}: '
            f"{escape(band.state)} {_clock(band.start, 0)} to {_clock(band.end, 0)} UTC</title></rect>"
        )
    return out


def _axes(plot: _Plot) -> list[str]:
    out = []
    right = plot.width - RIGHT
    for i in range(int(plot.ceiling / plot.tick) + 1):
        y = plot.y(i * plot.tick)
        out.append(
            f'<line x1="{plot.x0}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e0e0e0"/>'
            f'<text x="{plot.x0 - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end" fill="#555">'
            f"{_number(i * plot.tick)}</text>"
        )
    for i in range(7):
        t = plot.start + plot.span * i / 6
        anchor = "start" if i == 0 else "end" if i == 6 else "middle"
        out.append(
            f'<text x="{plot.x(t):.1f}" y="{TOP + plot.plot_h + 14}" font-size="10" '
            f'text-anchor="{anchor}" fill="#555">{_clock(t, plot.span)}</text>'
        )
    return out


def _runs(series: Any, period: float) -> list[list[tuple[float, float]]]:
    """The series' points split where a gap is longer than 1.5 periods."""
    runs: list[list[tuple[float, float]]] = []
    previous: float | None = None
    for t, v in zip(series.timestamps, series.values, strict=True):
        if previous is None or t - previous > 1.5 * period:
            runs.append([])
        runs[-1].append((t, v))
        previous = t
    return runs


def _per_column(plot: _Plot, run: list[tuple[float, float]]) -> str:
    """The SVG points ("x,y ...") of a run with at most one point per pixel column: the highest
    value of those that fall in it. Written for speed: a 30-day view draws 13,000 points."""
    scale, x0, start = plot.plot_w / plot.span, plot.x0, plot.start
    kept: dict[int, float] = {}
    for t, v in run:
        column = int(x0 + (t - start) * scale)
        held = kept.get(column)
        if held is None or v > held:
            kept[column] = v
    base, height = TOP + plot.plot_h, plot.plot_h / plot.ceiling
    return " ".join([f"{column},{base - v * height:.1f}" for column, v in kept.items()])


def _series_marks(plot: _Plot, series: Any, index: int, period: float) -> list[str]:
    colour, dash = SERIES_STYLE[index % len(SERIES_STYLE)]
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    out = [f'<g class="ep-series" data-series="{escape(series.id)}"><title>{escape(series.label)}</title>']
    for run in _runs(series, period):
        coords = _per_column(plot, run)
        if " " not in coords:
            cx, cy = coords.split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
        else:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"{dashed}/>'
            )
    out.append("</g>")
    return out


def _run_marks(plot: _Plot, markers: Sequence[tuple[float, str, str, str]], end: float) -> list[str]:
    out = []
    for at, kind, label, url in markers:
        if not plot.start <= at < end:
            continue
        x = plot.x(at)
        symbol = MARKER_SYMBOL.get(kind, "•")
        out.append(
            f'<a class="ep-marker" href="{escape(url)}" data-kind="{escape(kind)}">'
            f"<title>{escape(label)}</title>"
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot.plot_h}" stroke="#37474f" '
            f'stroke-dasharray="2 2"/><text x="{x:.1f}" y="{TOP + 9}" font-size="10" text-anchor="middle" '
            f'fill="#37474f">{escape(symbol)}</text></a>'
        )
    return out


def _legend(plot: _Plot, series_list: Sequence[Any]) -> tuple[list[str], float]:
    """The legend's marks and the chart's height: as many legend lines as the series need."""
    out = []
    legend_y = TOP + plot.plot_h + 34
    x = float(plot.x0)
    for index, series in enumerate(series_list):
        colour, dash = SERIES_STYLE[index % len(SERIES_STYLE)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        text = f"{series.label}: {_last_max(series)}"
        out.append(
            f'<line x1="{x:.1f}" y1="{legend_y - 4}" x2="{x + 18:.1f}" y2="{legend_y - 4}" stroke="{colour}" '
            f'stroke-width="2"{dashed}/><text x="{x + 22:.1f}" y="{legend_y}" font-size="10" fill="#222">'
            f"{escape(text)}</text>"
        )
        x += 30 + 5.6 * len(text)
        if x > plot.width - 160 and index < len(series_list) - 1:
            x, legend_y = float(plot.x0), legend_y + 14
    return out, legend_y + 8


MAX_TABLE_ROWS = 180  # a 30-day range of hours is 720 periods: its table groups them by 4 h
SUMMED = ("Sum", "SampleCount")


def table_rows(chart: Any, period: float, max_rows: int = MAX_TABLE_ROWS) -> tuple[float, list[Any]]:
    """(the row's length in seconds, [(row start, [value or None per series])]): a row per period
    that has a value, or, past `max_rows` periods, a row per run of whole periods (aligned to
    UTC), each series' Sum and SampleCount summed and any other statistic its highest value (a
    percentile or maximum of the periods cannot be combined into one of the longer row)."""
    stamps = sorted({t for s in chart.series for t in s.timestamps})
    step = period
    if period > 0 and len(stamps) > max_rows:
        step = period * math.ceil((stamps[-1] - stamps[0] + period) / period / max_rows)
    rows: dict[float, list[Any]] = {}
    width, grouped = len(chart.series), step > period
    for index, series in enumerate(chart.series):
        summed = series.stat in SUMMED
        for t, v in zip(series.timestamps, series.values, strict=True):
            key = t - t % step if grouped else t
            row = rows.get(key)
            if row is None:
                row = rows[key] = [None] * width
            held = row[index]
            row[index] = v if held is None else (held + v if summed else max(held, v))
    return step, sorted(rows.items())


def metric_table(chart: Any, period: float = 0.0) -> SafeString:
    """The numbers of a chart as a table, a column per series: a row per period that has a value,
    or per group of periods when there are more than MAX_TABLE_ROWS (see `table_rows`)."""
    import datetime as dt

    step, rows = table_rows(chart, period)
    if not rows:
        return mark_safe('<p class="ep-muted">No datapoints in this range.</p>')
    head = "".join(f'<th scope="col">{escape(s.label)}</th>' for s in chart.series)
    body = []
    for t, values in rows:
        moment = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M")
        cells = "".join(f"<td>{'-' if v is None else _number(v)}</td>" for v in values)
        body.append(f'<tr><th scope="row">{moment}</th>{cells}</tr>')
    grouped = ""
    if step > period > 0:
        grouped = (
            f"; a row per {_duration(step)} of {_duration(period)} periods: counts summed, "
            "latencies, percentiles and maxima the highest period's"
        )
    return mark_safe(
        f'<table class="ep-metric-table"><caption>{escape(chart.title)} ({escape(chart.unit)}), UTC'
        f"{grouped}</caption>"
        f'<thead><tr><th scope="col">{"row" if grouped else "period"} start</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min" if seconds % 60 == 0 else f"{seconds:.0f} s"
