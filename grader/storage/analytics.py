"""What an exercise's gradings add up to, for staff: the analytics page (score histogram, pass
rate per test, common failures, submissions per day) and a regrade's progress and changed scores.
Each returns plain data, detached from the session."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

from ..lifecycle import ACTIVE
from .exercises import ExerciseRow, exercise_rows
from .gradebook import gradebook, scored_runs
from .models import GradingRun, Submission, TestOutcome, User


@dataclass(frozen=True)
class Analytics:
    exercise: ExerciseRow
    scores: list[float]                       # the counting score of each student with one
    histogram: list[tuple[str, int]]          # (bucket label, students)
    tests: list[tuple[str, int, int]]         # (test, passed, runs) over counting submissions
    failures: list[tuple[str, int]]           # (message, times) most common first
    per_day: list[tuple[str, int]]            # (YYYY-MM-DD, submissions)


def exercise_analytics(session: Session, exercise_id: str, policy: str | None = None, buckets: int = 10) -> Analytics:
    exercise = next(e for e in exercise_rows(session) if e.id == exercise_id)
    counting = [r for r in gradebook(session, policy) if r.exercise == exercise_id and r.submission_id is not None]
    scores = [r.score for r in counting]
    top = exercise.points or 1.0
    histogram = []
    for k in range(buckets):
        low, high = top * k / buckets, top * (k + 1) / buckets
        n = sum(1 for s in scores if low <= s < high or (k == buckets - 1 and s >= high))
        histogram.append((f"{low:g}-{high:g}", n))
    ids = [r.submission_id for r in counting]
    tests: list[tuple[str, int, int]] = []
    failures: Counter = Counter()
    if ids:
        last = scored_runs()
        last_of_counting = (last.c.rn == 1) & last.c.submission_id.in_(ids)
        rows = session.execute(select(TestOutcome.name, func.count(),
                                      func.sum((TestOutcome.status == "passed").cast(Integer)))
                               .join(last, (last.c.id == TestOutcome.run_id) & last_of_counting)
                               .group_by(TestOutcome.name).order_by(TestOutcome.name))
        tests = [(name, int(passed or 0), int(n)) for name, n, passed in rows]
        for run in session.scalars(select(GradingRun).join(last, (last.c.id == GradingRun.id) & last_of_counting)):
            for test in (run.result or {}).get("tests", []):
                if test.get("status") != "passed":
                    failures[(test.get("message") or f"{test.get('status')} (no message shown)")[:200]] += 1
    per_day = session.execute(select(func.date(Submission.received_at), func.count())
                              .where(Submission.exercise_id == exercise_id)
                              .group_by(func.date(Submission.received_at)).order_by(func.date(Submission.received_at)))
    return Analytics(exercise, scores, histogram, tests, failures.most_common(10),
                     [(str(day), int(n)) for day, n in per_day])


@dataclass(frozen=True)
class RegradeReport:
    total: int                  # submissions sent again since `since`
    active: int                 # of them, still queued or running
    changed: list[tuple[int, str, str, float | None, float | None]]   # (id, user, exercise, old, new)
    unchanged: int
    not_graded: int             # ended failed or error this time


def regrade_changes(session: Session, since: datetime, exercise_id: str | None = None,
                   user_id: int | None = None, submission_id: int | None = None) -> RegradeReport:
    """How a regrade started at `since` is going, and which scores it changed (old -> new: the
    last scored run before `since` against the one after)."""
    query = (select(Submission.id, User.name, Submission.exercise_id, Submission.status)
             .join(User, User.id == Submission.user_id).where(Submission.queued_at >= since)
             .order_by(Submission.id))
    if exercise_id is not None:
        query = query.where(Submission.exercise_id == exercise_id)
    if user_id is not None:
        query = query.where(Submission.user_id == user_id)
    if submission_id is not None:
        query = query.where(Submission.id == submission_id)
    rows = session.execute(query).all()
    ids = [r.id for r in rows]
    runs: dict[int, list] = {}
    for run in session.scalars(select(GradingRun).where(GradingRun.submission_id.in_(ids))
                               .order_by(GradingRun.attempt)):
        runs.setdefault(run.submission_id, []).append(run)
    changed, unchanged, not_graded, active = [], 0, 0, 0
    for sid, name, exercise, status in rows:
        if status in ACTIVE:
            active += 1
            continue
        if status != "graded":
            not_graded += 1
            continue
        before = [r.score for r in runs.get(sid, []) if r.started_at < since and r.score is not None]
        after = [r.score for r in runs.get(sid, []) if r.started_at >= since and r.score is not None]
        old, new = (before[-1] if before else None), (after[-1] if after else None)
        if old == new:
            unchanged += 1
        else:
            changed.append((sid, name, exercise, old, new))
    return RegradeReport(len(rows), active, changed, unchanged, not_graded)
