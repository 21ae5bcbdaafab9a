"""The upload form's state between requests: which exercise it offers first, the error of the
last refused upload (a sentence that names the file and says what to do, shown beside the
form), whether to offer "send it anyway" after a wrong-exercise warning, and its idempotency
key.

A refused upload redirects back to the form (reloading the page sends nothing again); what it
has to say travels in the session, read once. The key is the time the form was drawn plus a
random part: the server cannot store keys (no column for one), so it reads the time instead,
and the same bytes sent to the same exercise since the form was drawn (at most REPEAT_MAX_S
ago, at least service.REPEAT_WINDOW_S) are one submission."""
from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timedelta, timezone

from flask import session

from ..errors import SubmissionError
from ..exercise_match import WrongExercise

STATE = "upload_form"
REPEAT_MAX_S = 600.0
_KEY = re.compile(r"^(\d{10,16})-[0-9a-f]{8,64}$")

# what to do, for the refusals whose own words do not say it
_HINTS = (("over the", "Clear the notebook's outputs (Restart & Clear Output in Jupyter), or send a smaller file."),
          ("is empty", "Save the file in your editor and choose it again."),
          ("not a notebook", "Open it in Jupyter, save it, and send it again (or send a .py file)."),
          ("not valid", "Open it in Jupyter, save it, and send it again (or send a .py file)."),
          ("utf-8", "Save it as UTF-8 and send it again."),
          ("no python code", "Check that you chose the file with your code in it."),
          ("no code cells", "Check that you chose the notebook with your code in it."))


def new_key() -> str:
    return f"{int(time.time() * 1000)}-{secrets.token_hex(8)}"


def repeat_since(key: str | None, now: datetime | None = None) -> datetime | None:
    """From a form's key: when the form was drawn, kept within [REPEAT_MAX_S ago, the default
    window]; None (the service's default window) for a missing or malformed key."""
    match = _KEY.match(key or "")
    if match is None:
        return None
    now = now or datetime.now(timezone.utc)
    drawn = datetime.fromtimestamp(int(match.group(1)) / 1000, timezone.utc)
    from ..service import REPEAT_WINDOW_S
    return max(min(drawn, now - timedelta(seconds=REPEAT_WINDOW_S)), now - timedelta(seconds=REPEAT_MAX_S))


def sentence(filename: str | None, error: SubmissionError | str) -> str:
    """The refusal as the form says it: the file's name, the reason, what to do."""
    reason = str(error).strip().rstrip(".")
    if len(reason) > 1 and reason[0].isupper() and reason[1].islower():
        reason = reason[0].lower() + reason[1:]
    name = filename or "The file"
    if isinstance(error, WrongExercise):
        return f"{name}: {reason}."
    text = f"{name} was not sent for grading: {reason}."
    hint = next((h for words, h in _HINTS if words in reason.lower()), None)
    if hint and hint.lower().rstrip(".") not in reason.lower():
        text += " " + hint
    if "nothing was stored" not in text.lower():
        text += " Nothing was stored and no attempt was used."
    return text


def remember(exercise_id: str | None, error: str, confirm: str | None = None) -> None:
    session[STATE] = {"exercise": exercise_id or None, "error": error, "confirm": confirm}


def recall() -> dict:
    """The last refusal's state (once), or an empty one."""
    state = session.pop(STATE, None)
    return state if isinstance(state, dict) else {}
