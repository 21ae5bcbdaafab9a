"""Whether an upload was sent to the wrong exercise: a file that defines none of the names the
chosen exercise asks for (its manifest's `names`) but most of another's is refused with a
sentence naming the other, before it is stored, so the mistake costs the student no attempt
(and no "your code does not define `SimpleNN`" twelve times over).

The names a file defines are found without running or parsing it: top-level `def NAME` and
`class NAME` lines, by substring search (linear, at C speed: a hostile 20 MiB file costs tens of
milliseconds, and at most MAX_HITS matches). Every name the manifests list is a function or a
class; `NAME = lambda ...` is not seen, which can only make the warning rarer. In a notebook's
JSON a code line starts right after a string's opening quote or after an escaped newline; a
markdown cell or an output with such a line counts too, which again only makes it rarer."""
from __future__ import annotations

import re
from pathlib import Path, PurePath

from .errors import SubmissionError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# where a top-level definition starts: a line of a .py file; in a notebook's JSON, a source string
# (a line of the cell, as nbformat writes them) or an escaped newline inside one
_STARTS = {False: ("\ndef ", "\nasync def ", "\nclass "),
           True: ('"def ', '"async def ', '"class ', "\\ndef ", "\\nasync def ", "\\nclass ")}
MAX_HITS = 10_000   # far more definitions than any submission has; a file of nothing else stops here
MOST = 0.5          # "most of another's": more than half of its names


class WrongExercise(SubmissionError):
    """The upload looks like another exercise's; sent again with the student's confirmation it
    is stored as usual."""
    http_status = 422

    def __init__(self, message: str, chosen: str, looks_like: str):
        super().__init__(message)
        self.chosen, self.looks_like = chosen, looks_like


def defined_names(data: bytes, filename: str) -> set[str]:
    """The functions and classes the file seems to define at top level (see the module's
    docstring): a few substring searches (C speed, linear) and a short match at each hit."""
    notebook = PurePath(filename).suffix.lower() == ".ipynb"
    text = data.decode("utf-8", errors="replace")
    if not notebook:
        text = "\n" + text
    names: set[str] = set()
    hits = 0
    for start in _STARTS[notebook]:
        at = text.find(start)
        while at >= 0 and hits < MAX_HITS:
            hits += 1
            name = _IDENT.match(text, at + len(start))
            if name:
                names.add(name.group())
            at = text.find(start, at + len(start))
    return names


def looks_like(defined: set[str], chosen: tuple[str, ...], others: dict[str, tuple[str, ...]]) -> str | None:
    """The other exercise the file seems meant for: it defines none of `chosen`'s names and
    most of that one's (the largest share wins); None when nothing says so."""
    if not chosen or defined & set(chosen):
        return None
    shares = {eid: len(defined & set(names)) / len(names) for eid, names in others.items() if names}
    best = max(shares, key=lambda eid: (shares[eid], eid), default=None)
    return best if best is not None and shares[best] > MOST else None


def check_exercise(data: bytes, filename: str, exercise_id: str, exercises_dir: Path) -> None:
    """WrongExercise when the file looks meant for another exercise than `exercise_id`."""
    from .errors import GraderError
    from .manifest import exercise_ids, load_exercise
    try:
        names = {eid: load_exercise(exercises_dir, eid).names for eid in exercise_ids(exercises_dir)}
    except (GraderError, OSError):       # a broken manifest is the operator's to fix, not a reason to refuse
        return
    if exercise_id not in names:
        return
    chosen = names.pop(exercise_id)
    defined = defined_names(data, filename)
    other = looks_like(defined, chosen, names)
    if other is None:
        return
    found = sorted(defined & set(names[other]))
    shown = ", ".join(found[:3]) + (" and more" if len(found) > 3 else "")
    raise WrongExercise(f"this looks like {other}; did you choose the right exercise? It defines {shown} of "
                        f"{other} and none of what {exercise_id} asks for (such as {chosen[0]}). Nothing was "
                        "stored and no attempt was used: choose the right exercise, or send it to "
                        f"{exercise_id} anyway.", exercise_id, other)
