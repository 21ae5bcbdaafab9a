"""Scoring: manifest + suite outcomes + ingestion notes -> the one `GradeResult`.

Each test's result carries its visibility level; its assertion message and the suite's notes are
kept when the level may ever show them (`visibility.message_kept`), the harness's own sentences
about the student's code (crash, timeout, exception) and a passed test's notes always.
Descriptions are always kept. A threshold test's seeds and figures are kept for staff whatever
its level (a hidden test's never reach a student: `visibility.student_view` drops them).
"""
from __future__ import annotations

from .environment import record as environment_record
from .manifest import Exercise, TestSpec
from .results import CellError, GradeResult, Outcome, SkippedCell, SuiteRun, TestResult
from .visibility import message_kept


def result_of(spec: TestSpec, outcome: Outcome | None) -> TestResult:
    """One test's result from its outcome (None: it did not run): the final result's and the quick
    stage's (`ProgressEvent` "stage"), so both say the same."""
    outcome = outcome or Outcome("error", "this test did not run", True)
    kept = outcome.always_visible or message_kept(spec.visibility)
    message, note = (outcome.message, outcome.note) if kept else (None, None)
    return TestResult(
        name=spec.name, description=spec.description, status=outcome.status,
        points=spec.points if outcome.status == "passed" else 0.0, max_points=spec.points,
        bonus=spec.bonus, message=message, duration_s=round(outcome.duration_s, 3),
        visibility=spec.visibility, note=note, seeds=outcome.seeds)


def score(exercise: Exercise, run: SuiteRun, skipped_cells: list[SkippedCell], not_run: int,
          sandbox: dict, duration_s: float) -> GradeResult:
    tests = [result_of(spec, run.outcomes.get(spec.name)) for spec in exercise.tests]
    main = [t for t in tests if not t.bonus]
    extra = [t for t in tests if t.bonus]
    return GradeResult(
        exercise=exercise.id,
        score=sum(t.points for t in main), max_score=sum(t.max_points for t in main),
        bonus=sum(t.points for t in extra), bonus_max=sum(t.max_points for t in extra),
        tests=tests, skipped_cells=list(skipped_cells),
        load_errors=[CellError(cell=c, line=line, message=m) for c, line, m in run.load_errors],
        not_run=not_run, duration_s=round(duration_s, 3), suite_duration_s=round(run.suite_time_s, 3),
        sandbox=dict(sandbox, device=run.device or sandbox.get("device", "cpu")), output=run.output[:4000],
        environment=environment_record(run.environment, run.device))
