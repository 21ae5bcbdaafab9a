"""Read-only queries the web pages and the API share (the writes stay in `repository`): a
student's exercises and attempts, a submission as a page shows it, the queue position, the
analytics of an exercise. Each returns plain data, detached from the session."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

from .models import Exercise, GradingRun, Submission, TestOutcome, User
from ..course_rules import Allowance, allowance, rules_for
from .course import extension_due, submission_times
from .gradebook import gradebook
from .models import utcnow
from .repository import latest_run

ACTIVE = ("received", "queued", "running")


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


def exercises(session: Session) -> list[ExerciseRow]:
    rows = session.scalars(select(Exercise).order_by(Exercise.due_at.is_(None), Exercise.due_at, Exercise.id))
    return [ExerciseRow(e.id, e.title, e.points, e.bonus_points, e.due_at, e.penalty_per_day, e.max_penalty,
                        e.closed_after_due, e.gpu, e.max_submissions, e.window_hours,
                        e.cooloff_minutes or 0.0, e.published_at, bool(e.show_hidden_points), list(e.tests or []))
            for e in rows]


@dataclass(frozen=True)
class SubmissionRow:
    id: int
    user: str
    exercise_id: str
    filename: str
    size: int
    status: str
    attempts: int
    received_at: datetime
    finished_at: datetime | None
    score: float | None
    max_score: float | None
    bonus: float | None


def _last_scored():
    return (select(GradingRun.submission_id, GradingRun.score, GradingRun.max_score, GradingRun.bonus,
                   func.row_number().over(partition_by=GradingRun.submission_id,
                                          order_by=GradingRun.attempt.desc()).label("rn"))
            .where(GradingRun.score.is_not(None)).subquery())


def submissions(session: Session, user_id: int | None = None, exercise_id: str | None = None,
                limit: int = 200) -> list[SubmissionRow]:
    """Newest first, with the score of each one's last scored run (graded ones only)."""
    last = _last_scored()
    query = (select(Submission, User.name, last.c.score, last.c.max_score, last.c.bonus)
             .join(User, User.id == Submission.user_id)
             .outerjoin(last, (last.c.submission_id == Submission.id) & (last.c.rn == 1))
             .order_by(Submission.received_at.desc(), Submission.id.desc()).limit(limit))
    if user_id is not None:
        query = query.where(Submission.user_id == user_id)
    if exercise_id is not None:
        query = query.where(Submission.exercise_id == exercise_id)
    out = []
    for s, name, score, max_score, bonus in session.execute(query):
        graded = s.status == "graded"
        out.append(SubmissionRow(s.id, name, s.exercise_id, s.filename, s.size, s.status, s.attempts,
                                 s.received_at, s.finished_at, score if graded else None,
                                 max_score if graded else None, bonus if graded else None))
    return out


@dataclass(frozen=True)
class Standing:
    """One exercise as a student sees it on the home page (scores after the late penalty)."""

    exercise: ExerciseRow
    due_at: datetime | None        # the student's own (an extension's, if any)
    best_submission: int | None
    best_score: float | None
    best_bonus: float | None
    penalty: float
    submissions: int
    active: int                    # submissions still being graded
    allowance: Allowance           # may they submit now; how many are left; when next


def standings(session: Session, user_id: int, policy: str | None = None) -> list[Standing]:
    rows = {r.exercise: r for r in gradebook(session, policy, roles=("student", "ta", "instructor"),
                                             user_ids=[user_id])}
    active = dict(session.execute(select(Submission.exercise_id, func.count())
                                  .where(Submission.user_id == user_id, Submission.status.in_(ACTIVE))
                                  .group_by(Submission.exercise_id)).all())
    role = session.scalar(select(User.role).where(User.id == user_id))
    now = utcnow()
    out = []
    for exercise in exercises(session):
        row = rows.get(exercise.id)
        extension = extension_due(session, user_id, exercise.id)
        rules = rules_for(exercise, extension)
        verdict = (allowance(rules, submission_times(session, user_id, exercise.id), now) if role == "student"
                   else Allowance(True, None, None, None))
        out.append(Standing(exercise, rules.due_at, row.submission_id if row else None, row.score if row else None,
                            row.bonus if row else None, row.penalty if row else 0.0, row.submissions if row else 0,
                            active.get(exercise.id, 0), verdict))
    return out


def queue_position(session: Session, submission: Submission) -> int | None:
    """How many submissions of the same queue were sent before this one and still wait (1: next)."""
    if submission.status not in ("received", "queued"):
        return None
    ahead = session.scalar(select(func.count()).select_from(Submission).join(Exercise)
                           .where(Submission.status.in_(("received", "queued")), Submission.id < submission.id,
                                  Exercise.gpu == submission.exercise.gpu))
    return int(ahead or 0) + 1


@dataclass(frozen=True)
class SubmissionDetail:
    id: int
    user: str
    user_id: int
    exercise_id: str
    exercise_title: str
    filename: str
    size: int
    sha256: str
    status: str
    attempts: int
    reason: str | None
    progress: dict | None
    queue_position: int | None
    received_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    result: dict | None         # the counting run's GradeResult (graded only)
    score: float | None
    max_score: float
    bonus: float | None
    device: str | None
    runs: list[dict]            # every attempt, for staff: backend, device, timings, operator errors


def submission_detail(session: Session, submission: Submission) -> SubmissionDetail:
    run = latest_run(session, submission)
    graded = submission.status == "graded" and run is not None and run.result is not None
    runs = [{"attempt": r.attempt, "backend": r.backend, "device": r.device, "started_at": r.started_at,
             "finished_at": r.finished_at, "duration_s": r.duration_s, "score": r.score, "max_score": r.max_score,
             "infrastructure": r.infrastructure, "error": r.error} for r in submission.runs]
    return SubmissionDetail(
        submission.id, submission.user.name, submission.user_id, submission.exercise_id, submission.exercise.title,
        submission.filename, submission.size, submission.sha256, submission.status, submission.attempts,
        submission.reason, submission.progress if submission.status == "running" else None,
        queue_position(session, submission), submission.received_at, submission.queued_at, submission.started_at,
        submission.finished_at, run.result if graded else None, run.score if graded else None,
        run.max_score if graded else submission.exercise.points, run.bonus if graded else None,
        run.device if graded else None, runs)


@dataclass(frozen=True)
class Analytics:
    exercise: ExerciseRow
    scores: list[float]                       # the counting score of each student with one
    histogram: list[tuple[str, int]]          # (bucket label, students)
    tests: list[tuple[str, int, int]]         # (test, passed, runs) over counting submissions
    failures: list[tuple[str, int]]           # (message, times) most common first
    per_day: list[tuple[str, int]]            # (YYYY-MM-DD, submissions)


def analytics(session: Session, exercise_id: str, policy: str | None = None, buckets: int = 10) -> Analytics:
    exercise = next(e for e in exercises(session) if e.id == exercise_id)
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
        last = (select(GradingRun.id, func.row_number().over(partition_by=GradingRun.submission_id,
                                                             order_by=GradingRun.attempt.desc()).label("rn"))
                .where(GradingRun.submission_id.in_(ids), GradingRun.score.is_not(None)).subquery())
        rows = session.execute(select(TestOutcome.name, func.count(),
                                      func.sum((TestOutcome.status == "passed").cast(Integer)))
                               .join(last, (last.c.id == TestOutcome.run_id) & (last.c.rn == 1))
                               .group_by(TestOutcome.name).order_by(TestOutcome.name))
        tests = [(name, int(passed or 0), int(n)) for name, n, passed in rows]
        for run in session.scalars(select(GradingRun).join(last, (last.c.id == GradingRun.id) & (last.c.rn == 1))):
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


def regrade_report(session: Session, since: datetime, exercise_id: str | None = None,
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
