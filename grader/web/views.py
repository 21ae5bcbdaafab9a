"""Template helpers: how times, points, scores, sizes (grader/sizes.py) and statuses read on every
page (one place)."""
from __future__ import annotations

from datetime import datetime, timezone

from markupsafe import Markup

from ..results import code_notes
from ..sizes import size
from ..words import plural

STATUS_WORDS = {"received": "received", "queued": "waiting in the queue", "running": "being graded",
                "graded": "graded", "failed": "could not be graded", "error": "grader problem"}


def init_app(app) -> None:
    app.jinja_env.filters.update(when=when, when_text=when_text, when_field=when_field, points=points, ago=ago,
                                  size=size, score_words=score_words, late_words=late_words, percent=percent,
                                  plural=plural, seconds=seconds, megabytes=megabytes)
    app.jinja_env.globals.update(STATUS_WORDS=STATUS_WORDS, code_notes=code_notes)
    app.jinja_env.autoescape = True        # also for templates not ending in .html


TIME_FORMAT = "%Y-%m-%d %H:%M"          # every page's one format, then the zone's name (app.js writes the same)


def when_text(value: datetime | None) -> str:
    """A time as plain text, in UTC ("2026-12-04 09:30 UTC"): for attributes, options and messages,
    where a <time> element cannot go."""
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime(TIME_FORMAT) + " UTC"


def when(value: datetime | None) -> Markup:
    """A time as a <time> element that reads UTC; app.js rewrites its text in the reader's zone and
    keeps UTC in its title (on hover), so the page still reads without the script."""
    if value is None:
        return Markup("—")
    text = when_text(value)
    iso = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, text, text)


def when_field(value: datetime | None) -> str:
    """A time as a datetime-local field's value, in UTC (the forms say so; params.utc_time reads it back)."""
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")


def ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = (datetime.now(timezone.utc) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size_s in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size_s:
            n = int(seconds // size_s)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a moment" if future else "just now"


def points(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".")



def time_left(usual_s: float | None, elapsed_s: float) -> str | None:
    """A running grading's estimate, from the exercise's usual grading time (the median of its
    recent graded runs) and the time since this attempt started: "about 40 s left", "a little
    longer than usual" once past it, None without any history."""
    if usual_s is None:
        return None
    left = usual_s - elapsed_s
    if left < 0.5:
        return "a little longer than usual"
    return f"about {round(left)} s left"


def seconds(value: float | None) -> str:
    """A measured time: "0.42 s", "12.3 s", "1,234.5 s"; "—" when it was not measured."""
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 10 else f"{value:,.1f} s"


def megabytes(value: float | None) -> str:
    """A measured memory in MiB (NVML's), as every size reads (grader/sizes.py)."""
    return "—" if value is None else size(int(value * 2**20))


def percent(fraction: float) -> str:
    """0.3 -> "30%", 0.125 -> "12.5%"."""
    return f"{points(fraction * 100)}%"


def _with_bonus(score: float, bonus: float | None) -> str:
    return f"{points(score)} + {points(bonus)}" if bonus else points(score)


def score_words(row, max_score: float | None = None, late: bool = True) -> str:
    """A graded submission's score as every page and list says it: what counts, then the late
    penalty and the score before it ("14 / 20 + 2.1 bonus, after a 30% late penalty on 20 + 3").
    `row`: anything with score, bonus (after the penalty), max_score, raw_score, raw_bonus and
    penalty: a gradebook cell, a submission row or a submission's page. `late` False: without the
    penalty's words (a page that says them apart, with `late_words`)."""
    if row is None or row.score is None:
        return "—"
    top = row.max_score if row.max_score is not None else max_score
    words = points(row.score) + (f" / {points(top)}" if top is not None else "")
    if row.bonus:
        words += f" + {points(row.bonus)} bonus"
    if row.penalty and late:
        words += ", " + late_words(row)
    return words


def late_words(row) -> str:
    """"after a 30% late penalty on 20 + 3" (empty when on time): the gradebook's cells say it
    beneath the score, the other pages after it."""
    if row is None or row.score is None or not row.penalty:
        return ""
    return f"after a {percent(row.penalty)} late penalty on {_with_bonus(row.raw_score, row.raw_bonus)}"
