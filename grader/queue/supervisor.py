"""A second worker process, watched: the GPU side of a worker that serves both queues.

`grader worker` on cpu,gpu with GPU slots runs the gpu queue as its own Celery worker (one pool
child per slot), so CPU exercises never wait behind GPU ones. Nothing else would notice that
process die, and every GPU submission would wait in its queue while the sweep sent it again and
again; so a thread of the main worker watches it:

* it exits after running a while (killed, out of memory): started again, after a short pause;
* it exits within `QUICK_S` of its start `GIVE_UP_AFTER` times in a row (it cannot start: a bad
  argument, a lock folder it cannot use): the worker says so in its log and stops altogether,
  with exit status 1, rather than serve half its queues. A supervisor (systemd, compose's
  `restart: unless-stopped`) then shows it failing instead of a worker that looks healthy.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("grader.queue")

QUICK_S = 30.0              # a child that ends sooner than this after its start did not start
GIVE_UP_AFTER = 3           # ... this many times in a row: stop the whole worker
RESTART_PAUSE_S = (1.0, 2.0, 5.0)


def gpu_worker_argv(loglevel: str) -> list[str]:
    """The command line of the gpu queue's worker: `grader worker --queues gpu`, this interpreter."""
    return [sys.executable, "-m", "grader.cli", "worker", "--queues", "gpu", "--loglevel", loglevel]


class Supervised(threading.Thread):
    """Runs `argv` as a child process and keeps it running (see the module's docstring).
    `gave_up` holds the sentence said when it stopped trying; `stop()` ends the child."""

    def __init__(self, argv: list[str], what: str, on_give_up=None, stop_timeout_s: float = 60.0):
        super().__init__(name=f"supervise {what}", daemon=True)
        self.argv, self.what = argv, what
        self.on_give_up = on_give_up or _stop_this_process
        self.stop_timeout_s = stop_timeout_s
        self.stopped = threading.Event()
        self.child: subprocess.Popen | None = None
        self.starts = 0
        self.gave_up: str | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        quick_exits = 0
        while not self.stopped.is_set():
            with self._lock:
                if self.stopped.is_set():
                    return
                started = time.monotonic()
                self.child = subprocess.Popen(self.argv)
                self.starts += 1
            log.info("%s started (pid %s)", self.what, self.child.pid)
            status = self.child.wait()
            if self.stopped.is_set():
                return
            lived = time.monotonic() - started
            quick_exits = quick_exits + 1 if lived < QUICK_S else 0
            if quick_exits >= GIVE_UP_AFTER:
                self.gave_up = (f"{self.what} cannot start: it ended {quick_exits} times in a row within {QUICK_S:g} s "
                                f"of its start (last exit status {status}; its log is above); stopping this worker")
                log.error("%s", self.gave_up)
                self.on_give_up()
                return
            pause = RESTART_PAUSE_S[min(quick_exits, len(RESTART_PAUSE_S) - 1)]
            log.warning("%s (pid %s) ended with exit status %s after %.0f s; starting it again in %g s",
                        self.what, self.child.pid, status, lived, pause)
            self.stopped.wait(pause)

    def stop(self) -> None:
        """End the child: SIGTERM (a Celery worker's warm shutdown lets its gradings finish),
        SIGKILL after `stop_timeout_s`."""
        with self._lock:
            self.stopped.set()
            child = self.child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _stop_this_process() -> None:
    """The main worker's warm shutdown, as if it had been sent SIGTERM."""
    os.kill(os.getpid(), signal.SIGTERM)
