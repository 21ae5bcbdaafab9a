"""Our `GradeResult` as a Gradescope autograder `results.json` object (pure data, no I/O).

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): a top-level
`score` (which, when given, overrides the sum of the tests' scores), `execution_time` in seconds,
`output` for the whole submission, `visibility`, `stdout_visibility`, and `tests`, each with
`score`, `max_score`, `status` ("passed"/"failed"), `name`, `number`, `output`, `visibility`.

Mapping:
- one Gradescope test per test of ours, main tests first, then bonus tests named "... (bonus)",
  numbered "1", "2", ... in that order; a test's `output` is its description, then its message when
  the manifest lets the student see it (`message` is already None otherwise);
- Gradescope has no separate bonus: the top-level `score` is given explicitly as main score + bonus,
  so bonus points count on top of the assignment's points (set those to `max_score`);
- cells that were not run (skipped, raised while loading) go into the top-level `output`;
- each test's `visibility` is its level (`grader.visibility`), under Gradescope's own name:
  hidden tests are never shown to the student, after_due_date / after_published ones from then on
  (a hidden test's message is already left out of the result). Gradescope counts every test's
  points in the total it shows; run_autograder's stdout (the grader's progress on stderr) stays
  hidden: it is for instructors.
"""
from __future__ import annotations

from .results import GradeResult, TestResult, code_notes
from .visibility import GRADESCOPE

# Our statuses are passed/failed/error/timeout; Gradescope knows passed/failed, so say which.
STATUS_NOTES = {"error": "(the test could not complete: error)", "timeout": "(the test ran out of time)"}


def _test_output(test: TestResult) -> str:
    parts = [test.description]
    if test.status in STATUS_NOTES:
        parts.append(STATUS_NOTES[test.status])
    if test.message:
        parts.append(test.message)
    if test.note:
        parts.append("\n".join(f"Note: {line}" for line in test.note.splitlines()))
    return "\n\n".join(p for p in parts if p)


def _summary(result: GradeResult) -> str:
    lines = [f"{result.exercise}: {result.score:g} / {result.max_score:g} points"
             + (f", bonus {result.bonus:g} / {result.bonus_max:g}" if result.bonus_max else "")]
    notes = code_notes(result.to_dict())
    if result.skipped_cells or result.load_errors:
        lines += ["", "Some of your code did not run; tests that need it fail:"]
    lines += [f"- {text}" for kind, text in notes if kind != "not_run"]
    for kind, text in notes:
        if kind == "not_run":
            lines += ["", text]
    return "\n".join(lines)


def to_gradescope(result: GradeResult) -> dict:
    ordered = [t for t in result.tests if not t.bonus] + [t for t in result.tests if t.bonus]
    tests = [{
        "score": float(t.points),
        "max_score": float(t.max_points),
        "status": "passed" if t.status == "passed" else "failed",
        "name": t.name + (" (bonus)" if t.bonus else ""),
        "number": str(number),
        "output": _test_output(t),
        "visibility": GRADESCOPE[t.visibility],
    } for number, t in enumerate(ordered, start=1)]
    return {
        "score": float(result.score + result.bonus),
        "execution_time": int(round(result.duration_s)),
        "output": _summary(result),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
