"""`grader worker`: a Celery worker (prefork pool) on the cpu and/or gpu queues, with the sweep on a
timer thread in its main process.

At start, with the docker backend, every sandbox container left by a killed worker on this host
is removed (`reap_orphans(..., only_dead_owners=False)`: run one worker per host, as compose does).
Each pool child builds its sandbox backend once (`tasks.sandbox_for`) and keeps a warm sandbox per
exercise of its queues (GRADER_WARM_POOL, default 1 here; `grader/harness/pool.py`), started when
the child starts and killed when it ends.

GPU slots (GRADER_GPU_SLOTS, `grader/gpus.py`): a worker on the gpu queue runs one pool child per
slot (each grading leases one) and checks at start that it can lease them. A worker asked for both
queues with slots declared runs the gpu queue as a second Celery worker in a child process, so
that CPU exercises never wait behind GPU ones in the same pool, and watches it
(`supervisor.Supervised`: restarted when it dies, the whole worker stops when it cannot start).
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from dataclasses import replace

from ..config import Config
from ..words import plural
from .app import QUEUES, make_celery, queue_name
from .settings import timings

log = logging.getLogger("grader.queue")


def check_queues(text: str) -> list[str]:
    from ..errors import UsageError
    queues = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in queues if q not in QUEUES]
    if not queues or unknown:
        raise UsageError(f"--queues {text!r}: use cpu, gpu or cpu,gpu")
    return queues


class Sweeper(threading.Thread):
    """Runs `outbox.sweep` every interval, in the worker's main process (never in pool children)."""

    def __init__(self, config: Config, interval_s: float):
        super().__init__(name="grader-sweep", daemon=True)
        self.config, self.interval_s = config, interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        from .outbox import sweep
        while not self.stopped.is_set():
            try:
                done = sweep(self.config)
                if any(done.values()):
                    log.warning("sweep: %s", done)
            except Exception as e:  # noqa: BLE001 - a database down: the next round
                log.warning("sweep failed: %s", e)
            self.stopped.wait(self.interval_s)


def run_worker(config: Config, concurrency: int | None = None, queues: str = "cpu,gpu",
               loglevel: str = "INFO", share_broker: bool = False) -> int:
    """Serve `queues` until stopped; 0, or 1 when the GPU side could not start (said in the log).
    `share_broker`: start even when another deployment uses the broker (`deployments.claim_broker`)."""
    names = check_queues(queues)
    if share_broker:
        config = replace(config, share_broker=True)
    if config.warm_pool is None:      # the worker's default: one warm sandbox per exercise
        config = replace(config, warm_pool=1)
    from ..gpus import parse_slots, slot_pool
    slots = parse_slots(config.gpu_slots)
    gpu_side = None
    if slots and "gpu" in names:
        if "cpu" in names:
            from .supervisor import Supervised, gpu_worker_argv
            timeout = timings(config).hard_limit_s       # its gradings may finish at a warm shutdown
            gpu_side = Supervised(gpu_worker_argv(loglevel), "the GPU worker (queue gpu)", stop_timeout_s=timeout)
            names = ["cpu"]
        else:
            concurrency = len(slots)      # one grading per slot, never one waiting for a slot
            slot_pool(config).check()     # a lock folder it cannot use: say so now, not at every grading
    try:
        _run_celery_worker(config, names, concurrency, loglevel, gpu_side)
    finally:
        if gpu_side is not None:
            gpu_side.stop()
    if gpu_side is not None and gpu_side.gave_up:
        print(f"grader: {gpu_side.gave_up}", file=sys.stderr)
        return 1
    return 0


def _run_celery_worker(config: Config, names: list[str], concurrency: int | None, loglevel: str,
                       gpu_side=None) -> None:
    logging.basicConfig(level=loglevel, format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    if config.backend == "docker":
        from ..sandbox.container import engine, reap_orphans
        removed = reap_orphans(engine(), only_dead_owners=False)
        if removed:
            log.warning("removed %s left by a killed worker", plural(removed, "sandbox container"))
    # the database must be reachable and migrated before the worker takes anything
    from ..storage.exercises import sync_exercises
    from ..storage.db import dispose_engines, session_scope
    from sqlalchemy.exc import IntegrityError
    for tries_left in (1, 0):
        try:
            with session_scope(config) as session:
                sync_exercises(session, config)
            break
        except IntegrityError:            # another worker starting at the same moment added the same row
            if not tries_left:
                raise
    from ..storage.deployment import deployment_id
    from .deployments import Presence, claim_broker
    deployment = deployment_id(config)
    dispose_engines()
    claim_broker(config, deployment)      # BrokerShared: another deployment uses this broker
    presence = Presence(config, deployment)
    from .broker_guard import install
    install()
    app = make_celery(config)
    from .tasks import register
    register(app)
    sweeper = Sweeper(config, app.grader_timings.sweep_interval_s)

    from celery import signals

    @signals.worker_ready.connect(weak=False)
    def _start_sweeper(**_):
        sweeper.start()
        presence.start()
        if gpu_side is not None:
            gpu_side.start()

    @signals.worker_shutdown.connect(weak=False)
    def _stop_sweeper(**_):
        sweeper.stopped.set()
        presence.stopped.set()

    @signals.worker_process_init.connect(weak=False)
    def _warm_sandboxes(**_):             # in each pool child, off its start (Celery waits for it)
        from .tasks import prestart
        threading.Thread(target=prestart, args=(config, names), name="grader-prestart", daemon=True).start()

    @signals.worker_process_shutdown.connect(weak=False)
    def _kill_warm_sandboxes(**_):        # a pool child ends with os._exit: atexit would not run
        from ..harness.pool import close_process_pool
        close_process_pool()

    argv = ["worker", "--pool", "prefork", "--concurrency", str(concurrency or config.worker_concurrency),
            "--queues", ",".join(queue_name(deployment, name) for name in names),      # this deployment's own
            "--hostname", f"grader-{os.getpid()}@{socket.gethostname()}",
            "--loglevel", loglevel, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    app.worker_main(argv)
