"""What a student may see of a graded result: Gradescope's four levels per test, decided here
for scoring, every page, the API and the Gradescope output (staff see everything).

* visible: the test, its status, points and message.
* after_due_date / after_published: listed, but its result (status, points, message) is shown only
  once the student's due date has passed (extensions count) / the instructor published grades.
* hidden: never listed with its message, notes or seeds' figures; with `show_hidden_points` its
  status and points are.

A manifest names a test's level (`visibility = ...`), or says `visible = true` (visible) or
nothing (hidden). Scoring keeps the message of every test whose level may ever show it (all but
hidden), so a message can be revealed later; the pages then decide when.

Live progress passes the same rules: while a grading runs a student sees which test of how many
it is at, and the name and status of a finished test only where its result would be shown now;
the quick stage's results (shown while the training tests run) are filtered as a final result's.

The total is shown only when nothing of it is concealed; otherwise the student sees the points of
the tests shown so far and how many are not shown yet, never "all tests passed" over hidden ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

LEVELS = ("visible", "after_due_date", "after_published", "hidden")

# Gradescope's own names for the same levels (results.json `visibility` of a test)
GRADESCOPE = {"visible": "visible", "after_due_date": "after_due_date", "after_published": "after_published",
              "hidden": "hidden"}


def declared_level(test: dict) -> str:
    """A manifest test's level: its `visibility`, else visible for `visible = true`, else hidden;
    ValueError naming the levels for anything else."""
    level = test.get("visibility", "visible" if bool(test.get("visible", False)) else "hidden")
    if level not in LEVELS:
        raise ValueError(f"visibility must be one of {', '.join(LEVELS)}, not {level!r}")
    return level


def message_kept(level: str) -> bool:
    """Whether scoring keeps a test's assertion message: a hidden test's never reaches a student."""
    return level != "hidden"


@dataclass(frozen=True)
class Audience:
    staff: bool
    now: datetime
    due_at: datetime | None          # the student's own due date (an extension's, if any)
    published_at: datetime | None
    show_hidden_points: bool


def level_open(level: str, who: Audience) -> bool:
    if who.staff or level == "visible":
        return True
    if level == "after_due_date":
        return who.due_at is None or who.now >= who.due_at
    if level == "after_published":
        return who.published_at is not None and who.now >= who.published_at
    return False


def total_open(levels: dict[str, str], who: Audience) -> bool:
    """May `who` see the whole score? Not while a test waits for its date, nor, with hidden tests
    whose points are not shown, before grades are published."""
    if who.staff:
        return True
    pending = any(level in ("after_due_date", "after_published") and not level_open(level, who)
                  for level in levels.values())
    hidden = any(level == "hidden" for level in levels.values())
    return not pending and (not hidden or who.show_hidden_points or level_open("after_published", who))


def student_view(result: dict, levels: dict[str, str], who: Audience) -> dict:
    """The result as `who` may see it: the same keys as `grader run --json`, tests filtered, plus
    `concealed` (tests whose result is not shown yet, or hidden) and `score_complete`."""
    shown, concealed = tests_view(result.get("tests", []), levels, who)
    complete = total_open({t["name"]: levels.get(t["name"], "hidden") for t in result.get("tests", [])}, who)
    view = dict(result, tests=shown, concealed=concealed if not who.staff else 0, score_complete=complete)
    if not complete:
        counted = [t for t in shown if t["status"] != "pending"]
        view["score"] = sum(t["points"] for t in counted if not t.get("bonus"))
        view["bonus"] = sum(t["points"] for t in counted if t.get("bonus"))
        view["shown_max_score"] = sum(t["max_points"] for t in counted if not t.get("bonus"))
    return view


def tests_view(tests: list[dict], levels: dict[str, str], who: Audience) -> tuple[list[dict], int]:
    """(the tests `who` may see, each as shown; how many are concealed): a final result's tests
    and the quick stage's alike."""
    shown, concealed = [], 0
    for test in tests:
        level = levels.get(test["name"], "hidden")
        if level_open(level, who):
            shown.append(dict(test))
        elif level == "hidden":
            if who.show_hidden_points:
                shown.append(dict(test, message=None, note=None, seeds=None, hidden=True))
            else:
                concealed += 1
        else:
            concealed += 1
            shown.append({"name": test["name"], "description": test.get("description", ""), "status": "pending",
                          "points": None, "max_points": test["max_points"], "bonus": test.get("bonus", False),
                          "message": None, "note": None, "duration_s": 0.0,
                          "pending": "after the due date" if level == "after_due_date" else "when grades are published"})
    return shown, concealed


def progress_view(progress: dict | None, levels: dict[str, str], who: Audience) -> dict | None:
    """A running grading's progress ({index, total, name, status}, the worker's ProgressEvent) as
    `who` may see it: always where it stands, the last test's name and status only when that test's
    result would be shown to them now (a hidden test's with show_hidden_points, as in the result).
    Once the quick stage is done, `quick`: its results filtered as a final result's tests are
    (`tests_view`), `quick_concealed`, how many of them are not shown, and `training_running`."""
    if not progress:
        return None
    if who.staff:
        view = dict(progress)
    else:
        view = {"index": progress.get("index", 0), "total": progress.get("total", 0)}
        name = progress.get("name") or ""
        level = levels.get(name, "hidden")
        if name and (level_open(level, who) or (level == "hidden" and who.show_hidden_points)):
            view.update(name=name, status=progress.get("status", ""))
        if progress.get("quick"):
            view["quick"], view["quick_concealed"] = tests_view(progress["quick"], levels, who)
    if progress.get("quick"):       # what follows the quick stage: training tests, if the suite has any
        view["training_running"] = len(progress["quick"]) < progress.get("total", 0)
    return view
