"""The gradebook: every student x every exercise, the counting submission and its score after
the late penalty (extensions move the due date). The CLI's export, the web's gradebook, the
students' home page (`standings`) and the LMS passback all read it here.

One query fetches every graded submission with the score of its last scored run; the choice of
the counting one happens here, after penalties: under `best`, an on-time 15 beats a late 20
that a 50 % penalty makes 10.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..course_rules import Allowance, allowance, counting_score, rules_for
from ..errors import UsageError
from ..lifecycle import ACTIVE
from .course import extension_due, submission_times
from .exercises import ExerciseRow, exercise_rows
from .models import CourseSettings, Exercise, Extension, GradingRun, Submission, User, utcnow

POLICIES = ("best", "latest")


@dataclass(frozen=True)
class GradebookRow:
    """One student x one exercise: the counting submission's score, or None when none is graded."""

    user: str
    section: str | None
    exercise: str
    submission_id: int | None
    score: float | None          # after the late penalty
    max_score: float | None
    bonus: float | None          # after the late penalty
    received_at: datetime | None
    submissions: int             # all of the student's submissions for the exercise, any status
    raw_score: float | None = None
    penalty: float = 0.0         # the fraction taken off (0: on time)
    raw_bonus: float | None = None


def scored_runs():
    """Every scored run (a setup problem's run has no score), `rn` 1 for each submission's last:
    the score a submission has, for the gradebook, the lists of submissions and the analytics."""
    return (select(GradingRun.id, GradingRun.submission_id, GradingRun.score, GradingRun.max_score,
                   GradingRun.bonus, func.row_number().over(partition_by=GradingRun.submission_id,
                                                            order_by=GradingRun.attempt.desc()).label("rn"))
            .where(GradingRun.score.is_not(None)).subquery())


def counting(session: Session, user_id: int, exercise_id: str) -> GradebookRow:
    """The one gradebook cell of a user (any role) and an exercise: what the LMS is sent."""
    (row,) = gradebook(session, None, roles=("student", "ta", "instructor"), user_ids=[user_id],
                       exercise_ids=[exercise_id])
    return row


def course_policy(session: Session) -> str:
    settings = session.get(CourseSettings, 1)
    return settings.gradebook_policy if settings else "best"


def set_course_policy(session: Session, policy: str) -> None:
    if policy not in POLICIES:
        raise UsageError(f"gradebook policy {policy!r} is not one of {', '.join(POLICIES)}")
    settings = session.get(CourseSettings, 1) or CourseSettings(id=1)
    settings.gradebook_policy = policy
    session.add(settings)
    session.flush()


def gradebook(session: Session, policy: str | None = None, roles: tuple[str, ...] = ("student",),
              user_ids: Iterable[int] | None = None, exercise_ids: Iterable[str] | None = None) -> list[GradebookRow]:
    """Rows ordered by user name then exercise id (of those users and exercises, when given);
    `policy` None: the course's setting. The same few queries however many rows."""
    policy = policy or course_policy(session)
    if policy not in POLICIES:
        raise UsageError(f"gradebook policy {policy!r} is not one of {', '.join(POLICIES)}")
    users_q = select(User.id, User.name, User.section).where(User.role.in_(roles)).order_by(User.name)
    if user_ids is not None:
        users_q = users_q.where(User.id.in_(list(user_ids)))
    users = session.execute(users_q).all()
    ids = [u.id for u in users]
    exercises_q = select(Exercise).order_by(Exercise.id)
    if exercise_ids is not None:
        exercises_q = exercises_q.where(Exercise.id.in_(list(exercise_ids)))
    exercises = list(session.scalars(exercises_q))
    extensions = {(e.user_id, e.exercise_id): e.due_at
                  for e in session.scalars(select(Extension).where(Extension.user_id.in_(ids)))}
    last = scored_runs()
    graded = session.execute(
        select(Submission.user_id, Submission.exercise_id, Submission.id, Submission.received_at,
               last.c.score, last.c.max_score, last.c.bonus)
        .join(last, (last.c.submission_id == Submission.id) & (last.c.rn == 1))
        .where(Submission.status == "graded", Submission.user_id.in_(ids),
               Submission.exercise_id.in_([e.id for e in exercises]))).all()
    counts = dict(((u, e), n) for u, e, n in session.execute(
        select(Submission.user_id, Submission.exercise_id, func.count())
        .where(Submission.user_id.in_(ids)).group_by(Submission.user_id, Submission.exercise_id)))
    by_id = {e.id: e for e in exercises}

    def rank(c):        # best: score + bonus after penalty; latest: received; the later wins a tie
        return (c[0] + c[1], c[2], c[3]) if policy == "best" else (c[2], c[3])
    rules = {}
    best: dict[tuple[int, str], tuple] = {}
    for user_id, exercise_id, sid, received, score, max_score, bonus in graded:
        key = (user_id, exercise_id)
        if key not in rules:
            rules[key] = rules_for(by_id[exercise_id], extensions.get(key))
        counted = counting_score(rules[key], received, score, bonus, max_score)
        candidate = (counted.score, counted.bonus, received, sid, counted)
        current = best.get(key)
        if current is None or rank(candidate) > rank(current):
            best[key] = candidate
    rows = []
    for user in users:
        for exercise in exercises:
            key = (user.id, exercise.id)
            n = int(counts.get(key, 0))
            chosen = best.get(key)
            if chosen is None:
                rows.append(GradebookRow(user.name, user.section, exercise.id, None, None, None, None, None, n))
            else:
                score, bonus, received, sid, counted = chosen
                rows.append(GradebookRow(user.name, user.section, exercise.id, sid, score, counted.max_score, bonus,
                                         received, n, counted.raw_score, counted.penalty, counted.raw_bonus))
    return rows


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
    counting: GradebookRow | None = None   # the counting submission's cell (raw score, penalty), if graded


def standings(session: Session, user_id: int, policy: str | None = None) -> list[Standing]:
    rows = {r.exercise: r for r in gradebook(session, policy, roles=("student", "ta", "instructor"),
                                             user_ids=[user_id])}
    active = dict(session.execute(select(Submission.exercise_id, func.count())
                                  .where(Submission.user_id == user_id, Submission.status.in_(ACTIVE))
                                  .group_by(Submission.exercise_id)).all())
    role = session.scalar(select(User.role).where(User.id == user_id))
    now = utcnow()
    out = []
    for exercise in exercise_rows(session):
        row = rows.get(exercise.id)
        extension = extension_due(session, user_id, exercise.id)
        rules = rules_for(exercise, extension)
        verdict = (allowance(rules, submission_times(session, user_id, exercise.id), now) if role == "student"
                   else Allowance(True, None, None, None))
        out.append(Standing(exercise, rules.due_at, row.submission_id if row else None, row.score if row else None,
                            row.bonus if row else None, row.penalty if row else 0.0, row.submissions if row else 0,
                            active.get(exercise.id, 0), verdict,
                            row if row and row.submission_id is not None else None))
    return out
