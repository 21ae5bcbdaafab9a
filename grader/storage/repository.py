"""Every query and write of the service's database, in one place: the CLI, the worker and the
web call these functions with a session from `db.session_scope(config)` and write no SQL of
their own. Errors are those of `grader.errors` (UnknownUser, DuplicateUser, RosterError,
UnknownExercise, IngestError, InvalidTransition, ...), so each caller knows whose fault it is.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..config import Config
from ..errors import (DuplicateUser, InvalidTransition, RosterError, UnknownExercise,
                      UnknownSubmission, UnknownUser, UserError)
from ..results import GradeResult
from .files import FileStore
from ..lifecycle import FINAL, State, infrastructure_streak, sources_of
from .models import (ROLES, ApiToken, Exercise, GradingRun, Submission,
                     TestOutcome, User, utcnow)

NAME = re.compile(r"[\w.@+-]{1,64}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
TOKEN_PREFIX = "grd_"

# ---------------------------------------------------------------- users, passwords, tokens

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (hashlib.scrypt, 16 MiB of memory per check)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        scheme, n, r, p, salt, digest = user.password_hash.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


def _check_user(name: str, role: str, email: str | None, section: str | None) -> None:
    if not NAME.fullmatch(name or ""):
        raise UserError(f"user name {name!r} must be 1 to 64 letters, digits or . _ @ + -")
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if email is not None and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise UserError(f"{email!r} is not an e-mail address")
    if section is not None and len(section) > 64:
        raise UserError(f"section {section[:20]!r}... is longer than 64 characters")


def add_user(session: Session, name: str, role: str = "student", *, email: str | None = None,
             section: str | None = None, password: str | None = None) -> User:
    """A new user; DuplicateUser if the name is taken."""
    _check_user(name, role, email, section)
    if password is not None and not password:
        raise UserError("the password is empty")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise DuplicateUser(f"a user named {name!r} exists already")
    user = User(name=name, role=role, email=email, section=section,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:                  # added by someone else meanwhile
        raise DuplicateUser(f"a user named {name!r} exists already") from None
    return user


def set_password(session: Session, user: User | str, password: str) -> None:
    if not password:
        raise UserError("the password is empty")
    get_user(session, user).password_hash = hash_password(password)
    session.flush()


def get_user(session: Session, user: User | str) -> User:
    """The user of that name (a User is returned as it is); UnknownUser if none."""
    if isinstance(user, User):
        return user
    found = session.scalar(select(User).where(User.name == user))
    if found is None:
        raise UnknownUser(f"no user named {user!r}")
    return found


def users(session: Session, role: str | None = None) -> list[User]:
    """Every user (of one role), by name."""
    query = select(User).order_by(User.name)
    if role is not None:
        query = query.where(User.role == role)
    return list(session.scalars(query))


@dataclass(frozen=True)
class RosterImport:
    added: int
    updated: int


def import_roster(session: Session, roster: Path | str | bytes | Iterable[str],
                  source: str | None = None) -> RosterImport:
    """Add or update users from a CSV roster: columns name, email, section, role (a header row
    naming them may come first, in any order; role defaults to student). Every line is checked
    before anything is written: RosterError names each bad line by its number."""
    if isinstance(roster, Path):
        source = source or roster.name
        try:
            roster = roster.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise RosterError(f"cannot read roster {source}: {getattr(e, 'strerror', None) or e}") from None
    if isinstance(roster, (str, bytes)):            # the whole text of an upload
        roster = (roster.decode("utf-8-sig") if isinstance(roster, bytes) else roster).splitlines()
    source = source or "roster"
    reader = csv.reader(roster)
    columns = ["name", "email", "section", "role"]
    rows, problems, seen = [], [], {}
    for fields in reader:
        line = reader.line_num
        fields = [f.strip() for f in fields]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if not rows and not problems and not seen and "name" in [f.lower() for f in fields]:
            columns = [f.lower() for f in fields]      # a header row
            unknown = set(columns) - {"name", "email", "section", "role"}
            if unknown:
                raise RosterError(f"{source} line {line}: unknown column(s) {', '.join(sorted(unknown))}: "
                                  "use name, email, section, role")
            continue
        if len(fields) > len(columns):
            problems.append(f"line {line}: {len(fields)} fields, expected at most {len(columns)} "
                            f"({', '.join(columns)})")
            continue
        row = dict(zip(columns, fields))
        name = row.get("name", "")
        entry = {"email": row.get("email") or None, "section": row.get("section") or None,
                 "role": (row.get("role") or "student").lower()}
        try:
            _check_user(name, entry["role"], entry["email"], entry["section"])
        except UserError as e:
            problems.append(f"line {line}: {e}")
            continue
        if name in seen:
            problems.append(f"line {line}: {name!r} is already on line {seen[name]}")
            continue
        seen[name] = line
        rows.append((name, entry))
    if problems:
        raise RosterError(f"{source}: nothing imported; " + "; ".join(problems))
    existing = {u.name: u for u in session.scalars(select(User).where(User.name.in_([n for n, _ in rows])))}
    added = updated = 0
    for name, entry in rows:
        user = existing.get(name)
        if user is None:
            session.add(User(name=name, **entry))
            added += 1
        elif (user.email, user.section, user.role) != (entry["email"], entry["section"], entry["role"]):
            user.email, user.section, user.role = entry["email"], entry["section"], entry["role"]
            updated += 1
    session.flush()
    return RosterImport(added, updated)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User | str) -> str:
    """A new API token for the user: returned once, in plain; only its sha256 is stored."""
    user = get_user(session, user)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The token's user (its last use recorded), or None for a token that was never issued."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None:
        return None
    row.last_used_at = utcnow()
    return row.user


# ---------------------------------------------------------------- exercises

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


def get_exercise(session: Session, exercise_id: str) -> Exercise:
    row = session.get(Exercise, exercise_id)
    if row is None:
        known = ", ".join(session.scalars(select(Exercise.id).order_by(Exercise.id))) or "none"
        raise UnknownExercise(f"unknown exercise {exercise_id!r} (known: {known})")
    return row


# ---------------------------------------------------------------- submissions

def create_submission(session: Session, config: Config, user: User | str, exercise_id: str, filename: str,
                      data: bytes, enforce_rules: bool = False) -> Submission:
    """Store the file (content-addressed, once) and write its submission row, status received.
    The file's type and size are checked here (IngestError); its content when it is graded.
    `enforce_rules`: the course's rules for a student (closed, limits, cool-off) are checked in
    this transaction (SubmissionRefused); the operator's CLI stores without them."""
    from ..ingest import _check_size, _kind_of
    user = get_user(session, user)
    exercise = get_exercise(session, exercise_id)
    if enforce_rules:
        from .course import check_allowed
        check_allowed(session, user, exercise, utcnow())
    filename = PurePath(filename.replace("\\", "/")).name[-255:]
    _kind_of(filename)
    _check_size(len(data), config.max_submission_bytes)
    sha = FileStore(config.storage_dir).put(data)
    submission = Submission(user_id=user.id, exercise_id=exercise.id, filename=filename, sha256=sha,
                            size=len(data), status="received", attempts=0)
    session.add(submission)
    session.flush()
    return submission


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
    a new attempt (an instructor's regrade). Its runs stay; finished_at and reason are cleared.
    A submission that is not final is left alone (it will be graded anyway): InvalidTransition."""
    session.flush()
    changed = session.execute(update(Submission).where(Submission.id == submission.id,
                                                       Submission.status.in_(FINAL))
                              .values(status="queued", queued_at=utcnow(), finished_at=None, reason=None)
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
                              .values(started_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    session.refresh(submission)
    return changed == 1
