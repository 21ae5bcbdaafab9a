"""The GPU side of a worker on both queues (GRADER_GPU_SLOTS set): the command line it starts
parses, the child is alive and takes the gpu queue's messages, it is started again when it dies,
and a worker whose GPU side cannot start says so and exits. No GPU here: the slots are declared
for a GPU 0 that this machine does not have, so a GPU grading that the child takes ends in the
local sandbox's "no NVIDIA device" setup problem, which is how the test knows who took it."""
from __future__ import annotations

import os
import re
import signal

import pytest

from grader import service as use_cases
from grader.cli import build_parser
from grader.queue.supervisor import gpu_worker_argv
from support import FIXTURES, TOY_SOLUTION, wait_for

SLOTS = {"GRADER_GPU_SLOTS": "0*2"}


def test_the_gpu_workers_command_line_parses():
    argv = gpu_worker_argv("INFO")
    assert argv[1:4] == ["-m", "grader.cli", "worker"]
    args = build_parser().parse_args(argv[3:])
    assert (args.command, args.queues, args.loglevel) == ("worker", "gpu", "INFO")


def _ready_pids(service) -> list[int]:
    """The pids of the Celery workers that said ready, in order (their hostnames carry them)."""
    return [int(pid) for pid in re.findall(r"grader-(\d+)@\S+ ready\.", service.logs(tail=None))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_the_gpu_side_takes_the_gpu_queue_and_is_started_again_when_it_dies(production):
    main = production.start_worker(GRADER_SWEEP_AFTER_S="600", **SLOTS)
    pids = wait_for(lambda: len(set(_ready_pids(production))) >= 2 and _ready_pids(production), 90,
                    "the main worker and its GPU side are both ready", details=production.logs)
    assert pids[0] == main.pid
    gpu_side = next(pid for pid in pids if pid != main.pid)
    assert _alive(gpu_side)
    cpu = production.submit(TOY_SOLUTION)
    gpu = use_cases.submit(production.config, "alice", "toytorch", "sub.py",
                           (FIXTURES / "toytorch_solution.py").read_bytes())
    assert production.wait(cpu)["score"] == 6.0
    # the GPU side leased a slot of GPU 0 for it: only a worker that has the slots does that
    (run, *_) = wait_for(lambda: production.runs(gpu), 90, "the GPU grading was taken", details=production.logs)
    assert run.infrastructure and "GPU slot 0" in run.error and "no NVIDIA device" in run.error, run.error
    # killed (the OOM killer, say): the main worker starts it again, and it takes work again
    os.kill(gpu_side, signal.SIGKILL)
    again = wait_for(lambda: [p for p in _ready_pids(production) if p not in (main.pid, gpu_side)], 90,
                     "the GPU side is started again", details=production.logs)
    assert _alive(again[0]) and main.poll() is None
    assert "ended with exit status -9" in production.logs(tail=None)
    # ... a new GPU submission is taken by it (messages the dead one had reserved come back
    # through the sweep, as after any lost worker); another student's: alice's own next one
    # would wait behind hers that the dead one held (fair queues: one of hers at a time)
    from grader.storage.db import session_scope
    from grader.storage.users import add_user
    with session_scope(production.config) as session:
        add_user(session, "bob")
    later = use_cases.submit(production.config, "bob", "toytorch", "sub.py",
                             (FIXTURES / "toytorch_solution.py").read_bytes())
    (run, *_) = wait_for(lambda: production.runs(later), 90, "the restarted GPU side takes a new submission",
                         details=production.logs)
    assert "GPU slot 0" in run.error


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_whose_gpu_side_cannot_start_says_so_and_exits(production):
    # a real fault the GPU side checks at start: its slots' lock folder is a file
    (production.tmp / "gpu-slots").write_text("not a folder")
    main = production.start_worker(GRADER_SWEEP_AFTER_S="600", **SLOTS)
    wait_for(lambda: main.poll() is not None, 120, "the worker stops", details=production.logs)
    log = production.logs(tail=None)
    assert main.returncode == 1, log
    assert "cannot use the GPU slots' lock folder" in log
    assert "the GPU worker (queue gpu) cannot start: it ended 3 times in a row" in log
