"""Warm sandboxes: runners started ahead of time, past their "ready" and the heavy imports, so a
grading skips the start (for a torch exercise, torch's import and CUDA's start are most of it).

How it behaves (`grader.grading.grade` takes from it and fills it; the worker prestarts it):

* Keyed by what the sandbox was started for: the `Limits` (memory, threads, GPU, the GPU slot's
  device, ...) and the preload list. A warm sandbox only goes to a grading whose key is equal.
* Never reused: `take` removes the sandbox from the pool, and the grading kills it when it ends
  (`run_suite` stops its process). The pool only ever holds sandboxes no student code has run in.
* Preload through the runner's own requests: after "ready" (which the runner sends once numpy is
  imported) the pool sends `import` for each module and, with torch, asks `torch.cuda.is_available()`
  and makes one tensor on the GPU when there is one (the CUDA context). The runner, and so its
  digest that the docker image is checked by, stays the same; the start check of "ready" (the
  course's packages, the runner's version) is `client.ready_problem`, as for a cold start.
* Warm-ups run in a thread each, off the grading's path. A grading that finds its key's sandbox
  still warming waits for the rest of that warm-up (shorter than a cold start).
* Refilled when a grading ends, not when it starts: a warm-up (seconds of CPU for torch) would
  compete with the student's timed tests, and the replacement never runs beside the submission
  whose grading it follows.
* Failures cost nothing: a warm-up that fails (its process died, a start check, a timeout), a
  warm sandbox that died or got old, is killed and the grading starts cold, which reports the real
  problem if there is one; never a student's zero.
* Age: the sandbox's wall_s backstop (docker's `timeout`) counts from its start, so a warm one is
  started with wall_s lengthened by the longest it may wait (`max_idle_s` and the check interval);
  a grading that takes one always has its full wall_s left. Older ones are killed and replaced.
* Memory: each warm torch sandbox holds hundreds of MB (and a CUDA context on a GPU), so the pool
  holds `size` sandboxes per key (GRADER_WARM_POOL) for at most `max_keys` keys, the least
  recently used key dropped first. `close` kills them all: at exit, at the Celery child's
  shutdown, after a SandboxUnavailable.
"""
from __future__ import annotations

import atexit
import logging
import os
import selectors
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from ..sandbox import Limits, Running, Sandbox
from . import wire
from .client import ready_problem, receive_frame, send_frame

log = logging.getLogger("grader.pool")

MAX_IDLE_S = 600.0         # a warm sandbox unused this long is replaced (its backstop is lengthened by it)
CHECK_EVERY_S = 30.0       # how often idle ones are checked (dead, too old)
WARM_TIMEOUT_S = 120.0     # a warm-up not done by then is given up (torch on a busy 2-core machine: ~10 s)
MAX_KEYS = 8


class WarmupFailed(Exception):
    """A warm-up that did not end with a runner ready for code: the grading starts cold."""


@dataclass(eq=False)
class _Warm:
    key: tuple
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    running: Running | None = None
    ok: bool = False
    dropped: bool = False          # discarded while warming: its thread kills it
    killed: bool = False


class WarmPool:
    def __init__(self, sandbox: Sandbox, size: int = 1, max_keys: int = MAX_KEYS, max_idle_s: float = MAX_IDLE_S,
                 warm_timeout_s: float = WARM_TIMEOUT_S, check_every_s: float = CHECK_EVERY_S):
        self.sandbox, self.size, self.max_keys = sandbox, size, max_keys
        self.max_idle_s, self.warm_timeout_s, self.check_every_s = max_idle_s, warm_timeout_s, check_every_s
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, list[_Warm]] = OrderedDict()   # least recently used key first
        self._threads: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._janitor: threading.Thread | None = None
        self.served = 0            # warm sandboxes handed to gradings

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------ gradings
    def fill(self, limits: Limits, preload: tuple[str, ...] = ()) -> None:
        """Start warm-ups until `size` sandboxes wait (or warm) for this key; returns at once."""
        key = (limits, tuple(preload))
        with self._lock:
            if self.closed or self.size <= 0:
                return
            entries = self._entries.pop(key, [])
            self._entries[key] = entries                 # now the most recently used key
            new = [_Warm(key) for _ in range(self.size - len(entries))]
            entries.extend(new)
            evicted = []
            while len(self._entries) > self.max_keys:
                evicted += self._entries.popitem(last=False)[1]
            for entry in evicted:
                entry.dropped = True
        for entry in evicted:
            self._kill(entry)
        for entry in new:
            self._spawn(self._warm, entry)
        if new and self._janitor is None:
            self._janitor = self._spawn(self._check_idle)

    def take(self, limits: Limits, preload: tuple[str, ...] = ()) -> Running | None:
        """A never-used runner past "ready" for exactly this key, now no longer in the pool; None:
        start cold."""
        key = (limits, tuple(preload))
        with self._lock:
            entries = self._entries.get(key) or []
            entry = entries.pop(0) if entries else None
        if entry is None:
            return None
        entry.done.wait(max(0.0, entry.started + self.warm_timeout_s - time.monotonic()))
        if entry.done.is_set() and entry.ok and self._usable(entry):
            self.served += 1
            return entry.running
        self._drop(entry)
        return None

    def idle(self, limits: Limits, preload: tuple[str, ...] = ()) -> list[Running]:
        """The warm runners ready for this key now (what `take` would hand out)."""
        with self._lock:
            return [e.running for e in self._entries.get((limits, tuple(preload)), []) if e.done.is_set() and e.ok]

    def close(self, wait_s: float = 10.0) -> None:
        """Kill every warm sandbox (those still warming stop at their next step, within `wait_s`)."""
        self._stop.set()
        with self._lock:
            entries = [e for group in self._entries.values() for e in group]
            self._entries.clear()
            for entry in entries:
                entry.dropped = True
            threads = list(self._threads)
        for entry in entries:
            self._kill(entry)
        deadline = time.monotonic() + wait_s
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------ warm-ups
    def _spawn(self, target, *args) -> threading.Thread:
        def run():
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(thread)
        thread = threading.Thread(target=run, name="grader-warm", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _warm(self, entry: _Warm) -> None:
        limits, preload = entry.key
        # the backstop counts from the start: lengthened by the longest a warm sandbox may wait
        started_with = replace(limits, wall_s=limits.wall_s + int(self.max_idle_s + self.check_every_s + self.warm_timeout_s))
        try:
            running = _start_for_life(self.sandbox, started_with)
            with self._lock:
                entry.running = running
            if entry.dropped:
                raise WarmupFailed("closed")
            warm_up(self.sandbox, running, preload, entry.started + self.warm_timeout_s, lambda: entry.dropped)
            entry.ok = True
        except Exception as e:  # noqa: BLE001 - any failure: the grading starts cold and reports it
            if not entry.dropped:
                log.warning("a warm %s sandbox did not start (%s: %s); gradings start cold",
                            self.sandbox.name, type(e).__name__, str(e)[:300])
        finally:
            entry.done.set()
            if entry.dropped or not entry.ok:
                self._kill(entry)

    def _usable(self, entry: _Warm) -> bool:
        return entry.running.poll() is None and time.monotonic() - entry.started <= self.max_idle_s

    def _check_idle(self) -> None:
        """Replace warm sandboxes that died or waited too long."""
        while not self._stop.wait(self.check_every_s):
            with self._lock:
                idle = [e for group in self._entries.values() for e in group if e.done.is_set()]
            stale = [e for e in idle if not (e.ok and self._usable(e))]
            with self._lock:
                stale = [e for e in stale if e in self._entries.get(e.key, ())]
                for entry in stale:
                    self._entries[entry.key].remove(entry)
            for entry in stale:
                self._drop(entry)
                self.fill(*entry.key)

    def _drop(self, entry: _Warm) -> None:
        with self._lock:
            entry.dropped = True
        if entry.done.is_set():
            self._kill(entry)

    def _kill(self, entry: _Warm) -> None:
        """Kill it once; one still warming is killed by its own thread (which reads its pipes)."""
        with self._lock:
            if entry.killed or entry.running is None or not entry.done.is_set():
                return
            entry.killed = True
        try:
            entry.running.kill()
        except Exception as e:  # noqa: BLE001 - a container the engine lost: nothing left to kill
            log.debug("a warm sandbox was not killed cleanly: %s", e)


_starter: list = []      # [pid, executor]: its one thread lives as long as the process


def _start_for_life(sandbox: Sandbox, limits: Limits) -> Running:
    """`sandbox.start(limits)` in a thread that never ends: the local backend's bwrap dies with
    the thread that started it (--die-with-parent is PR_SET_PDEATHSIG, which follows the thread),
    so a warm-up thread that ended would take its sandbox with it. A forked process (a Celery
    pool child) makes its own."""
    from concurrent.futures import ThreadPoolExecutor
    with _shared_lock:
        if not _starter or _starter[0] != os.getpid():
            _starter[:] = [os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="grader-starter")]
        executor = _starter[1]
    return executor.submit(sandbox.start, limits).result()


def warm_up(sandbox: Sandbox, running: Running, preload, deadline: float, cancelled=lambda: False) -> None:
    """Read the runner's "ready" (and check it), then import `preload` in it; with torch, start
    CUDA when the sandbox shows a GPU. Only the runner's own requests: no student code runs."""
    header, _ = _next_frame(running, deadline, cancelled)
    if header.get("value") != "ready":
        raise WarmupFailed("no ready signal")
    problem = ready_problem(sandbox, header)
    if problem:
        raise WarmupFailed(problem)
    running.ready = header          # its versions become the grading's environment record
    handles: set[int] = set()

    def ask(op: str, target: int, arg, ref: bool = False):
        if cancelled():
            raise WarmupFailed("closed")
        send_frame(running, {"op": op, "target": target, "arg": wire.encode(arg, []), "ref": ref}, [], deadline)
        reply, blobs = _next_frame(running, deadline, cancelled)
        if reply.get("ok") is not True:
            error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            raise WarmupFailed(f"{op} {arg!r}: {error.get('type')}: {str(error.get('message'))[:200]}")
        value = wire.decode(reply.get("value"), blobs, lambda r: r)
        if isinstance(value, wire.Ref):
            handles.add(value.id)
        return value

    for name in preload:
        module = ask("import", 0, name)
        if name == "torch":
            cuda = ask("get", module.id, "cuda")
            if ask("call", ask("get", cuda.id, "is_available").id, ([], {})) is True:
                ask("call", ask("get", module.id, "zeros").id, ([1], {"device": "cuda"}), ref=True)
    if handles:
        ask("release", 0, sorted(handles))


def _next_frame(running: Running, deadline: float, cancelled):
    """The next frame, waiting in short slices so that a pool closing stops the wait."""
    fd = running.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not sel.select(min(0.25, max(0.0, deadline - time.monotonic()))):
            if cancelled():
                raise WarmupFailed("closed")
            if time.monotonic() >= deadline:
                raise TimeoutError
    return receive_frame(running, deadline)


# ---------------------------------------------------------------- this process's pool

_shared: list[WarmPool] = []
_shared_lock = threading.Lock()


def process_pool(sandbox: Sandbox, size: int) -> WarmPool | None:
    """This process's pool for `sandbox` (one at a time: another backend closes the last one's
    pool), or None for size 0. Closed at exit."""
    if size <= 0:
        return None
    with _shared_lock:
        if _shared and (_shared[0].sandbox is not sandbox or _shared[0].closed or _shared[0].size != size):
            _shared.pop().close()
        if not _shared:
            if not _registered:
                atexit.register(close_process_pool)
                _registered.append(True)
            _shared.append(WarmPool(sandbox, size))
        return _shared[0]


def close_process_pool() -> None:
    """Kill this process's warm sandboxes (atexit, the Celery child's shutdown, a SandboxUnavailable)."""
    with _shared_lock:
        pools = list(_shared)
        _shared.clear()
    for pool in pools:
        pool.close()


_registered: list[bool] = []
