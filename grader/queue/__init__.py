"""The grading queue: a Celery app built from the config, one task, one worker command.

The database is the truth and the broker only carries ids: `grader.service` writes a submission
first (status received) and the outbox (`outbox.enqueue_pending`) sends
`grader.grade_submission.v1(submission_id, attempt)`; the task (`tasks`, registered on workers
only) takes the row with a conditional update, grades it with `grader.grading.grade()` (the only
place in the service that calls it), and records the run and the final status, as
`grader.lifecycle` decides. A message lost (a worker killed, Redis restarted, a crash between
storing and sending) costs a delay, not a submission: the sweep (`outbox.sweep`, run by every
worker on a timer) sends again what has waited too long, and a message that arrives twice does
nothing the second time.

Each deployment (database) has its own queues on the broker and its id on every message
(`deployments`): deployments that share a broker never take each other's work.

Brokers: Redis in production (GRADER_BROKER_URL=redis://...); the embedded default is kombu's
SQLAlchemy transport on a SQLite file next to the database (no server), with the same task code.
"""
from __future__ import annotations

from .app import TASK_NAME, get_app, make_celery, queue_for, send_grading
from .settings import Timings, timings

__all__ = ["TASK_NAME", "Timings", "get_app", "make_celery", "queue_for", "send_grading", "timings"]
