"""The course's rules in the database: per-student extensions, instructors' edits of an
exercise's rules, publishing grades, the Canvas assignment an exercise's grades go to, and the
check that a new submission is allowed (run inside the transaction that stores it, with the
student's row locked, so two uploads at once cannot both take the last submission of a window)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..course_rules import Rules, check, counting_score, rules_for
from ..errors import UsageError
from .models import Exercise, Extension, Submission, User, utcnow
from .users import CANVAS_ID

# the largest limits an instructor can set: a window or cool-off longer than a year limits nothing,
# and the times computed from a far larger one leave the calendar
LARGEST = {"max_submissions": 100_000, "window_hours": 366 * 24, "cooloff_minutes": 366 * 24 * 60}
EDITABLE = ("due_at", "penalty_per_day", "max_penalty", "closed_after_due", "max_submissions", "window_hours",
            "cooloff_minutes", "show_hidden_points")


def extension_due(session: Session, user_id: int, exercise_id: str) -> datetime | None:
    return session.scalar(select(Extension.due_at).where(Extension.user_id == user_id,
                                                         Extension.exercise_id == exercise_id))


def student_rules(session: Session, user_id: int, exercise: Exercise) -> Rules:
    return rules_for(exercise, extension_due(session, user_id, exercise.id))


def submission_times(session: Session, user_id: int, exercise_id: str) -> list[datetime]:
    return list(session.scalars(select(Submission.received_at).where(Submission.user_id == user_id,
                                                                      Submission.exercise_id == exercise_id)))


def check_allowed(session: Session, user: User, exercise: Exercise, now: datetime) -> None:
    """Raise SubmissionRefused / TooManySubmissions for a student; staff are never limited."""
    if user.role != "student":
        return
    session.execute(select(User.id).where(User.id == user.id).with_for_update())   # one upload at a time
    check(student_rules(session, user.id, exercise), submission_times(session, user.id, exercise.id), now)


def set_extension(session: Session, user: User, exercise: Exercise, due_at: datetime | None) -> None:
    """A later due date for one student (None removes it)."""
    row = session.scalar(select(Extension).where(Extension.user_id == user.id, Extension.exercise_id == exercise.id))
    if due_at is None:
        if row is not None:
            session.delete(row)
    else:
        if due_at.tzinfo is None:
            raise UsageError("an extension's due date needs a time zone (UTC)")
        row = row or Extension(user_id=user.id, exercise_id=exercise.id)
        row.due_at = due_at
        session.add(row)
    session.flush()


def extensions(session: Session, exercise: Exercise) -> list[tuple[str, datetime]]:
    """(student name, due date) of the exercise's extensions, by name."""
    return [(name, due) for name, due in session.execute(
        select(User.name, Extension.due_at).join(User, User.id == Extension.user_id)
        .where(Extension.exercise_id == exercise.id).order_by(User.name))]


@dataclass(frozen=True)
class RulesEffect:
    """What an edit of the rules does to work already graded, counted before it is saved."""

    later: int              # graded submissions that become late, or more late
    earlier: int            # ... that become less late, or on time
    scores: int             # ... whose counting score changes (a zero score stays zero)
    students: int           # the students those belong to

    @property
    def changes(self) -> bool:
        return bool(self.later or self.earlier)


def rules_effect(session: Session, exercise: Exercise, **values) -> RulesEffect:
    """How the edit `values` (as `edit_rules` takes them) would change the late penalty of the
    exercise's graded submissions, each with its student's extension; nothing is written."""
    from .gradebook import scored_runs          # gradebook reads the rules from here
    check_values(values)
    new = SimpleNamespace(**{name: getattr(exercise, name) for name in EDITABLE} | values)
    runs = scored_runs()
    rows = session.execute(
        select(Submission.user_id, Submission.received_at, runs.c.score, runs.c.bonus, Extension.due_at)
        .join(runs, (runs.c.submission_id == Submission.id) & (runs.c.rn == 1))
        .outerjoin(Extension, (Extension.user_id == Submission.user_id) & (Extension.exercise_id == exercise.id))
        .where(Submission.exercise_id == exercise.id, Submission.status == "graded"))
    later = earlier = scores = 0
    students = set()
    for user_id, received_at, score, bonus, extension in rows:
        before = counting_score(rules_for(exercise, extension), received_at, score, bonus, None)
        after = counting_score(rules_for(new, extension), received_at, score, bonus, None)
        if after.penalty == before.penalty:
            continue
        later += after.penalty > before.penalty
        earlier += after.penalty < before.penalty
        scores += (before.score, before.bonus) != (after.score, after.bonus)
        students.add(user_id)
    return RulesEffect(later, earlier, scores, len(students))


def edit_rules(session: Session, exercise: Exercise, **values) -> None:
    """An instructor's edit: from then on the manifests no longer overwrite these fields."""
    check_values(values)
    for name, value in values.items():
        setattr(exercise, name, value)
    exercise.rules_edited_at = utcnow()
    session.flush()


def check_values(values: dict) -> None:
    """UsageError naming the first rule value an instructor cannot set."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise UsageError(f"not an exercise rule: {', '.join(sorted(unknown))}")
    for fraction in ("penalty_per_day", "max_penalty"):
        if fraction in values and not 0 <= values[fraction] <= 1:
            raise UsageError(f"{fraction} is a fraction of the score, from 0 to 1")
    for positive in ("max_submissions", "window_hours"):
        if values.get(positive) is not None and not values[positive] > 0:      # NaN too
            raise UsageError(f"{positive} must be above 0 (or empty for no limit)")
    if not (values.get("cooloff_minutes") or 0) >= 0:
        raise UsageError("cooloff_minutes cannot be negative")
    for name, largest in LARGEST.items():
        if values.get(name) is not None and values[name] > largest:
            raise UsageError(f"{name} can be at most {largest:,} (or empty for no limit)")


def set_canvas_assignment(session: Session, exercise: Exercise, assignment_id: str | None) -> None:
    """The Canvas assignment the exercise's column of the Canvas export fills (None or "": none, the
    export makes its own); a manifest sync never changes it. UsageError for what is not an id."""
    assignment_id = (assignment_id or "").strip() or None
    if assignment_id is not None and not CANVAS_ID.fullmatch(assignment_id):
        raise UsageError("A Canvas assignment id is the number in the assignment's address (…/assignments/1234), "
                         f"not {assignment_id[:40]!r}.")
    exercise.canvas_assignment_id = assignment_id
    session.flush()


def publish(session: Session, exercise: Exercise, published: bool = True) -> None:
    """Grades published: tests marked after_published show from now on (unpublish hides them again)."""
    exercise.published_at = utcnow() if published else None
    session.flush()
