"""Sending what the database says must be graded: the outbox and the sweep.

The database is written first and is the truth; the broker only carries (submission id, attempt).

* `enqueue_pending` (the outbox) sends the received submissions that are next in line and marks
  them queued, in one transaction per submission, the send before the commit: a crash in between
  leaves it received (sent again later; a duplicate message does nothing), a broker that is down
  leaves it received too. `service.submit` stores a submission and calls it.
* Fair queues (`grader.queue_order`, which says why): a student's first gradings go one at a
  time per queue; the others stay received, held in upload order, and the outbox sends the next
  when the one in flight ends (`send_next`, from the worker's finish step). A held row is not a
  lost one: the sweep sends received rows through the same rule, so it only sends what is next in
  line (a finish whose send failed, a crash between storing and sending). Regrades go in the
  bulk lane (`app.BULK_PRIORITY`), behind first gradings.
* `sweep` (every worker runs it on a timer, `worker.Sweeper`) sends again what has waited too
  long: received rows next in line, queued ones whose message was lost (Redis restarted without
  persistence, the embedded broker's worker killed), running ones whose worker died;
  `lifecycle.sweep` decides which attempt, or that the retries are used up.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from .. import lifecycle
from ..config import Config
from ..errors import InvalidTransition
from ..lifecycle import Sweep
from .app import get_app, queue_for, send_grading
from .settings import timings

log = logging.getLogger("grader.queue")


def enqueue_pending(config: Config, ids=None, older_than_s: float = 0.0) -> int:
    """Send the received submissions that are next in line (`queue_order.to_send`) and mark them
    queued; how many were sent. `ids`: only for the students who sent these (what is next for
    them may be an older held one: upload order); `older_than_s`: only rows received that long ago."""
    from ..queue_order import to_send
    from ..storage.submissions import get_submission, mark_status, next_in_line, owners, waiting
    from ..storage.db import session_scope
    from ..storage.models import utcnow
    with session_scope(config) as session:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        rows = waiting(session, owners(session, ids) if ids is not None else None)
        received = {r.id: r.received_at for r in rows}
        pending = [i for i in to_send(rows) if received[i] <= cutoff]
    app = get_app(config)
    sent = 0
    for submission_id in pending:
        try:
            with session_scope(config) as session:
                submission = get_submission(session, submission_id)
                if not submission.bulk and not next_in_line(session, submission):
                    continue                   # another sender sent one of theirs meanwhile
                mark_status(session, submission, "queued")
                # sent inside the transaction: if the broker refuses, the row stays received
                send_grading(app, submission.id, submission.attempts + 1, queue_for(submission.exercise.gpu),
                             bulk=submission.bulk)
            sent += 1
        except InvalidTransition:
            continue                       # taken meanwhile (another enqueue, or a worker)
        except Exception as e:  # noqa: BLE001 - broker or database down: the sweep sends it later
            log.warning("submission %s stays received: %s", submission_id, e)
    return sent


def send_next(config: Config, submission_id: int) -> int:
    """After `submission_id` ended: its student's next held submission, if any (the worker's
    finish step; a failure here only leaves it to the sweep)."""
    try:
        return enqueue_pending(config, ids=[submission_id])
    except Exception as e:  # noqa: BLE001 - database down: the sweep sends it later
        log.warning("the next submission after %s is left to the sweep: %s", submission_id, e)
        return 0


def sweep(config: Config) -> dict:
    """Send again what waits too long (see the module's doc); counts of what was done."""
    from ..storage.submissions import get_submission, lifecycle_state, mark_status, submissions_in, touch_dispatched
    from ..storage.db import session_scope
    from ..storage.models import utcnow
    t = timings(config)
    done = {"received": 0, "queued": 0, "running": 0, "error": 0}
    now = utcnow()
    with session_scope(config) as session:
        waiting = [(s.id, s.status) for s in submissions_in(session, ["queued", "running"])]
    app = get_app(config)
    for submission_id, status in waiting:
        try:
            with session_scope(config) as session:
                submission = get_submission(session, submission_id)
                if submission.status != status:
                    continue
                decision = lifecycle.sweep(lifecycle_state(session, submission), now, t.sweep_queued_s,
                                           t.sweep_running_s)
                if decision.action is Sweep.NOTHING:
                    continue
                if decision.action is Sweep.END_ERROR:
                    mark_status(session, submission, "error", reason=lifecycle.ERROR_REASON)
                    done["error"] += 1
                    continue
                if not touch_dispatched(session, submission, expected=submission.queued_at, statuses=(status,)):
                    continue                                             # another sweep did it
                send_grading(app, submission_id, decision.attempt, queue_for(submission.exercise.gpu),
                             bulk=submission.bulk)
                done[status] += 1
                log.warning("sweep: submission %s (%s) sent again, attempt %s", submission_id, status,
                            decision.attempt)
        except InvalidTransition:
            continue
        except Exception as e:  # noqa: BLE001 - broker or database down: next sweep
            log.warning("sweep: submission %s not sent again: %s", submission_id, e)
    # last: a submission that ended error above lets its student's next one go in this round
    done["received"] = enqueue_pending(config, older_than_s=min(10.0, t.sweep_queued_s))
    return done
