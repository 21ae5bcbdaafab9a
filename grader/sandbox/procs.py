"""The host's processes as /proc shows them: one scan, and the few questions the sandboxes ask
of it (a sandbox's processes are in their own PID namespace, but /proc here shows their host
pids)."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    uid: int          # the owner of /proc/<pid>: the process's (effective) user


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
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.append(Proc(int(entry), ppid, uid))
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
