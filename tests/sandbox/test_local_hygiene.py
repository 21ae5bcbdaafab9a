"""The local backend's hygiene: its limits are set on the command line (prlimit in front of bwrap,
no preexec_fn in a process with threads) and are in force inside the sandbox; a start that fails
leaves nothing behind; as root, each sandbox runs as a throwaway uid leased to it alone, so one
sandbox's kill never takes another's processes."""
from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import subprocess
from pathlib import Path

import pytest

from grader.config import Config
from grader.sandbox import Limits, SandboxUnavailable
from grader.sandbox import procs
from grader.sandbox.local import LocalSandbox, rlimit_argv
from grader.sandbox.uids import UidPool
from support import wait_for

MB = 1024 * 1024
ROOT_USER = os.geteuid() == 0


def _student_process(running) -> int:
    """The pid of the student runner itself (below bwrap, after setpriv has run it)."""
    def found():
        for pid in procs.descendants(running.proc.pid):
            try:
                if b"student_runner.py" in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                        b"setpriv" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        return None
    return wait_for(found, 30, "the student runner has started")


def _limit(pid: int, name: str) -> str:
    line = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines() if line.startswith(name))
    return re.split(r"\s{2,}", line)[2]           # the hard limit's column


@pytest.fixture
def sandbox(tmp_path):
    return LocalSandbox(Config(sandbox_root=str(tmp_path)))


def test_limits_are_set_on_the_command_line_and_in_force_inside(sandbox):
    running = sandbox.start(Limits(memory_mb=1500, cpu_s=50, file_mb=7, pids=64))
    try:
        assert running.proc.args[0] == sandbox.prlimit          # bwrap starts under prlimit
        pid = _student_process(running)
        assert _limit(pid, "Max address space") == str(1500 * MB)
        assert _limit(pid, "Max cpu time") == "50"
        assert _limit(pid, "Max file size") == str(7 * MB)
        assert _limit(pid, "Max core file size") == "0"
        assert _limit(pid, "Max open files") == "1024"
    finally:
        running.kill()


def test_with_a_gpu_the_memory_limit_is_the_data_segment_and_the_command_line_parses(sandbox):
    argv = rlimit_argv(sandbox.prlimit, Limits(memory_mb=1500, cpu_s=50, file_mb=7), count_existing=False, gpu=True)
    assert f"--data={1500 * MB}" in argv and not any(a.startswith("--as=") for a in argv)
    shown = subprocess.run([*argv, "sh", "-c", "ulimit -d; ulimit -v; ulimit -t; ulimit -f"],
                           capture_output=True, text=True, check=True).stdout.split()
    before = subprocess.run(["sh", "-c", "ulimit -v"], capture_output=True, text=True).stdout.strip()
    assert shown == [str(1500 * 1024), before, "50", str(7 * 2048)]     # sh counts KB, and 512-byte blocks for -f


def test_a_start_that_fails_leaves_no_work_folder(sandbox, tmp_path):
    """A real fault: a GPU slot leased on a host without an NVIDIA device."""
    assert not list(Path("/dev").glob("nvidia[0-9]*")), "this test needs a host without a GPU"
    with pytest.raises(SandboxUnavailable, match="GPU slot 0 was leased"):
        sandbox.start(Limits(gpu=True, gpu_device="0"))
    assert list(tmp_path.iterdir()) == []


def test_each_sandbox_has_a_uid_of_its_own(sandbox):
    if not ROOT_USER:          # a normal user's sandbox runs as that user, in its own user namespace
        running = sandbox.start(Limits())
        try:
            assert sandbox.uids is None and running.uid is None
            assert os.stat(f"/proc/{_student_process(running)}").st_uid == os.getuid()
        finally:
            running.kill()
        return
    started = []
    try:
        for _ in range(2):
            random.seed(1)             # the same draw for both: the lease must still tell them apart
            started.append(sandbox.start(Limits()))
        first, second = started
        assert first.uid != second.uid and {first.uid, second.uid} <= set(range(200_000, 200_000 + 4096))
        pids = [_student_process(r) for r in started]
        assert [os.stat(f"/proc/{pid}").st_uid for pid in pids] == [first.uid, second.uid]
        first.kill()
        assert second.poll() is None and os.path.exists(f"/proc/{pids[1]}")    # the other lives on
    finally:
        for running in started:
            running.kill()


def _hold(folder, ready, uid):
    lease = UidPool(folder, first=300_000, count=1).lease()
    uid.value = lease.uid
    ready.set()
    signal.pause()


def test_a_uid_is_held_until_its_holder_lets_go_or_dies(tmp_path):
    folder = tmp_path / "uids"
    if not ROOT_USER:             # only root drops to throwaway uids: a normal user's folder is refused
        with pytest.raises(SandboxUnavailable, match="must be a folder of root's"):
            UidPool(folder, first=300_000, count=1).lease()
        return
    ctx = multiprocessing.get_context("fork")
    ready, uid = ctx.Event(), ctx.Value("i", 0)
    holder = ctx.Process(target=_hold, args=(folder, ready, uid))
    holder.start()
    try:
        assert ready.wait(30) and uid.value == 300_000
        with pytest.raises(SandboxUnavailable, match="all 1 throwaway uids from 300000 are in use"):
            UidPool(folder, first=300_000, count=1).lease()
    finally:
        os.kill(holder.pid, signal.SIGKILL)          # the kernel frees its lock
        holder.join(10)
    lease = UidPool(folder, first=300_000, count=1).lease()
    assert lease.uid == 300_000
    lease.release()
    os.chmod(folder, 0o777)                          # a folder others may write to is refused
    with pytest.raises(SandboxUnavailable, match="that no other user can write to"):
        UidPool(folder, first=300_000, count=1).lease()
