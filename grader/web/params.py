"""Reading a request's parameters, in one place: a bad one is a UsageError (400) whose sentence
names the parameter and says what it must be, so no view answers 500 for what a user typed."""
from __future__ import annotations

from flask import request

from ..errors import UsageError
from ..storage.gradebook import POLICIES


def text(name: str, source=None) -> str | None:
    """The parameter stripped, or None when absent or empty; given twice is an error (which one
    was meant?)."""
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
        raise UsageError(f"policy must be one of {', '.join(POLICIES)}, not {value!r}")
    return value
