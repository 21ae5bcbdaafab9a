"""What an exercise's gradings add up to, for staff: the analytics page (scores, pass rate per
test, common failures, submissions per day, grading times and queue waits; grader/web/charts.py
bins and draws them) and a regrade's progress and changed scores. Each returns plain data,
detached from the session."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

from ..environment import differences, same
from ..lifecycle import ACTIVE
from .exercises import ExerciseRow, exercise_rows
from .gradebook import gradebook, scored_runs
from .models import GradingRun, Submission, TestOutcome, User, utcnow

TIMING_DAYS = 7       # the window of the analytics page's grading times and queue waits


@dataclass(frozen=True)
class TestRate:
    __test__ = False      # not a pytest class

    name: str
    description: str      # the manifest's (else the result's) words for the test; "" when neither has any
    passed: int
    runs: int             # counting submissions whose last scored run has the test


@dataclass(frozen=True)
class Spread:
    """Median and 95th percentile of some seconds (None, None when there are none)."""

    count: int
    median_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class Timing:
    days: int             # the window: the last `days` days up to now
    grading: Spread       # duration of the graded runs that finished in the window
    queue_wait: Spread    # upload to the first attempt's start, of the first attempts started in it


@dataclass(frozen=True)
class Analytics:
    exercise: ExerciseRow
    scores: list[float]                       # the counting score of each student with one
    tests: list[TestRate]                     # in the manifest's order, then tests it no longer has
    failures: list[tuple[str, int]]           # (whole message, times) most common first
    per_day: list[tuple[str, int]]            # (YYYY-MM-DD in UTC, submissions), days with some
    timing: Timing | None = None


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks (numpy's
    default): [1, 2, 3, 4] has median 2.5 and 95th percentile 3.85."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: list[float]) -> Spread:
    return Spread(len(values), percentile(values, 50), percentile(values, 95))


def exercise_timing(session: Session, exercise_id: str, now: datetime | None = None,
                    days: int = TIMING_DAYS) -> Timing:
    """How long gradings of the exercise took and waited over the last `days` days. The wait is
    the first attempt's only: from the upload to its start, what a student waits before grading
    begins. A retry's or a regrade's enqueue time is not kept (queued_at is moved by the sweep
    and each retry), so theirs cannot be told from these columns."""
    since = (now or utcnow()) - timedelta(days=days)
    mine = GradingRun.submission_id == Submission.id
    durations = session.scalars(select(GradingRun.duration_s).join(Submission, mine)
                                .where(Submission.exercise_id == exercise_id, GradingRun.score.is_not(None),
                                       GradingRun.finished_at >= since))
    firsts = session.execute(select(Submission.received_at, GradingRun.started_at).join(Submission, mine)
                             .where(Submission.exercise_id == exercise_id, GradingRun.attempt == 1,
                                    GradingRun.started_at >= since))
    waits = [max(0.0, (started - received).total_seconds()) for received, started in firsts]
    return Timing(days, spread([float(d) for d in durations]), spread(waits))


def exercise_analytics(session: Session, exercise_id: str, policy: str | None = None) -> Analytics:
    exercise = next(e for e in exercise_rows(session) if e.id == exercise_id)
    counting = [r for r in gradebook(session, policy) if r.exercise == exercise_id and r.submission_id is not None]
    scores = [r.score for r in counting]
    ids = [r.submission_id for r in counting]
    tests: list[TestRate] = []
    failures: Counter = Counter()
    if ids:
        last = scored_runs()
        last_of_counting = (last.c.rn == 1) & last.c.submission_id.in_(ids)
        rows = session.execute(select(TestOutcome.name, func.count(),
                                      func.sum((TestOutcome.status == "passed").cast(Integer)))
                               .join(last, (last.c.id == TestOutcome.run_id) & last_of_counting)
                               .group_by(TestOutcome.name))
        counts = {name: (int(passed or 0), int(n)) for name, n, passed in rows}
        described: dict[str, str] = {}
        for run in session.scalars(select(GradingRun).join(last, (last.c.id == GradingRun.id) & last_of_counting)):
            for test in (run.result or {}).get("tests", []):
                described.setdefault(test.get("name"), test.get("description") or "")
                if test.get("status") != "passed":
                    failures[test.get("message") or f"{test.get('status')} (no message shown)"] += 1
        described |= {t["name"]: t.get("description") or described.get(t["name"], "") for t in exercise.tests}
        order = {t["name"]: k for k, t in enumerate(exercise.tests)}
        tests = [TestRate(name, described.get(name, ""), *counts[name])
                 for name in sorted(counts, key=lambda name: (order.get(name, len(order)), name))]
    received = Submission.received_at
    if session.get_bind().dialect.name == "postgresql":
        received = func.timezone("UTC", received)        # the UTC day, whatever the server's TimeZone
    day = func.date(received)
    per_day = session.execute(select(day, func.count()).where(Submission.exercise_id == exercise_id)
                              .group_by(day).order_by(day))
    return Analytics(exercise, scores, tests, failures.most_common(10),
                     [(str(day), int(n)) for day, n in per_day], exercise_timing(session, exercise_id))


@dataclass(frozen=True)
class RegradeReport:
    total: int                  # submissions sent again since `since`
    active: int                 # of them, still queued or running
    # (id, user, exercise, old, new, what changed in the environment: `environment.differences`,
    # None when one of the two results has no record)
    changed: list[tuple[int, str, str, float | None, float | None, list[str] | None]]
    unchanged: int
    not_graded: int             # ended failed or error this time
    other_environment: int = 0  # graded this time under another environment than the score before


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
    changed, unchanged, not_graded, active, other_environment = [], 0, 0, 0, 0
    for sid, name, exercise, status in rows:
        if status in ACTIVE:
            active += 1
            continue
        if status != "graded":
            not_graded += 1
            continue
        before = [r for r in runs.get(sid, []) if r.started_at < since and r.score is not None]
        after = [r for r in runs.get(sid, []) if r.started_at >= since and r.score is not None]
        old, new = (before[-1].score if before else None), (after[-1].score if after else None)
        environments = [(kept[-1].result or {}).get("environment") if kept else None for kept in (before, after)]
        known = same(*environments)          # None: a result from before environments were recorded
        moved = None if known is None else differences(*environments)
        other_environment += bool(moved)
        if old == new:
            unchanged += 1
        else:
            changed.append((sid, name, exercise, old, new, moved))
    return RegradeReport(len(rows), active, changed, unchanged, not_graded, other_environment)
