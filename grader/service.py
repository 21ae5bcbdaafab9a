"""The service's use cases, shared by the CLI and the web: submit, status, wait, regrade.

* `store_submission` writes the file and its row (status received) and commits: from then on the
  submission cannot be lost; `submit` then hands it to the outbox (`queue.outbox.enqueue_pending`,
  which also says why a broker that is down loses nothing). A student's upload is checked
  cheapest first: type and size, the course's rules (`check_rules`), then whether it can be read
  (`upload_check`), so an upload the rules refuse costs no parse, then whether it looks meant
  for another exercise (`exercise_match`: refused unless the student confirms). `submit_upload`
  (the web's and the API's) answers a repeat of the same bytes by the same student to the same
  exercise inside a short window (a double click, a retried request) with the submission
  already stored: no second row, no second attempt used.
* `regrade` sends final submissions back to queued for a new attempt (the one backward move), as
  bulk work: behind students' first gradings (`grader.queue_order`).
* `status` and `wait` read a submission as the CLI prints it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .config import Config
from .errors import InvalidTransition, UsageError

WAIT_POLL_S = 0.3


def store_submission(config: Config, user_name: str, exercise_id: str, filename: str, data: bytes) -> int:
    """The storing half of `submit`: the file and its row (status received), committed; the
    upload was checked before (`submit`)."""
    from .storage.db import session_scope
    from .storage.submissions import create_submission
    with session_scope(config) as session:
        return create_submission(session, config, user_name, exercise_id, filename, data).id


def check_rules(config: Config, user_name: str, exercise_id: str) -> None:
    """The course's rules for a new submission (closed, too many, cool-off: SubmissionRefused),
    and the exercise's existence (UnknownExercise), without reading or storing anything."""
    from .storage.course import check_allowed
    from .storage.db import session_scope
    from .storage.exercises import get_exercise
    from .storage.models import utcnow
    from .storage.users import get_user
    with session_scope(config) as session:
        check_allowed(session, get_user(session, user_name), get_exercise(session, exercise_id), utcnow())


REPEAT_WINDOW_S = 10.0      # the same bytes again this soon: a double click or a retry, not a new attempt


@dataclass(frozen=True)
class Accepted:
    id: int
    repeated: bool          # the same upload was stored a moment ago: this is that submission


def submit_upload(config: Config, user_name: str, exercise_id: str, filename: str, data: bytes, *,
                  repeat_since: datetime | None = None, exercise_confirmed: bool = False) -> Accepted:
    """A student's upload (the web's form and the API): `submit` with its checks, except that
    the same bytes sent to the same exercise by the same user since `repeat_since` (default:
    REPEAT_WINDOW_S ago) answer the submission stored then, before any rule is checked (the
    second click of a double click must not read "no submissions left"). `exercise_confirmed`:
    the student said the file is for this exercise even though it looks like another's."""
    from .ingest import validate_upload
    from .storage.db import session_scope
    from .storage.files import sha256
    from .storage.submissions import recent_repeat, store_once
    from .storage.exercises import get_exercise
    from .storage.users import get_user
    validate_upload(data, filename, config.max_submission_bytes)
    since = repeat_since or datetime.now(timezone.utc) - timedelta(seconds=REPEAT_WINDOW_S)
    sha = sha256(data)                              # once: up to 20 MB, looked up twice
    with session_scope(config) as session:         # the cheap look first: a double click costs no check
        user, exercise = get_user(session, user_name), get_exercise(session, exercise_id)
        earlier = recent_repeat(session, user.id, exercise.id, sha, since)
        if earlier is not None:
            return Accepted(earlier.id, True)
    _check(config, user_name, exercise_id, filename, data, exercise_confirmed)
    with session_scope(config) as session:         # and again under the lock, as the rules are
        submission, repeated = store_once(session, config, user_name, exercise_id, filename, data, since,
                                          enforce_rules=True, sha=sha)
        submission_id = submission.id
    if not repeated:
        from .queue.outbox import enqueue_pending
        enqueue_pending(config, ids=[submission_id])
    return Accepted(submission_id, repeated)


def _check(config: Config, user_name: str, exercise_id: str, filename: str, data: bytes,
           exercise_confirmed: bool = False) -> None:
    """A student's upload, cheapest first: the rules, whether it can be read, whether it looks
    meant for another exercise."""
    check_rules(config, user_name, exercise_id)
    from .upload_check import check_upload
    check_upload(data, filename, config.max_submission_bytes)
    if not exercise_confirmed:
        from .exercise_match import check_exercise
        check_exercise(data, filename, exercise_id, config.exercises_dir)


def submit(config: Config, user_name: str, exercise_id: str, filename: str, data: bytes) -> int:
    """The operator's upload (`grader submit`): store the submission, then send it to the queue;
    its id. Only its type and size are checked: the course's rules do not apply, and a file the
    grader cannot read fails its grading with the reason (a student's upload is
    `submit_upload`). A broker that cannot be reached does not fail the submission: it stays
    received and the sweep sends it."""
    from .ingest import validate_upload
    validate_upload(data, filename, config.max_submission_bytes)
    submission_id = store_submission(config, user_name, exercise_id, filename, data)
    from .queue.outbox import enqueue_pending
    enqueue_pending(config, ids=[submission_id])
    return submission_id


def regrade(config: Config, submission_id: int | None = None, exercise_id: str | None = None,
            user_name: str | None = None, requested_by: str | None = None,
            started_at: datetime | None = None) -> list[int]:
    """A new attempt for one submission, or for every final submission of an exercise, of a
    student, or of a student in one exercise; the ids sent. Submissions not final yet are left
    alone: they will be graded anyway. Recorded (storage.regrades) with who asked (None: the
    operator's CLI) and `started_at` (default now), the time its report counts from."""
    from .lifecycle import FINAL, can_regrade
    from .queue import get_app, queue_for, send_grading
    from .storage.exercises import get_exercise
    from .storage.submissions import get_submission, requeue_for_regrade, submissions_in
    from .storage.users import get_user
    from .storage.db import session_scope
    from .storage.models import utcnow
    from .storage.regrades import record_regrade
    if (submission_id is None) == (exercise_id is None and user_name is None):
        raise UsageError("regrade one submission, or an exercise and/or a student")
    started = started_at or utcnow()
    with session_scope(config) as session:
        if submission_id is not None:
            submission = get_submission(session, submission_id)
            if not can_regrade(submission.status):
                raise UsageError(f"submission {submission_id} is {submission.status}: it will be graded anyway")
            ids = [submission.id]
        else:
            if exercise_id is not None:
                get_exercise(session, exercise_id)
            user_id = get_user(session, user_name).id if user_name is not None else None
            ids = [s.id for s in submissions_in(session, FINAL, exercise_id=exercise_id)
                   if user_id is None or s.user_id == user_id]
    app = get_app(config)
    sent = []
    for sid in ids:
        try:
            with session_scope(config) as session:
                submission = get_submission(session, sid)
                requeue_for_regrade(session, submission)
                gpu = submission.exercise.gpu
                send_grading(app, sid, submission.attempts + 1, queue_for(gpu), bulk=True)
            sent.append(sid)
        except InvalidTransition:
            continue
    with session_scope(config) as session:
        record_regrade(session, started, len(sent), requested_by, submission_id, exercise_id, user_name)
    return sent


def status(config: Config, submission_id: int) -> dict:
    """{id, exercise, user, status, attempts, score, max_score, bonus, reason?, progress?, result?};
    score and result only once graded (`result` is the object `grader run --json` prints);
    progress ({index, total, name}) while running."""
    from .storage.submissions import get_submission, latest_run
    from .storage.db import session_scope
    with session_scope(config) as session:
        submission = get_submission(session, submission_id)
        run = latest_run(session, submission)
        graded = submission.status == "graded" and run is not None and run.result is not None
        out = {"id": submission.id, "exercise": submission.exercise_id, "user": submission.user.name,
               "status": submission.status, "attempts": submission.attempts,
               "score": run.score if graded else None,
               "max_score": run.max_score if graded else submission.exercise.points,
               "bonus": run.bonus if graded else None}
        if submission.status in ("failed", "error"):
            out["reason"] = submission.reason
        if submission.status == "running" and submission.progress:
            out["progress"] = submission.progress
        if graded:
            out["result"] = run.result
        return out


def wait(config: Config, submission_id: int, timeout_s: float | None = None) -> dict:
    """`status` once the submission is final (graded, failed, error); TimeoutError after timeout_s."""
    from .lifecycle import FINAL
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    from .errors import DatabaseUnavailable
    while True:
        try:
            current = status(config, submission_id)
        except DatabaseUnavailable:               # a database restarting: keep waiting
            if deadline is not None and time.monotonic() > deadline:
                raise
            time.sleep(1.0)
            continue
        if current["status"] in FINAL:
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"submission {submission_id} is still {current['status']} after {timeout_s:g} s")
        time.sleep(WAIT_POLL_S)
