"""Exercises in the database: synced from the manifests (the one reader of them is
`grader.manifest`), looked up by id, and listed as the pages show them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..errors import UnknownExercise
from .models import Exercise, utcnow

def sync_exercises(session: Session, config: Config) -> list[Exercise]:
    """Make the exercises table say what the manifests under config.exercises_dir say: title,
    points, bonus, limits, tests and their visibility, and, until an instructor edits them in the
    web app, the course rules (`manifest.CourseRules`). Exercises whose manifest is gone are kept:
    submissions refer to them."""
    from ..manifest import exercise_ids, load_exercise
    synced = []
    now = utcnow()
    for exercise_id in exercise_ids(config.exercises_dir):
        manifest = load_exercise(config.exercises_dir, exercise_id)
        row = session.get(Exercise, exercise_id) or Exercise(id=exercise_id)
        row.title = manifest.title
        row.points = sum(t.points for t in manifest.tests if not t.bonus)
        row.bonus_points = sum(t.points for t in manifest.tests if t.bonus)
        row.limits = {"test_timeout_s": manifest.test_timeout_s, "suite_timeout_s": manifest.suite_timeout_s,
                      "memory_mb": manifest.memory_mb, "cpu_threads": manifest.cpu_threads,
                      "gpu_memory_mb": manifest.gpu_memory_mb}
        row.gpu = manifest.gpu
        row.tests = [{"name": t.name, "description": t.description, "points": t.points, "bonus": t.bonus,
                      "visibility": t.visibility} for t in manifest.tests]
        if row.rules_edited_at is None:          # an instructor's edits in the web app win
            _sync_rules(row, manifest.course)
        row.synced_at = now
        session.add(row)
        synced.append(row)
    session.flush()
    return synced


def _sync_rules(row: Exercise, rules) -> None:
    """The manifest's course rules (`manifest.CourseRules`) onto the row."""
    from .course import EDITABLE            # the rules instructors edit are the manifest's
    for name in EDITABLE:
        setattr(row, name, getattr(rules, name))


def exercises_by_id(session: Session, ids) -> dict[str, Exercise]:
    """The exercises of these ids, in one query."""
    return {e.id: e for e in session.scalars(select(Exercise).where(Exercise.id.in_(list(ids))))}


def get_exercise(session: Session, exercise_id: str) -> Exercise:
    row = session.get(Exercise, exercise_id)
    if row is None:
        known = ", ".join(session.scalars(select(Exercise.id).order_by(Exercise.id))) or "none"
        raise UnknownExercise(f"unknown exercise {exercise_id!r} (known: {known})")
    return row


@dataclass(frozen=True)
class ExerciseRow:
    id: str
    title: str
    points: float
    bonus_points: float
    due_at: datetime | None
    penalty_per_day: float
    max_penalty: float
    closed_after_due: bool
    gpu: bool
    max_submissions: int | None
    window_hours: float | None
    cooloff_minutes: float
    published_at: datetime | None
    show_hidden_points: bool
    tests: list


def exercise_rows(session: Session) -> list[ExerciseRow]:
    rows = session.scalars(select(Exercise).order_by(Exercise.due_at.is_(None), Exercise.due_at, Exercise.id))
    return [ExerciseRow(e.id, e.title, e.points, e.bonus_points, e.due_at, e.penalty_per_day, e.max_penalty,
                        e.closed_after_due, e.gpu, e.max_submissions, e.window_hours,
                        e.cooloff_minutes or 0.0, e.published_at, bool(e.show_hidden_points), list(e.tests or []))
            for e in rows]
