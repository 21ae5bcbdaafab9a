"""The host's processes as /proc shows them: one scan, and the few questions the sandboxes ask
of it (a sandbox's processes are in their own PID namespace, but /proc here shows their host
pids)."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")   # CONFIG_PROC_CHILDREN


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    uid: int          # the owner of /proc/<pid>: the process's (effective) user
    cpu_ticks: int = 0   # utime + stime (all its threads) + cutime + cstime (its children it reaped)


def scan() -> list[Proc]:
    """Every process alive now (one that ends during the scan is left out)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            uid = os.stat(f"/proc/{entry}").st_uid
            # the command name may hold spaces and parentheses: the fields start after the last ")"
            fields = stat.rsplit(b")", 1)[1].split()
            ppid = int(fields[1])
            ticks = sum(int(f) for f in fields[11:15])     # stat's fields 14-17
        except (OSError, IndexError, ValueError):
            continue
        found.append(Proc(int(entry), ppid, uid, ticks))
    return found


def children(parent: int, procs: list[Proc] | None = None) -> list[int]:
    return [p.pid for p in (procs if procs is not None else scan()) if p.ppid == parent]


def descendants(root: int, procs: list[Proc] | None = None) -> set[int]:
    """Every process below `root`, however deep."""
    below: dict[int, list[int]] = {}
    for p in procs if procs is not None else scan():
        below.setdefault(p.ppid, []).append(p.pid)
    found, todo = set(), [root]
    while todo:
        for child in below.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by `root` and every process below it, those that ended and were
    reaped inside the tree included (the kernel adds them to their reaper's cutime/cstime; a PID
    namespace's init reaps its orphans). Walks /proc/<pid>/task/*/children from `root`, so a
    sampler reads a few files, not the whole of /proc (the fallback where the kernel has no
    children files)."""
    if not CHILDREN_FILES:
        procs = scan()
        tree = descendants(root, procs) | {root}
        return sum(p.cpu_ticks for p in procs if p.pid in tree) / CLOCK_TICKS
    ticks, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        found = _stat_ticks(pid) if pid not in seen else None
        seen.add(pid)
        if found is None:            # ended meanwhile (its reaper counts it) or seen already
            continue
        ticks += found
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return ticks / CLOCK_TICKS


def _stat_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return sum(int(f) for f in fields[11:15])
    except (OSError, IndexError, ValueError):
        return None


def of_uid(uid: int, procs: list[Proc] | None = None) -> list[int]:
    return [p.pid for p in (procs if procs is not None else scan()) if p.uid == uid]


def signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_uid(uid: int, patience_s: float = 5.0) -> bool:
    """Kill every process of `uid` and wait until the kernel has reaped them all; False when some
    were still there after `patience_s`."""
    deadline = time.monotonic() + patience_s
    while pids := of_uid(uid):
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            signal_pid(pid, signal.SIGKILL)
        time.sleep(0.01)
    return True
