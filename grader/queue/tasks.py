"""The grading task, `grader.grade_submission.v1(submission_id, attempt)`: ids in, statuses in
the database out. Every step is a conditional update, so a message delivered twice, late, or
after its worker died does the right thing:

* take: queued -> running (attempt 1, or a regrade's next attempt); a retry after a setup problem
  (running, attempts == attempt - 1, that attempt recorded); when the attempt is in progress but
  started longer ago than the sweep's limit for running (its worker is dead), that attempt is
  recorded as an infrastructure run and the next one starts. Anything else (a final
  submission, an attempt already recorded, a duplicate of an attempt in progress): nothing.
* grade: the stored file through `grade()`, outside any transaction.
* finish: the run (record_run, unique per attempt) and the final status in one transaction:
  graded; failed (SubmissionError, its message is the reason the student sees); a setup problem
  (SetupError, a soft time limit) is recorded as an infrastructure run, never a score, and the
  next attempt is sent with a backoff, until MAX_ATTEMPTS consecutive ones end the submission
  `error`; our own errors (a broken suite or manifest) end it `error` at once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import IntegrityError

from ..errors import DatabaseUnavailable, InvalidTransition, SandboxUnavailable, SetupError, SubmissionError
from .app import TASK_NAME, queue_for, send_grading
from .settings import MAX_ATTEMPTS, retry_countdown_s

log = logging.getLogger("grader.queue")

ERROR_REASON = ("This submission could not be graded because of a problem on our side; it was not scored. "
                "The course staff can see the details and will grade it again.")
WORKER_LOST = ("the worker grading it stopped before it finished (killed, out of memory, a restarted machine, "
               "or the task's hard time limit)")
DB_RETRY_S = 60            # how long a finished grading waits for the database to come back


def register(app) -> None:
    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=60)
    def grade_submission(self, submission_id: int, attempt: int) -> str:
        try:
            return run_attempt(app, int(submission_id), int(attempt))
        except DatabaseUnavailable as e:
            # the database is down before the grading started or after it could be stored: the
            # same message again later (the take decides then what is left to do)
            log.warning("submission %s attempt %s: %s; retrying", submission_id, attempt, e)
            raise self.retry(countdown=5, exc=e)

    app.grade_submission = grade_submission


def consecutive_infrastructure(runs) -> int:
    count = 0
    for run in reversed(runs):
        if not run.infrastructure:
            break
        count += 1
    return count


@dataclass(frozen=True)
class Taken:
    attempt: int
    exercise_id: str
    filename: str
    sha256: str
    queue: str
    gpu: bool           # the exercise wants a GPU (a slot is leased when the worker has slots)
    gpu_alone: bool     # ... all of one GPU: the out-of-memory regrade


def take(config, timings, submission_id: int, attempt: int) -> Taken | None:
    """Make this worker the one that runs `attempt`, or None when there is nothing to do."""
    from ..storage import repository as repo
    from ..storage.db import session_scope
    from ..storage.models import FINAL_STATUSES, utcnow
    for _ in range(5):          # a status that moved under us (an enqueue committing): look again
        try:
            with session_scope(config) as session:
                submission = repo.get_submission(session, submission_id)
                if submission.status in FINAL_STATUSES:
                    return None
                recorded = {run.attempt for run in repo.recorded_attempts(session, submission)}
                if attempt in recorded:
                    return None
                if submission.status == "received":        # the enqueue has not committed yet
                    repo.mark_status(session, submission, "queued")
                if submission.status == "queued":
                    if submission.attempts + 1 != attempt:
                        return None
                    repo.mark_status(session, submission, "running")
                elif submission.attempts == attempt - 1 and submission.attempts in recorded:
                    if not repo.begin_retry(session, submission, attempt):
                        return None
                elif submission.attempts == attempt:
                    # its worker died (killed, the machine restarted, the hard time limit): that
                    # attempt is recorded as an infrastructure run, and the next one starts here,
                    # so a submission that keeps killing its worker ends `error` like any setup problem
                    stale = utcnow() - timedelta(seconds=timings.sweep_running_s)
                    lost_since = submission.started_at
                    if not repo.restart_attempt(session, submission, attempt, stale):
                        return None                       # its worker is alive: a duplicate message
                    log.warning("submission %s attempt %s: its worker stopped; next attempt", submission_id, attempt)
                    repo.record_run(session, submission, None, backend=config.backend, attempt=attempt,
                                    started_at=lost_since, error=WORKER_LOST, infrastructure=True)
                    if consecutive_infrastructure(repo.recorded_attempts(session, submission)) % MAX_ATTEMPTS == 0:
                        repo.mark_status(session, submission, "error", reason=ERROR_REASON)
                        return None
                    attempt += 1
                    if not repo.begin_retry(session, submission, attempt):
                        return None
                else:
                    return None
                gpu = bool((submission.exercise.limits or {}).get("gpu"))
                return Taken(attempt, submission.exercise_id, submission.filename, submission.sha256,
                             queue_for(gpu), gpu, submission.gpu_alone)
        except InvalidTransition:
            continue
    return None


def run_attempt(app, submission_id: int, attempt: int) -> str:
    config, timings = app.grader_config, app.grader_timings
    taken = take(config, timings, submission_id, attempt)
    if taken is None:
        return "nothing to do"
    attempt = taken.attempt
    from ..storage.models import utcnow
    started = utcnow()
    result = failure = None
    kind = "graded"
    try:
        result, oom_note = _grade(config, taken, _progress_writer(config, submission_id, attempt))
        if oom_note:
            kind, failure = "gpu_alone", SetupError(oom_note)
    except SubmissionError as e:
        kind, failure = "failed", e
    except SoftTimeLimitExceeded:
        kind, failure = "setup", SetupError(f"the grading ran past the soft time limit ({timings.soft_limit_s:.0f} s)")
    except SetupError as e:
        kind, failure = ("setup" if e.retry else "ours"), e
        if isinstance(e, SandboxUnavailable):
            _sandboxes.clear()          # the next attempt builds it again (an image rebuilt, an engine back)
    except Exception as e:  # noqa: BLE001 - ours: a broken suite or manifest, or a bug
        kind, failure = "ours", e
        log.exception("submission %s attempt %s: grading failed", submission_id, attempt)
    finished = utcnow()
    outcome = _with_database(config, lambda: _finish(config, submission_id, attempt, kind, result, failure,
                                                     started, finished))
    if outcome in ("retry", "gpu_alone"):
        countdown = retry_countdown_s(attempt + 1) if outcome == "retry" else None
        try:
            send_grading(app, submission_id, attempt + 1, taken.queue, countdown=countdown)
        except Exception as e:  # noqa: BLE001 - the broker is down: the sweep sends it later
            log.warning("submission %s: cannot send attempt %s (%s); the sweep will", submission_id, attempt + 1, e)
    log.info("submission %s attempt %s: %s", submission_id, attempt, outcome)
    if outcome == "graded" and config.lti_config is not None:      # the score to the LMS (LTI 1.3)
        try:
            from ..lti_passback import send_score
            send_score(config, submission_id)
        except Exception as e:  # noqa: BLE001 - a platform that is down never changes the grading
            log.warning("submission %s: score not sent to the LMS: %s", submission_id, e)
    return outcome


_sandboxes: dict = {}


def sandbox_for(config):
    """This process's sandbox backend, built once (a docker client, the interpreter's folders),
    not per submission; dropped after a SandboxUnavailable so that the next attempt looks again."""
    key = (config.backend, config.docker_image, config.sandbox_python)
    if key not in _sandboxes:
        from ..sandbox import get_backend
        _sandboxes.clear()
        _sandboxes[key] = get_backend(config.backend, config)
    return _sandboxes[key]


def _grade(config, taken: Taken, progress):
    """The stored file through grade(), on a leased GPU slot when the exercise wants a GPU and the
    worker declares slots. Returns (result, note): a note when the grading ran out of GPU memory
    on a shared GPU while NVML saw neighbours hold memory (the attempt is then graded again, once,
    with the GPU to itself; the student's own output is never the evidence)."""
    from ..gpus import MemoryWatch, oom_regrade_note, slot_pool
    from ..grading import grade
    from ..storage.files import FileStore
    data = FileStore(config.storage_dir).get(taken.sha256)
    sandbox = sandbox_for(config)
    pool = slot_pool(config)
    if not (taken.gpu and pool.slots):
        return grade(taken.exercise_id, data, taken.filename, config, sandbox, progress), None
    lease = pool.lease_alone(pool.slots[0].device) if taken.gpu_alone else pool.lease()
    with lease as slot:
        watch = MemoryWatch(slot.device, sandbox.own_pids)
        with watch:
            result = grade(taken.exercise_id, data, taken.filename, config, sandbox, progress, gpu=slot)
    return result, oom_regrade_note(slot, taken.gpu_alone, watch.peak_neighbour_mb, result)


def _progress_writer(config, submission_id: int, attempt: int, every_s: float = 0.5):
    """A progress callback that stores "test i of n" on the row, at most every `every_s` (and
    always the start); a database that is down only costs the live display."""
    from ..storage import repository as repo
    from ..storage.db import session_scope
    last = [0.0]

    def write(event) -> None:
        now = time.monotonic()
        if event.kind == "test" and now - last[0] < every_s and event.index != event.total:
            return
        last[0] = now
        try:
            with session_scope(config) as session:
                repo.set_progress(session, submission_id, attempt, event.to_dict())
        except Exception as e:  # noqa: BLE001
            log.debug("progress of submission %s not stored: %s", submission_id, e)
    return write


def _with_database(config, write):
    """Run `write` (one transaction), waiting up to DB_RETRY_S for a database that is down."""
    deadline = time.monotonic() + DB_RETRY_S
    delay = 0.5
    while True:
        try:
            return write()
        except DatabaseUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _finish(config, submission_id, attempt, kind, result, failure, started, finished) -> str:
    from ..storage import repository as repo
    from ..storage.db import session_scope
    backend = config.backend
    try:
        with session_scope(config) as session:
            submission = repo.get_submission(session, submission_id)
            if submission.status != "running" or submission.attempts != attempt:
                return f"superseded ({submission.status}, attempt {submission.attempts})"
            error_text = None if failure is None else f"{type(failure).__name__}: {failure}"
            if kind == "graded":
                repo.record_run(session, submission, result, backend=backend, attempt=attempt,
                                started_at=started, finished_at=finished)
                repo.mark_status(session, submission, "graded")
                return "graded"
            if kind == "failed":
                repo.record_run(session, submission, None, backend=backend, attempt=attempt, started_at=started,
                                finished_at=finished, error=error_text)
                repo.mark_status(session, submission, "failed", reason=str(failure))
                return "failed"
            if kind == "setup":
                repo.record_run(session, submission, None, backend=backend, attempt=attempt, started_at=started,
                                finished_at=finished, error=error_text, infrastructure=True)
                failures = consecutive_infrastructure(repo.recorded_attempts(session, submission))
                if failures % MAX_ATTEMPTS == 0:         # a regrade after `error` gets MAX_ATTEMPTS again
                    repo.mark_status(session, submission, "error", reason=ERROR_REASON)
                    log.error("submission %s: %s setup problems in a row, ends error: %s", submission_id,
                              MAX_ATTEMPTS, failure)
                    return "error"
                repo.touch_dispatched(session, submission)
                return "retry"
            if kind == "gpu_alone":       # not the student's fault, and not counted: once more, alone
                repo.record_run(session, submission, None, backend=backend, attempt=attempt, started_at=started,
                                finished_at=finished, error=str(failure), infrastructure=True,
                                device=result.sandbox.get("device"))
                repo.take_gpu_alone(session, submission)
                repo.touch_dispatched(session, submission)
                return "gpu_alone"
            # ours (a broken suite or manifest, a bug) or a setup problem retrying cannot fix (a bad setting)
            repo.record_run(session, submission, None, backend=backend, attempt=attempt, started_at=started,
                            finished_at=finished, error=error_text, infrastructure=isinstance(failure, SetupError))
            repo.mark_status(session, submission, "error", reason=ERROR_REASON)
            return "error"
    except (InvalidTransition, IntegrityError) as e:      # another taker recorded this attempt first
        return f"superseded ({type(e).__name__})"
