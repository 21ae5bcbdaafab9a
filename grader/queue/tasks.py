"""The grading task, `grader.grade_submission.v1(submission_id, attempt)`: ids in, statuses in
the database out. What each step does is `grader.lifecycle`'s decision; this module carries it
out with conditional updates, so a message delivered twice, late, or after its worker died does
the right thing:

* take (`lifecycle.take`): start the attempt, begin a retry, or record an attempt whose worker died
  and start the next; anything else (a final submission, an attempt already recorded, a duplicate
  of an attempt in progress) does nothing.
* grade: the stored file through `grade()`, outside any transaction.
* finish (`lifecycle.finish`): the run (unique per attempt) and what follows, in one transaction:
  graded; failed (SubmissionError, its message is the reason the student sees); a setup problem
  (SetupError, the soft time limit) recorded as an infrastructure run, never a score, and the next
  attempt sent after a backoff until the retries are used up (`error`); ours (a broken suite or
  manifest) `error` at once. A submission that ended lets its student's next held one go
  (`outbox.send_next`: fair queues).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import IntegrityError

from .. import lifecycle
from ..errors import DatabaseUnavailable, InvalidTransition, SandboxUnavailable, SetupError, SubmissionError
from ..lifecycle import Outcome, Take
from .app import TASK_NAME, queue_for, send_grading
from .settings import retry_countdown_s

log = logging.getLogger("grader.queue")

DB_RETRY_S = 60            # how long a finished grading waits for the database to come back


def register(app) -> None:
    """The task, on a worker's app (senders send by name and never import this module)."""
    # Strategy: a message of another deployment is sent on to its own queue, never graded here
    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=60,
              Strategy="grader.queue.deployments:strategy")
    def grade_submission(self, submission_id: int, attempt: int) -> str:
        try:
            return run_attempt(app, int(submission_id), int(attempt))
        except DatabaseUnavailable as e:
            # the database is down before the grading started or after it could be stored: the
            # same message again later (the take decides then what is left to do)
            log.warning("submission %s attempt %s: %s; retrying", submission_id, attempt, e)
            raise self.retry(countdown=5, exc=e)

    app.grade_submission = grade_submission


@dataclass(frozen=True)
class Taken:
    attempt: int
    exercise_id: str
    filename: str
    sha256: str
    queue: str
    gpu: bool           # the exercise wants a GPU (a slot is leased when the worker has slots)
    gpu_alone: bool     # ... all of one GPU: the out-of-memory regrade
    bulk: bool = False  # a regrade: its retries go in the bulk lane too


def take(config, timings, submission_id: int, attempt: int) -> Taken | None:
    """Make this worker the one that runs `attempt` (or the next, after a lost one), or None."""
    from ..storage.submissions import begin_retry, get_submission, lifecycle_state, mark_status, record_run, restart_attempt
    from ..storage.db import session_scope
    from ..storage.models import utcnow
    for _ in range(5):          # a status that moved under us (an enqueue committing): look again
        try:
            with session_scope(config) as session:
                submission = get_submission(session, submission_id)
                now = utcnow()
                decision = lifecycle.take(lifecycle_state(session, submission), attempt, now,
                                          timings.sweep_running_s)
                if decision.action is Take.NOTHING:
                    return None
                if decision.action is Take.START:
                    if submission.status == "received":     # its enqueue has not committed yet
                        mark_status(session, submission, "queued")
                    mark_status(session, submission, "running")
                elif decision.action is Take.RETRY:
                    if not begin_retry(session, submission, decision.attempt):
                        return None
                else:                                       # LOST: its worker died
                    lost_since = submission.started_at
                    stale = now - timedelta(seconds=timings.sweep_running_s)
                    if not restart_attempt(session, submission, attempt, stale):
                        return None                         # another taker won
                    log.warning("submission %s attempt %s: its worker stopped; next attempt", submission_id, attempt)
                    record_run(session, submission, None, backend=config.backend, attempt=attempt,
                                    started_at=lost_since, error=lifecycle.WORKER_LOST, infrastructure=True)
                    if decision.ends_error:
                        mark_status(session, submission, "error", reason=lifecycle.ERROR_REASON)
                        return None
                    if not begin_retry(session, submission, decision.attempt):
                        return None
                gpu = submission.exercise.gpu
                return Taken(decision.attempt, submission.exercise_id, submission.filename, submission.sha256,
                             queue_for(gpu), gpu, submission.gpu_alone, submission.bulk)
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
    outcome = Outcome.GRADED
    try:
        result, oom_note = _grade(config, taken, _progress_writer(config, submission_id, attempt))
        if oom_note:
            outcome, failure = Outcome.GPU_ALONE, SetupError(oom_note)
    except SubmissionError as e:
        outcome, failure = Outcome.FAILED, e
    except SoftTimeLimitExceeded:
        outcome = Outcome.SETUP
        failure = SetupError(f"the grading ran past the soft time limit ({timings.soft_limit_s:.0f} s)")
    except SetupError as e:
        outcome, failure = (Outcome.SETUP if e.retry else Outcome.OURS), e
        if isinstance(e, SandboxUnavailable):
            _sandboxes.clear()          # the next attempt builds it again (an image rebuilt, an engine back)
    except Exception as e:  # noqa: BLE001 - ours: a broken suite or manifest, or a bug
        outcome, failure = Outcome.OURS, e
        log.exception("submission %s attempt %s: grading failed", submission_id, attempt)
    finished = utcnow()
    said, decision = _with_database(config, lambda: _finish(config, submission_id, attempt, outcome, result,
                                                            failure, started, finished))
    if decision is not None and decision.send_next:
        countdown = None if decision.at_once else retry_countdown_s(attempt + 1)
        try:
            send_grading(app, submission_id, attempt + 1, taken.queue, countdown=countdown, bulk=taken.bulk)
        except Exception as e:  # noqa: BLE001 - the broker is down: the sweep sends it later
            log.warning("submission %s: cannot send attempt %s (%s); the sweep will", submission_id, attempt + 1, e)
    if decision is not None and decision.status is not None:       # it ended: its student's next one
        from .outbox import send_next
        send_next(config, submission_id)
    log.info("submission %s attempt %s: %s", submission_id, attempt, said)
    if said == "graded" and config.lti_config is not None:      # the score to the LMS (LTI 1.3)
        try:
            from ..lti_passback import send_score
            send_score(config, submission_id)
        except Exception as e:  # noqa: BLE001 - a platform that is down never changes the grading
            log.warning("submission %s: score not sent to the LMS: %s", submission_id, e)
    return said


_sandboxes: dict = {}
_sandboxes_lock = threading.Lock()       # the prestart thread and the first grading may ask at once


def sandbox_for(config):
    """This process's sandbox backend, built once (a docker client, the interpreter's folders),
    not per submission; dropped after a SandboxUnavailable so that the next attempt looks again."""
    key = (config.backend, config.docker_image, config.sandbox_python)
    with _sandboxes_lock:
        if key not in _sandboxes:
            from ..sandbox import get_backend
            _sandboxes.clear()
            _sandboxes[key] = get_backend(config.backend, config)
        return _sandboxes[key]


def prestart(config, queues) -> None:
    """Warm sandboxes (grader/harness/pool.py) for the exercises this pool child may grade (those
    of its queues), before any submission arrives. GPU exercises on GPU slots warm for a slot
    after its first grading (the slot is only known then)."""
    from ..gpus import parse_slots
    from ..grading import limits_for, preload_for, warm_pool
    from ..manifest import loadable_exercises
    try:
        pool = warm_pool(config, sandbox_for(config))
    except SetupError as e:
        log.warning("no warm sandboxes: %s", e)
        return
    if pool is None:
        return
    slots = parse_slots(config.gpu_slots)
    for exercise in loadable_exercises(config.exercises_dir):
        if queue_for(exercise.gpu) in queues and not (exercise.gpu and slots):
            pool.fill(limits_for(exercise), preload_for(exercise))


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
    result.usage.gpu_s, result.usage.gpu_peak_mb = watch.own_s, watch.peak_own_mb    # None: no NVML
    return result, oom_regrade_note(slot, taken.gpu_alone, watch.peak_neighbour_mb, result)


def _progress_writer(config, submission_id: int, attempt: int, every_s: float = 0.5):
    """A progress callback that stores "test i of n" on the row, at most every `every_s` (and
    always the start, the first test's start, the last test and the quick stage's end); a database
    that is down only costs the live display. The quick stage's results ride along in `quick` with
    every later write of the attempt (the final result replaces them: `mark_status`)."""
    from ..storage.submissions import set_progress
    from ..storage.db import session_scope
    last = [0.0]
    quick: list = []

    def write(event) -> None:
        now = time.monotonic()
        if event.kind in ("running", "test") and now - last[0] < every_s and event.index not in (1, event.total):
            return
        last[0] = now
        progress = event.to_dict()
        if event.kind == "stage":
            quick[:] = progress.pop("tests", [])
        if quick:
            progress["quick"] = quick
        try:
            with session_scope(config) as session:
                set_progress(session, submission_id, attempt, progress)
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


def _finish(config, submission_id, attempt, outcome: Outcome, result, failure, started, finished):
    """Record the attempt's run and carry out `lifecycle.finish`: (what to log, the decision), the
    decision None when another taker got there first."""
    from ..storage.submissions import get_submission, lifecycle_state, mark_status, record_run, take_gpu_alone, touch_dispatched
    from ..storage.db import session_scope
    try:
        with session_scope(config) as session:
            submission = get_submission(session, submission_id)
            if submission.status != "running" or submission.attempts != attempt:
                return f"superseded ({submission.status}, attempt {submission.attempts})", None
            streak = lifecycle_state(session, submission).streak
            decision = lifecycle.finish(outcome, streak, setup_error=isinstance(failure, SetupError))
            if outcome is Outcome.GPU_ALONE:
                error_text = str(failure)
            else:
                error_text = None if failure is None else f"{type(failure).__name__}: {failure}"
            record_run(session, submission, result if outcome is Outcome.GRADED else None,
                            backend=config.backend, attempt=attempt, started_at=started, finished_at=finished,
                            error=error_text, infrastructure=decision.infrastructure,
                            device=result.sandbox.get("device") if outcome is Outcome.GPU_ALONE else None)
            if decision.gpu_alone:
                take_gpu_alone(session, submission)
            if decision.status is None:
                touch_dispatched(session, submission)
                return ("retry" if outcome is Outcome.SETUP else outcome.value), decision
            reason = {"failed": str(failure), "error": lifecycle.ERROR_REASON}.get(decision.status)
            mark_status(session, submission, decision.status, reason=reason)
            if decision.status == "error" and outcome is Outcome.SETUP:
                log.error("submission %s: %s setup problems in a row, ends error: %s", submission_id,
                          lifecycle.MAX_ATTEMPTS, failure)
            return decision.status, decision
    except (InvalidTransition, IntegrityError) as e:      # another taker recorded this attempt first
        return f"superseded ({type(e).__name__})", None
