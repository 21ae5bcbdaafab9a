"""The one scan of /proc the sandboxes ask about processes, on real processes."""
from __future__ import annotations

import os
import subprocess

from grader.sandbox import procs
from support import wait_for


def test_children_descendants_and_processes_of_a_uid():
    child = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        grandchild = wait_for(lambda: procs.children(child.pid), 10, "the shell started its sleep")[0]
        assert child.pid in procs.children(os.getpid())
        mine = procs.descendants(os.getpid())
        assert {child.pid, grandchild} <= mine and os.getpid() not in mine and 1 not in mine
        assert procs.descendants(child.pid) == {grandchild}
        assert {os.getpid(), child.pid, grandchild} <= set(procs.of_uid(os.getuid()))
    finally:
        child.kill()
        child.wait()
    assert child.pid not in procs.descendants(os.getpid())
