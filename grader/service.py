"""The service's use cases, shared by the CLI and the web: submit, status, regrade, sweep.

The database is written first and is the truth; the broker only carries (submission id, attempt):

* `store_submission` writes the file and its row (status received) and commits: from then on the
  submission cannot be lost. `enqueue_pending` (the outbox) sends every received submission and
  marks it queued, in one transaction per submission, the send before the commit: a crash in
  between leaves it received (sent again later; a duplicate message does nothing), a broker that
  is down leaves it received too. `submit` is the two in a row.
* `sweep` (every worker runs it on a timer) sends again what has waited too long: received rows
  (a crash between storing and sending), queued ones whose message was lost (Redis restarted
  without persistence, the embedded broker's worker killed), running ones whose worker died.
* `regrade` sends final submissions back to queued for a new attempt (the one backward move).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from .config import Config
from .errors import InvalidTransition, UsageError

log = logging.getLogger("grader.service")

WAIT_POLL_S = 0.3


def store_submission(config: Config, user_name: str, exercise_id: str, filename: str, data: bytes,
                     enforce_rules: bool = False) -> int:
    """The storing half of `submit`: the file and its row (status received), committed."""
    from .storage import repository as repo
    from .storage.db import session_scope
    with session_scope(config) as session:
        return repo.create_submission(session, config, user_name, exercise_id, filename, data, enforce_rules).id


def check_upload(config: Config, filename: str, data: bytes) -> None:
    """Read an upload as the grader will (type, size, a notebook's JSON, its cells), so that the
    web can refuse a wrong file with its reason before anything is stored (IngestError)."""
    from .ingest import load_submission_bytes
    load_submission_bytes(data, filename, config.max_submission_bytes)


def submit(config: Config, user_name: str, exercise_id: str, filename: str, data: bytes,
           check: bool = False) -> int:
    """Store the submission, then send it to the queue; its id. A broker that cannot be reached
    does not fail the submission: it stays received and the sweep sends it. `check`: refuse a
    file that cannot be graded before storing it and apply the course's rules (the web's and the
    API's uploads; the operator's CLI stores it and lets the grading fail with the reason)."""
    if check:
        check_upload(config, filename, data)
    submission_id = store_submission(config, user_name, exercise_id, filename, data, enforce_rules=check)
    enqueue_pending(config, ids=[submission_id])
    return submission_id


def _app(config: Config):
    from .queue import get_app
    return get_app(config)


def enqueue_pending(config: Config, ids=None, older_than_s: float = 0.0) -> int:
    """Send every received submission (or those of `ids`) and mark it queued; how many were sent."""
    from .queue import queue_for, send_grading
    from .storage import repository as repo
    from .storage.db import session_scope
    from .storage.models import utcnow
    with session_scope(config) as session:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        pending = [(s.id, s.received_at) for s in repo.submissions_in(session, ["received"], ids)]
    app = _app(config)
    sent = 0
    for submission_id, received_at in pending:
        if received_at > cutoff:
            continue
        try:
            with session_scope(config) as session:
                submission = repo.get_submission(session, submission_id)
                repo.mark_status(session, submission, "queued")
                gpu = bool((submission.exercise.limits or {}).get("gpu"))
                # sent inside the transaction: if the broker refuses, the row stays received
                send_grading(app, submission.id, submission.attempts + 1, queue_for(gpu))
            sent += 1
        except InvalidTransition:
            continue                       # taken meanwhile (another enqueue, or a worker)
        except Exception as e:  # noqa: BLE001 - broker or database down: the sweep sends it later
            log.warning("submission %s stays received: %s", submission_id, e)
    return sent


def sweep(config: Config) -> dict:
    """Send again what waits too long (see the module's doc); counts of what was done."""
    from .queue import queue_for, send_grading, timings
    from .queue.settings import MAX_ATTEMPTS
    from .queue.tasks import ERROR_REASON, consecutive_infrastructure
    from .storage import repository as repo
    from .storage.db import session_scope
    from .storage.models import utcnow
    t = timings(config)
    done = {"received": enqueue_pending(config, older_than_s=min(10.0, t.sweep_queued_s)),
            "queued": 0, "running": 0, "error": 0}
    now = utcnow()
    with session_scope(config) as session:
        waiting = [(s.id, s.status) for s in repo.submissions_in(session, ["queued", "running"])]
    app = _app(config)
    for submission_id, status in waiting:
        try:
            with session_scope(config) as session:
                submission = repo.get_submission(session, submission_id)
                if submission.status != status:
                    continue
                last = submission.queued_at
                gpu = bool((submission.exercise.limits or {}).get("gpu"))
                if status == "queued":
                    if last is not None and now - last < timedelta(seconds=t.sweep_queued_s):
                        continue
                    attempt = submission.attempts + 1
                else:
                    moments = [m for m in (submission.queued_at, submission.started_at) if m is not None]
                    if moments and now - max(moments) < timedelta(seconds=t.sweep_running_s):
                        continue
                    runs = repo.recorded_attempts(session, submission)
                    attempt = submission.attempts
                    if any(run.attempt == attempt for run in runs):      # its retry message was lost
                        if consecutive_infrastructure(runs) % MAX_ATTEMPTS == 0:
                            repo.mark_status(session, submission, "error", reason=ERROR_REASON)
                            done["error"] += 1
                            continue
                        attempt += 1
                if not repo.touch_dispatched(session, submission, expected=last, statuses=(status,)):
                    continue                                             # another sweep did it
                send_grading(app, submission_id, attempt, queue_for(gpu))
                done[status] += 1
                log.warning("sweep: submission %s (%s) sent again, attempt %s", submission_id, status, attempt)
        except InvalidTransition:
            continue
        except Exception as e:  # noqa: BLE001 - broker or database down: next sweep
            log.warning("sweep: submission %s not sent again: %s", submission_id, e)
    return done


def regrade(config: Config, submission_id: int | None = None, exercise_id: str | None = None,
            user_name: str | None = None) -> list[int]:
    """A new attempt for one submission, or for every final submission of an exercise, of a
    student, or of a student in one exercise; the ids sent. Submissions not final yet are left
    alone: they will be graded anyway."""
    from .queue import queue_for, send_grading
    from .storage import repository as repo
    from .storage.db import session_scope
    from .storage.models import FINAL_STATUSES
    if (submission_id is None) == (exercise_id is None and user_name is None):
        raise UsageError("regrade one submission, or an exercise and/or a student")
    with session_scope(config) as session:
        if submission_id is not None:
            submission = repo.get_submission(session, submission_id)
            if submission.status not in FINAL_STATUSES:
                raise UsageError(f"submission {submission_id} is {submission.status}: it will be graded anyway")
            ids = [submission.id]
        else:
            if exercise_id is not None:
                repo.get_exercise(session, exercise_id)
            user_id = repo.get_user(session, user_name).id if user_name is not None else None
            ids = [s.id for s in repo.submissions_in(session, FINAL_STATUSES, exercise_id=exercise_id)
                   if user_id is None or s.user_id == user_id]
    app = _app(config)
    sent = []
    for sid in ids:
        try:
            with session_scope(config) as session:
                submission = repo.get_submission(session, sid)
                repo.requeue_for_regrade(session, submission)
                gpu = bool((submission.exercise.limits or {}).get("gpu"))
                send_grading(app, sid, submission.attempts + 1, queue_for(gpu))
            sent.append(sid)
        except InvalidTransition:
            continue
    return sent


def status(config: Config, submission_id: int) -> dict:
    """{id, exercise, user, status, attempts, score, max_score, bonus, reason?, progress?, result?};
    score and result only once graded (`result` is the object `grader run --json` prints);
    progress ({index, total, name}) while running."""
    from .storage import repository as repo
    from .storage.db import session_scope
    with session_scope(config) as session:
        submission = repo.get_submission(session, submission_id)
        run = repo.latest_run(session, submission)
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
    from .storage.models import FINAL_STATUSES
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
        if current["status"] in FINAL_STATUSES:
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"submission {submission_id} is still {current['status']} after {timeout_s:g} s")
        time.sleep(WAIT_POLL_S)
