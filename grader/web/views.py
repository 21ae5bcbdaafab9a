"""Template helpers: how times, points, sizes (grader/sizes.py) and statuses read on every page
(one place)."""
from __future__ import annotations

from datetime import datetime, timezone

from ..results import code_notes
from ..sizes import size

STATUS_WORDS = {"received": "received", "queued": "waiting in the queue", "running": "being graded",
                "graded": "graded", "failed": "could not be graded", "error": "grader problem"}


def init_app(app) -> None:
    app.jinja_env.filters.update(when=when, points=points, ago=ago, size=size)
    app.jinja_env.globals.update(STATUS_WORDS=STATUS_WORDS, code_notes=code_notes)
    app.jinja_env.autoescape = True        # also for templates not ending in .html


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


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

