"""What a grading cost, measured by the grader on both backends: the CPU seconds of every runner
start added up (one that crashed, one killed for a timeout, one stopped gracefully), never more
than the wall time allows; and /proc's count of a process tree keeps its reaped children."""
from __future__ import annotations

import subprocess
import sys

import pytest

from grader.sandbox import procs
from support import FIXTURES, grader, require_docker

BURN = str(FIXTURES / "burn_solution.py")
TOY_ENV = {"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}
BURNED_S = 0.5 * 3          # burn_solution's three burns, one per runner start
SAMPLE_LOSS_S = 1.0         # a crash loses the CPU since the last count (local 0.25 s, docker 1 s)


def _graded(backend: str) -> dict:
    run = grader("run", "toy", BURN, "--json", "--backend", backend, env=TOY_ENV)
    assert run.code == 0, run.stderr
    statuses = {t["name"]: t["status"] for t in run.result["tests"]}
    assert statuses == {"test_add": "error", "test_scale": "timeout", "test_counter": "passed",
                        "test_counter_reset": "passed"}, run.result["tests"]
    return run.result


def _check(result: dict) -> None:
    usage, wall = result["usage"], result["duration_s"]
    # every start counted: the crashed one (less what its last count missed), the killed one, the last
    assert usage["cpu_s"] >= BURNED_S - SAMPLE_LOSS_S + 0.2, usage
    assert usage["cpu_s"] <= wall * 1 + 0.5, (usage, wall)      # one runner at a time, cpu_threads = 1
    assert usage["gpu_s"] is None and usage["gpu_peak_mb"] is None   # no GPU watched: not a zero


def test_the_local_backend_counts_the_cpu_of_every_runner_start():
    _check(_graded("local"))


@pytest.mark.docker
def test_the_docker_backend_counts_the_cpu_of_every_runner_start():
    require_docker()
    _check(_graded("docker"))


def test_a_process_trees_cpu_keeps_the_children_it_reaped():
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {burn!r}])\n"
                               "print('reaped', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "reaped\n"        # the child burned 0.4 s and is gone
        assert procs.children(parent.pid) == []
        assert procs.tree_cpu_s(parent.pid) >= 0.4            # its CPU is in the parent's cutime
    finally:
        parent.kill()
        parent.wait()
