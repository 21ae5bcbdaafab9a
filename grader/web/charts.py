"""The analytics page's charts as geometry: what the template draws (bars with x/width/height,
value-axis ticks in "nice" integer steps, axis titles), so the template holds no arithmetic and
the numbers can be tested. Also how scores fall into bins, how days make a continuous axis, and
how long text is cut ("…"). Pure: no flask, no database.

Sizes are viewBox units. The viewBox is WIDTH wide; on a phone style.css keeps a chart at least
WIDTH px wide (its .chart-box scrolls sideways), so text of SMALL units (style.css: 12 px; the
axis titles 13 px) reads at that size or larger."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from ..words import plural

WIDTH = 520
SMALL = 12                # ticks, labels and values (svg.chart text)
CHAR = 0.56 * SMALL       # about how wide one character of those is (digits, dashes, lower case)
LABEL_CHARS = 72          # a test's description above its bar, at most (then "…")
MAX_BAR = 56              # a column no wider than this (one day of submissions is not a wall)
MESSAGE_CHARS = 200       # a failure message as the table first shows it


def ellipsis(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with "…" when cut. A cut that leaves a
    `code span` open closes it (one character more), so the page still shows it as code."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rstrip() + "…"
    return cut + "`" if cut.count("`") % 2 else cut


def _number(x: float) -> str:
    """At most one decimal: 2.5, 3 (bin edges)."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def nice_step(top: float, most: int = 5) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that covers 0..top in at most `most` steps."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if math.ceil(top / step) <= most:
                return step
        magnitude *= 10


def ticks(top: float, most: int = 5) -> list[int]:
    """0, step, 2 step, ... up to the first at or above `top` (at least 0 and 1)."""
    step = nice_step(max(top, 1), most)
    return [step * k for k in range(math.ceil(max(top, 1) / step) + 1)]


# ---------------------------------------------------------------- data

@dataclass(frozen=True)
class Bins:
    items: list[tuple[str, int]]      # (label, students)
    note: str                         # which scores a bin holds ("" when the labels say it)


def score_bins(scores: list[float], max_points: float) -> Bins:
    """Scores into bins with clear edges. Whole-point scores (and a whole max): one bin per score
    up to a max of 20, else whole-point bins "0–4", "5–9", ...; otherwise bins "0–2.5", ...
    that hold their lower edge and not their upper one, the last also holding the max."""
    top = max([max_points or 0.0, *scores]) or 1.0
    whole = float(top).is_integer() and all(float(s).is_integer() for s in scores)
    if whole and top <= 20:
        counts = [0] * (int(top) + 1)
        for s in scores:
            counts[max(int(s), 0)] += 1
        return Bins([(str(k), n) for k, n in enumerate(counts)], "")
    if whole:
        width = next(w for w in _widths(True) if math.ceil(top / w) <= 10)
    else:
        width = next(w for w in _widths(False) if math.ceil(top / w - 1e-9) <= 10)
    n = math.ceil(top / width - 1e-9)
    counts = [0] * n
    for s in scores:
        counts[min(max(math.floor(s / width + 1e-9), 0), n - 1)] += 1
    edges = [round(k * width, 6) for k in range(n)] + [top]
    if whole:
        labels = [f"{int(lo)}–{int(hi) - (0 if k == n - 1 else 1)}" for k, (lo, hi) in enumerate(zip(edges, edges[1:]))]
        note = "Each bar holds the whole-point scores it names, both ends included."
    else:
        labels = [f"{_number(lo)}–{_number(hi)}" for lo, hi in zip(edges, edges[1:])]
        note = (f"Each bar holds the scores from its lower edge up to, not including, its upper one; "
                f"the last one includes the maximum, {_number(top)}.")
    return Bins(list(zip(labels, counts)), note)


def _widths(whole: bool):
    """Bin widths: 1, 2, 5, 10, 20, 25, 50, ... (and 0.1, 0.2, 0.5, 2.5 for fractional scores)."""
    yield from (1, 2, 5) if whole else (0.1, 0.2, 0.5, 1, 2, 2.5, 5)
    magnitude = 10
    while True:
        yield from (magnitude, 2 * magnitude, 2.5 * magnitude, 5 * magnitude)
        magnitude *= 10


def continuous_days(per_day: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """(ISO day, n) from the first to the last day, the days between without any as 0."""
    if not per_day:
        return []
    counts = {date.fromisoformat(str(day)[:10]): n for day, n in per_day}
    first, last = min(counts), max(counts)
    return [((first + timedelta(days=k)).isoformat(), counts.get(first + timedelta(days=k), 0))
            for k in range((last - first).days + 1)]


# ---------------------------------------------------------------- geometry

@dataclass(frozen=True)
class Tick:
    label: str
    pos: float            # y of a value-axis tick (columns), x of one (pass rates)


@dataclass(frozen=True)
class Bar:
    label: str            # what the bar stands for, in full
    value: float
    title: str            # the hover text: "5–9: 3 students"
    x: float
    y: float
    width: float
    height: float
    text: str             # the axis label under it ("" for all but every k-th) or above it (cut)
    text_x: float
    text_y: float
    value_text: str       # the number drawn at the bar ("" where there is no room or it is 0)
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Chart:
    label: str            # the SVG's accessible name
    width: int
    height: int
    left: float           # the plot area
    top: float
    right: float
    bottom: float
    bars: list[Bar]
    ticks: list[Tick]
    x_title: str
    y_title: str
    empty: bool           # no data: the page says so instead of drawing an empty axis

    @property
    def middle_x(self) -> float:
        return round((self.left + self.right) / 2, 1)

    @property
    def middle_y(self) -> float:
        return round((self.top + self.bottom) / 2, 1)


def columns(items: list[tuple[str, int]], label: str, x_title: str, y_title: str, unit: str,
            height: int = 260) -> Chart:
    """A column chart of (label, count): a bar per item left to right, the count axis in nice
    integer steps, every k-th item labelled where the labels would not fit under every bar."""
    left, top, right, bottom = 52.0, 16.0, WIDTH - 8.0, height - 44.0
    axis = ticks(max([value for _, value in items] or [1]))
    scale = (bottom - top) / axis[-1]
    slot = (right - left) / max(len(items), 1)
    every = max(1, math.ceil((max([len(name) for name, _ in items] or [1]) * CHAR + 4) / slot))
    width = min(slot - min(4.0, slot * 0.2), MAX_BAR)
    bars = []
    for k, (name, value) in enumerate(items):
        h, middle = round(value * scale, 1), left + (k + 0.5) * slot
        shown = str(value) if value and len(str(value)) * CHAR <= slot else ""
        bars.append(Bar(name, value, f"{name}: {plural(value, unit)}", round(middle - width / 2, 1),
                        round(bottom - h, 1), round(width, 1), h, name if k % every == 0 else "", round(middle, 1),
                        bottom + SMALL + 4, shown, round(middle, 1), round(bottom - h - 3, 1)))
    return Chart(label, WIDTH, height, left, top, right, bottom, bars,
                 [Tick(str(v), round(bottom - v * scale, 1)) for v in axis], x_title, y_title,
                 not any(value for _, value in items))


def pass_rates(tests, label: str = "pass rate of each test") -> Chart:
    """A bar per test (`storage.analytics.TestRate`), top to bottom in the order given (the
    manifest's): its description, cut with "…", above a bar as long as its pass rate; the percent
    axis at the bottom."""
    row, bar_h = 36.0, 14.0
    left, top, right = 16.0, 4.0, WIDTH - 44.0
    bottom = top + row * len(tests)
    bars = []
    for k, t in enumerate(tests):
        rate = t.passed / t.runs if t.runs else 0.0
        y, w = top + k * row, round((right - left) * rate, 1)
        full = t.description or t.name
        bars.append(Bar(full, rate, f"{full}: {t.passed} of {t.runs} passed", left, y + SMALL + 6, w, bar_h,
                        ellipsis(full, LABEL_CHARS), left, y + SMALL + 1, f"{round(rate * 100)}%",
                        round(left + w + 4, 1), y + SMALL + 6 + bar_h - 2))
    axis = [Tick(f"{p}%", round(left + (right - left) * p / 100, 1)) for p in (0, 25, 50, 75, 100)]
    return Chart(label, WIDTH, int(bottom + 44), left, top, right, bottom, bars, axis,
                 "passed (% of counted submissions)", "", not tests)
