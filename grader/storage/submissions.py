"""Submissions and their grading runs: storing one (its file content-addressed), its status
moves (each one conditional UPDATE, as `grader.lifecycle` allows), the runs of its attempts, the
queue's bookkeeping, and a submission as the pages show it. Errors are those of `grader.errors`
(UnknownSubmission, InvalidTransition, ...)."""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import Config
from ..course_rules import Score, counting_score, rules_for
from ..errors import InvalidTransition, UnknownSubmission
from ..lifecycle import ACTIVE, FINAL, State, infrastructure_streak, sources_of
from ..queue_order import Waiting, may_send, position
from ..results import GradeResult
from .course import extension_due
from .exercises import get_exercise
from .files import FileStore, sha256
from .gradebook import scored_runs
from .models import Exercise, Extension, GradingRun, Submission, TestOutcome, User, utcnow
from .users import get_user

def create_submission(session: Session, config: Config, user: User | str, exercise_id: str, filename: str,
                      data: bytes, enforce_rules: bool = False) -> Submission:
    """Store the file (content-addressed, once) and write its submission row, status received.
    The caller checked the upload (`ingest.validate_upload`); its content is read when it is
    graded. `enforce_rules`: the course's rules for a student (closed, limits, cool-off) are
    checked in this transaction (SubmissionRefused); the operator's CLI stores without them."""
    user = get_user(session, user)
    exercise = get_exercise(session, exercise_id)
    if enforce_rules:
        from .course import check_allowed
        check_allowed(session, user, exercise, utcnow())
    filename = PurePath(filename.replace("\\", "/")).name[-255:]
    sha = FileStore(config.storage_dir).put(data)
    submission = Submission(user_id=user.id, exercise_id=exercise.id, filename=filename, sha256=sha,
                            size=len(data), status="received", attempts=0)
    session.add(submission)
    session.flush()
    return submission


def store_once(session: Session, config: Config, user: User | str, exercise_id: str, filename: str,
               data: bytes, repeat_since: datetime, enforce_rules: bool = False,
               sha: str | None = None) -> tuple[Submission, bool]:
    """`create_submission`, unless the user sent these bytes to this exercise since `repeat_since`
    (a double click, a retried request): then that submission, and True. The user's row is
    locked first (an UPDATE: a write lock on SQLite too), so of two requests at once the second
    waits for the first and finds its submission. The repeat is looked for before the rules, so
    a double click on the last allowed submission answers that one, not "none left"."""
    user = get_user(session, user)
    exercise = get_exercise(session, exercise_id)
    session.execute(update(User).where(User.id == user.id).values(id=User.id)
                    .execution_options(synchronize_session=False))
    earlier = recent_repeat(session, user.id, exercise.id, sha or sha256(data), repeat_since)
    if earlier is not None:
        return earlier, True
    return create_submission(session, config, user, exercise.id, filename, data, enforce_rules), False


def recent_repeat(session: Session, user_id: int, exercise_id: str, sha: str, since: datetime) -> Submission | None:
    """The newest submission of the bytes with this sha256 by this user to this exercise, received
    after `since`; None if there is none."""
    return session.scalar(select(Submission).where(Submission.user_id == user_id,
                                                   Submission.exercise_id == exercise_id,
                                                   Submission.sha256 == sha, Submission.received_at > since)
                          .order_by(Submission.id.desc()).limit(1))


def submission_data(config: Config, submission: Submission) -> bytes:
    """The submitted bytes, from the file store (checked against the row's sha256)."""
    return FileStore(config.storage_dir).get(submission.sha256)


def get_submission(session: Session, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise UnknownSubmission(f"no submission {submission_id}")
    return submission


def mark_status(session: Session, submission: Submission, new_status: str, reason: str | None = None) -> Submission:
    """Move the submission forward (lifecycle.TRANSITIONS) in one conditional UPDATE, so two workers
    cannot both take it; anything else raises InvalidTransition. running counts an attempt; the
    final statuses record finished_at and the reason shown to the student."""
    try:
        sources = sources_of(new_status)
    except ValueError as e:
        raise InvalidTransition(str(e)) from None
    now = utcnow()
    values: dict = {"status": new_status}
    if new_status == "queued":
        values["queued_at"] = now
    elif new_status == "running":
        values["started_at"] = now                 # the attempt's start (the queue's retries move it)
        values["attempts"] = Submission.attempts + 1
        values["progress"] = None
    elif new_status in FINAL:
        values["finished_at"] = now
        values["reason"] = reason
        values["progress"] = None                  # the quick stage's results give way to the final ones
    session.flush()
    changed = session.execute(update(Submission).where(Submission.id == submission.id, Submission.status.in_(sources))
                              .values(**values).execution_options(synchronize_session=False)).rowcount
    session.refresh(submission)
    if changed != 1:
        raise InvalidTransition(f"submission {submission.id} cannot move from {submission.status} to {new_status}")
    return submission


def record_run(session: Session, submission: Submission, result: GradeResult | dict | None, *, backend: str,
               attempt: int | None = None, device: str | None = None, started_at: datetime | None = None,
               finished_at: datetime | None = None, error: str | None = None,
               infrastructure: bool = False) -> GradingRun:
    """Write one grading attempt of a running submission: the whole result as JSON, its score
    columns, and one TestOutcome per test. A setup problem is recorded with result None and
    infrastructure=True (never a score); `error` is for operators. Earlier attempts stay."""
    if isinstance(result, dict):
        result = GradeResult.from_dict(result)
    session.flush()
    session.refresh(submission)
    attempt = attempt if attempt is not None else max(submission.attempts, 1)
    if submission.status != "running":
        raise InvalidTransition(f"submission {submission.id} is {submission.status}, not running: "
                                "a grading run cannot be recorded")
    if session.scalar(select(GradingRun.id).where(GradingRun.submission_id == submission.id,
                                                  GradingRun.attempt == attempt)) is not None:
        raise InvalidTransition(f"attempt {attempt} of submission {submission.id} is recorded already")
    finished_at = finished_at or utcnow()
    if started_at is None:
        started_at = finished_at - timedelta(seconds=result.duration_s if result is not None else 0.0)
    duration = (finished_at - started_at).total_seconds()
    run = GradingRun(submission_id=submission.id, attempt=attempt, backend=backend,
                     device=device or (result.sandbox.get("device") if result is not None else None),
                     started_at=started_at, finished_at=finished_at, duration_s=duration,
                     result=result.to_dict() if result is not None else None,
                     score=result.score if result is not None else None,
                     max_score=result.max_score if result is not None else None,
                     bonus=result.bonus if result is not None else None,
                     error=error, infrastructure=infrastructure)
    if result is not None:
        run.cpu_s, run.gpu_s, run.gpu_peak_mb = result.usage.cpu_s, result.usage.gpu_s, result.usage.gpu_peak_mb
        run.tests = [TestOutcome(name=t.name, status=t.status, points=t.points, max_points=t.max_points,
                                 bonus=t.bonus) for t in result.tests]
    session.add(run)
    session.flush()
    return run


# ---------------------------------------------------------------- the queue's bookkeeping


def touch_dispatched(session: Session, submission: Submission, expected: datetime | None = None,
                     statuses: tuple[str, ...] = ("queued", "running")) -> bool:
    """Record that the submission was handed to the queue or taken by a worker now (queued_at),
    in one conditional UPDATE: with `expected`, only if nobody touched it since (two sweeps never
    both re-send). False when another process won, or the status is no longer one of `statuses`."""
    session.flush()
    where = [Submission.id == submission.id, Submission.status.in_(statuses)]
    if expected is not None:
        where.append(Submission.queued_at == expected)
    changed = session.execute(update(Submission).where(*where).values(queued_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    session.refresh(submission)
    return changed == 1


def requeue_for_regrade(session: Session, submission: Submission) -> Submission:
    """The one backward move: a final submission (graded, failed, error) goes back to queued for
    a new attempt (an instructor's regrade), as bulk work (behind first gradings). Its runs stay;
    finished_at and reason are cleared. A submission that is not final is left alone (it will be
    graded anyway): InvalidTransition."""
    session.flush()
    changed = session.execute(update(Submission).where(Submission.id == submission.id,
                                                       Submission.status.in_(FINAL))
                              .values(status="queued", queued_at=utcnow(), finished_at=None, reason=None,
                                      bulk=True)
                              .execution_options(synchronize_session=False)).rowcount
    session.refresh(submission)
    if changed != 1:
        raise InvalidTransition(f"submission {submission.id} is {submission.status}: only a graded, failed "
                                "or error submission can be regraded")
    return submission


def set_progress(session: Session, submission_id: int, attempt: int, progress: dict | None) -> bool:
    """The running attempt's progress, only while that attempt runs (a late write of a superseded
    attempt changes nothing)."""
    changed = session.execute(update(Submission).where(Submission.id == submission_id, Submission.status == "running",
                                                       Submission.attempts == attempt)
                              .values(progress=progress).execution_options(synchronize_session=False)).rowcount
    return changed == 1


def take_gpu_alone(session: Session, submission: Submission) -> None:
    """The next attempt runs with the GPU to itself (once: the flag is never cleared)."""
    session.flush()
    session.execute(update(Submission).where(Submission.id == submission.id).values(gpu_alone=True)
                    .execution_options(synchronize_session=False))
    session.refresh(submission)


def lifecycle_state(session: Session, submission: Submission) -> State:
    """The submission as `grader.lifecycle`'s decisions read it."""
    runs = recorded_attempts(session, submission)
    return State(submission.status, submission.attempts, frozenset(r.attempt for r in runs),
                 infrastructure_streak(r.infrastructure for r in runs), submission.queued_at, submission.started_at)


def recorded_attempts(session: Session, submission: Submission) -> list[GradingRun]:
    """The submission's runs, oldest attempt first."""
    return list(session.scalars(select(GradingRun).where(GradingRun.submission_id == submission.id)
                                .order_by(GradingRun.attempt)))


def latest_run(session: Session, submission: Submission) -> GradingRun | None:
    return session.scalar(select(GradingRun).where(GradingRun.submission_id == submission.id)
                          .order_by(GradingRun.attempt.desc()).limit(1))


def submissions_in(session: Session, statuses: Iterable[str], ids: Iterable[int] | None = None,
                   exercise_id: str | None = None) -> list[Submission]:
    """Submissions with one of `statuses` (optionally only these ids / this exercise), oldest first."""
    query = select(Submission).where(Submission.status.in_(list(statuses)))
    if ids is not None:
        query = query.where(Submission.id.in_(list(ids)))
    if exercise_id is not None:
        query = query.where(Submission.exercise_id == exercise_id)
    return list(session.scalars(query.order_by(Submission.id)))


def begin_retry(session: Session, submission: Submission, attempt: int) -> bool:
    """A retry after a setup problem: running with attempts == attempt - 1 becomes attempt, its
    start now. One conditional UPDATE: of two messages for the same retry, one wins (True)."""
    session.flush()
    changed = session.execute(update(Submission).where(Submission.id == submission.id, Submission.status == "running",
                                                       Submission.attempts == attempt - 1)
                              .values(attempts=attempt, started_at=utcnow(), progress=None)
                              .execution_options(synchronize_session=False)).rowcount
    session.refresh(submission)
    return changed == 1


def restart_attempt(session: Session, submission: Submission, attempt: int, started_before: datetime) -> bool:
    """The same attempt again, after its worker died (its start is older than `started_before`,
    past the queue's hard time limit): one conditional UPDATE, so only one taker wins (True)."""
    session.flush()
    changed = session.execute(update(Submission).where(Submission.id == submission.id, Submission.status == "running",
                                                       Submission.attempts == attempt,
                                                       Submission.started_at < started_before)
                              .values(started_at=utcnow(), progress=None)
                              .execution_options(synchronize_session=False)).rowcount
    session.refresh(submission)
    return changed == 1


USUAL_RUNS = 20      # how many of an exercise's recent graded runs say how long a grading takes


def usual_duration_s(session: Session, exercise_id: str, last: int = USUAL_RUNS) -> float | None:
    """The median duration of the exercise's `last` graded runs (newest first by finish; runs with
    a score, never infrastructure ones): what "about N s left" counts from. None without any."""
    durations = list(session.scalars(
        select(GradingRun.duration_s).join(Submission, Submission.id == GradingRun.submission_id)
        .where(Submission.exercise_id == exercise_id, GradingRun.score.is_not(None),
               GradingRun.infrastructure.is_(False), GradingRun.duration_s.is_not(None))
        .order_by(GradingRun.finished_at.desc(), GradingRun.id.desc()).limit(last)))
    return statistics.median(durations) if durations else None


# ---------------------------------------------------------------- as the pages show them


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
    score: float | None          # after the late penalty (graded ones only)
    max_score: float | None
    bonus: float | None          # after the late penalty
    raw_score: float | None = None
    raw_bonus: float | None = None
    penalty: float = 0.0         # the fraction taken off (0: on time)


def _scored(rules, received_at: datetime, score: float | None, bonus: float | None,
            max_score: float | None) -> Score | None:
    return None if score is None else counting_score(rules, received_at, score, bonus, max_score)


def submission_rows(session: Session, user_id: int | None = None, exercise_id: str | None = None,
                limit: int = 200) -> list[SubmissionRow]:
    """Newest first, with the score of each one's last scored run (graded ones only) as it counts:
    after the late penalty of the student's own due date (one query: the exercise's rules and the
    extension come joined)."""
    last = scored_runs()
    query = (select(Submission, User.name, last.c.score, last.c.max_score, last.c.bonus, Exercise, Extension.due_at)
             .join(User, User.id == Submission.user_id)
             .join(Exercise, Exercise.id == Submission.exercise_id)
             .outerjoin(Extension, (Extension.user_id == Submission.user_id)
                        & (Extension.exercise_id == Submission.exercise_id))
             .outerjoin(last, (last.c.submission_id == Submission.id) & (last.c.rn == 1))
             .order_by(Submission.received_at.desc(), Submission.id.desc()).limit(limit))
    if user_id is not None:
        query = query.where(Submission.user_id == user_id)
    if exercise_id is not None:
        query = query.where(Submission.exercise_id == exercise_id)
    out = []
    for s, name, score, max_score, bonus, exercise, extension in session.execute(query):
        counted = _scored(rules_for(exercise, extension), s.received_at, score, bonus, max_score) \
            if s.status == "graded" else None
        out.append(SubmissionRow(s.id, name, s.exercise_id, s.filename, s.size, s.status, s.attempts,
                                 s.received_at, s.finished_at, *_columns(counted)))
    return out


def _columns(counted: Score | None) -> tuple:
    """(score, max_score, bonus, raw_score, raw_bonus, penalty) of a row: Nones when not graded."""
    if counted is None:
        return None, None, None, None, None, 0.0
    return (counted.score, counted.max_score, counted.bonus, counted.raw_score, counted.raw_bonus,
            counted.penalty)


def waiting(session: Session, user_ids: Iterable[int] | None = None, gpu: bool | None = None) -> list[Waiting]:
    """The submissions on their way (received, queued, running) as `grader.queue_order` reads
    them, in one query: all of them, or those of these students, or of one queue."""
    query = (select(Submission.id, Submission.user_id, Exercise.gpu, Submission.status, Submission.bulk,
                    Submission.received_at, Submission.queued_at)
             .join(Exercise, Exercise.id == Submission.exercise_id).where(Submission.status.in_(ACTIVE)))
    if user_ids is not None:
        query = query.where(Submission.user_id.in_(list(user_ids)))
    if gpu is not None:
        query = query.where(Exercise.gpu == gpu)
    return [Waiting(*row) for row in session.execute(query.order_by(Submission.id))]


def owners(session: Session, ids: Iterable[int]) -> list[int]:
    """The students who sent these submissions."""
    return list(session.scalars(select(Submission.user_id).where(Submission.id.in_(list(ids))).distinct()))


def next_in_line(session: Session, submission: Submission) -> bool:
    """Whether this received submission may be sent now (`queue_order.may_send`: nothing else of
    its student in flight in its queue, no older one held). The student's row is locked first
    (an UPDATE, as `store_once` does), so of two senders at once (an upload, a finishing worker,
    a sweep) the second waits and sees what the first sent: never two in flight."""
    session.flush()
    session.execute(update(User).where(User.id == submission.user_id).values(id=User.id)
                    .execution_options(synchronize_session=False))
    rows = waiting(session, [submission.user_id], submission.exercise.gpu)
    mine = next((r for r in rows if r.id == submission.id), None)
    return mine is not None and mine.status == "received" and may_send(mine, rows)


def queue_position(session: Session, submission: Submission, lanes: bool = True) -> int | None:
    """Where the submission stands in its queue (1: next), in the order the queue grades in
    (`queue_order.expected_order`: held ones counted where they will go); None unless it waits.
    `lanes`: the broker puts bulk work behind (`queue_order.lanes`)."""
    if submission.status not in ("received", "queued"):
        return None
    return position(waiting(session, gpu=submission.exercise.gpu), submission.id, lanes)


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
    score: float | None         # after the late penalty
    max_score: float
    bonus: float | None         # after the late penalty
    device: str | None
    runs: list[dict]            # every attempt, for staff: backend, device, timings, operator errors
    raw_score: float | None = None
    raw_bonus: float | None = None
    penalty: float = 0.0        # the fraction taken off (0: on time)
    usual_duration_s: float | None = None   # while running: the exercise's usual grading time


def submission_detail(session: Session, submission: Submission, lanes: bool = True) -> SubmissionDetail:
    """The submission's page: its last run's result, and its score as it counts (as in the lists);
    `lanes`: see `queue_position`."""
    run = latest_run(session, submission)
    graded = submission.status == "graded" and run is not None and run.result is not None
    counted = None
    if graded:
        rules = rules_for(submission.exercise, extension_due(session, submission.user_id, submission.exercise_id))
        counted = _scored(rules, submission.received_at, run.score, run.bonus, run.max_score)
    score, max_score, bonus, raw_score, raw_bonus, penalty = _columns(counted)
    runs = [{"attempt": r.attempt, "backend": r.backend, "device": r.device, "started_at": r.started_at,
             "finished_at": r.finished_at, "duration_s": r.duration_s, "score": r.score, "max_score": r.max_score,
             "infrastructure": r.infrastructure, "error": r.error,
             "cpu_s": r.cpu_s, "gpu_s": r.gpu_s, "gpu_peak_mb": r.gpu_peak_mb} for r in submission.runs]
    return SubmissionDetail(
        submission.id, submission.user.name, submission.user_id, submission.exercise_id, submission.exercise.title,
        submission.filename, submission.size, submission.sha256, submission.status, submission.attempts,
        submission.reason, submission.progress if submission.status == "running" else None,
        queue_position(session, submission, lanes), submission.received_at, submission.queued_at, submission.started_at,
        submission.finished_at, run.result if graded else None, score,
        run.max_score if graded else submission.exercise.points, bonus,
        run.device if graded else None, runs, raw_score, raw_bonus, penalty,
        usual_duration_s(session, submission.exercise_id) if submission.status == "running" else None)
