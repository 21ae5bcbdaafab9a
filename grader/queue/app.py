"""`make_celery(config)`: the Celery app, its reliability settings, and sending a grading."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from celery import Celery

from ..config import Config
from ..private_paths import private_dir, private_file
from .settings import timings

# Versioned: a deploy that changes the task's arguments registers .v2 next to .v1, so messages
# queued before the deploy still find a task that understands them.
TASK_NAME = "grader.grade_submission.v1"
QUEUES = ("cpu", "gpu")
# Each message carries its deployment's id in this header (a header, not an argument: messages
# queued before there were deployment ids still fit the task, and mean this deployment).
DEPLOYMENT_HEADER = "grader_deployment"

log = logging.getLogger("grader.queue")
_apps: dict[tuple, Celery] = {}
_lock = threading.Lock()


def make_celery(config: Config) -> Celery:
    """A Celery app on config.broker_url and its settings. Senders send the task by name; a worker
    registers it (`tasks.register`), so sending never imports the grading pipeline."""
    t = timings(config)
    app = Celery("grader", broker=config.broker_url, set_as_current=False)
    if config.broker_url.startswith(("redis://", "rediss://")):
        transport_options = {
            # An unacknowledged message is handed out again after this long: it must exceed the
            # longest grading (plus a retry's countdown), or a slow grading would start twice.
            "visibility_timeout": int(t.visibility_timeout_s),
            # Fail fast when Redis is down: the submission stays in the database, the sweep sends it.
            "socket_connect_timeout": 5, "socket_timeout": 30, "retry_on_timeout": True,
        }
    elif config.broker_url.startswith("sqla+"):
        # kombu's SQLAlchemy transport hands these to create_engine(); it has no visibility timeout
        # (a message taken by a worker that dies is lost there), which is what the sweep is for.
        transport_options = {"connect_args": {"timeout": 30}} if "sqlite" in config.broker_url else {}
        _private_broker_file(config.broker_url)
    else:
        transport_options = {"visibility_timeout": int(t.visibility_timeout_s)}
    app.conf.update(
        # Acknowledge a message only after the task finished: a worker killed mid-grading leaves it
        # unacknowledged, and the broker hands it out again (the task is idempotent).
        task_acks_late=True,
        # ... also when the pool child running it dies (SIGKILL, the OOM killer): requeue, not ack.
        task_reject_on_worker_lost=True,
        # Reserve one message at a time per process: a grading is long, and a message reserved by a
        # busy (or dying) process waits for nothing.
        worker_prefetch_multiplier=1,
        broker_transport_options=transport_options,
        # The task's limits: soft raises SoftTimeLimitExceeded in the task (recorded as a setup
        # problem and retried); hard kills the child. Both exceed the longest grading.
        task_soft_time_limit=int(t.soft_limit_s),
        task_time_limit=int(t.hard_limit_s),
        # Processes, not threads: pytest runs the hidden suite in-process and is not thread-safe.
        worker_pool="prefork",
        # Each grading imports its suite afresh (harness.plugin.forget_suite); a fresh child after
        # a few gradings still gives back the memory that numpy and pytest leave fragmented.
        worker_max_tasks_per_child=25,
        # Ids in, statuses in the database out: no result backend, JSON only (never pickle).
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue="cpu",      # never used: send_grading names the deployment's queue
        # The worker keeps reconnecting to a restarted broker; senders give up quickly (see send).
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    app.grader_config = config
    app.grader_timings = t
    return app


def _private_broker_file(broker_url: str) -> None:
    """The embedded broker's SQLite file (messages name submissions), made 0600 in a 0700 folder
    before kombu opens it; SQLite gives its journal the same mode. A path that cannot be made is
    left to kombu, whose error on sending is the one the callers handle."""
    prefix = "sqla+sqlite:///"
    path = broker_url[len(prefix):].split("?", 1)[0] if broker_url.startswith(prefix) else ""
    if path and path != ":memory:":
        try:
            private_dir(Path(path).expanduser().parent)
            private_file(Path(path).expanduser())
        except OSError:
            pass


def get_app(config: Config) -> Celery:
    """This process's app for the config's broker and database (senders: the CLI, the web)."""
    key = (config.broker_url, config.database_url, str(config.exercises_dir))
    with _lock:
        if key not in _apps:
            _apps[key] = make_celery(config)
        return _apps[key]


def queue_for(gpu: bool) -> str:
    """GPU exercises (manifest limits.gpu = true) go to the workers that have GPUs."""
    return "gpu" if gpu else "cpu"


# Bulk work (a regrade) is sent with this priority: on Redis (0 is the highest there) it lands in
# the queue's lowest-priority list, which a worker takes from only when the first gradings' list
# is empty (grader/queue_order.py). Brokers without priorities ignore it.
BULK_PRIORITY = 9


def priority_for(bulk: bool) -> int:
    return BULK_PRIORITY if bulk else 0


def queue_name(deployment: str, queue: str) -> str:
    """The broker's name of a deployment's queue (`cpu`, `gpu`: the names people use): its own
    per deployment, so deployments that share a broker never take each other's work."""
    from ..storage.deployment import SHORT
    return f"grader-{deployment[:SHORT]}-{queue}"


def app_deployment(app: Celery) -> str:
    """The deployment id of the app's database (read once per process)."""
    from ..storage.deployment import deployment_id
    return deployment_id(app.grader_config)


def send_grading(app: Celery, submission_id: int, attempt: int, queue: str, countdown: float | None = None,
                 deployment: str | None = None, eta=None, bulk: bool = False) -> None:
    """Send one message to `queue` (cpu or gpu) of this deployment (or of `deployment`; `bulk`: in
    the lane behind first gradings); raises when the broker cannot be reached (the caller leaves
    the row as it is, and the sweep sends it later)."""
    deployment = deployment or app_deployment(app)
    app.send_task(TASK_NAME, args=[submission_id, attempt], queue=queue_name(deployment, queue),
                  countdown=countdown, eta=eta, headers={DEPLOYMENT_HEADER: deployment},
                  priority=priority_for(bulk),
                  retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5,
                                            "interval_max": 1.0})
