"""Reading a request's parameters, in one place: a bad one is a UsageError (400) whose sentence
names the parameter and says what it must be, so no view answers 500 for what a user typed and
nothing reaches the storage that it cannot hold (a naive time, an id past its INTEGER column)."""
from __future__ import annotations

import math
from datetime import datetime, timezone

from flask import request
from werkzeug.routing import IntegerConverter

from ..errors import UsageError
from ..storage.gradebook import POLICIES

LARGEST = 2 ** 31 - 1          # the largest id or count an INTEGER column holds (PostgreSQL's)
TIME_FORMAT = "YYYY-MM-DDTHH:MM, UTC unless it names a zone"


class RowId(IntegerConverter):
    """`<id:name>` in a route: a row id the database can hold (1 to LARGEST). Anything else
    matches no route, a 404 as for an id that names nothing."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=LARGEST)


def refuse_nul() -> None:
    """Before every view: a NUL character in the path, a query argument, a form field or a file
    name is refused. No field takes one, and PostgreSQL cannot even compare a text with it."""
    texts = [request.path, *request.args.keys(), *request.args.values(), *request.form.keys(),
             *request.form.values(), *(f.filename or "" for f in request.files.values())]
    if any("\0" in t for t in texts):
        raise UsageError("The request holds a NUL character (%00), which no field here takes. Nothing was stored.")


def shown(value: str) -> str:
    """A value quoted in a message: its start only (the message must stay a sentence)."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def text(name: str, source=None) -> str | None:
    """The parameter stripped, or None when absent or empty (request.args unless `source` is
    given, e.g. request.form); given twice is an error (which one was meant?)."""
    values = (request.args if source is None else source).getlist(name)
    if len(values) > 1:
        raise UsageError(f"{name} is given {len(values)} times: send it once")
    value = values[0].strip() if values else ""
    return value or None


def policy() -> str | None:
    """?policy= (best or latest), or None: the course's setting. Every front door (the pages, the
    CSV downloads, the API, `grader export grades`) reads None the same way."""
    value = text("policy")
    if value is not None and value not in POLICIES:
        raise UsageError(f"policy must be one of {', '.join(POLICIES)}, not {shown(value)}")
    return value


def row_id(name: str, source=None) -> int | None:
    """A submission's number (1 to LARGEST), or None when absent."""
    value = text(name, source)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= LARGEST):
        raise UsageError(f"{name} must be a submission number such as 42, not {shown(value)}")
    return int(value)


def number(name: str, source=None, whole: bool = False) -> float | int | None:
    """A finite number (a whole one when `whole`), or None when empty. Whether it makes sense
    (a fraction, a positive count) is the caller's rule (storage.course.edit_rules)."""
    value = text(name, source)
    if value is None:
        return None
    try:
        result = int(value) if whole else float(value)
    except ValueError:
        raise UsageError(f"{name}: {shown(value)} is not a {'whole ' if whole else ''}number") from None
    if not math.isfinite(result) or abs(result) > LARGEST:
        raise UsageError(f"{name}: {shown(value)} is not a number this form can use (at most {LARGEST:,})")
    return result


def utc_time(name: str, source=None) -> datetime | None:
    """A date and time as a datetime-local field sends it (ISO 8601), as aware UTC; one without a
    zone is read as UTC (the forms say so), one with a zone is converted. None when empty."""
    value = text(name, source)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):     # not a time, or one that leaves the calendar in UTC
        raise UsageError(f"{name}: {shown(value)} is not a date and time ({TIME_FORMAT})") from None
