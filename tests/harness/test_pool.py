"""Warm sandboxes (grader/harness/pool.py), on both backends: a grading gets a runner started
before it was asked for, no runner ever serves a second submission, nothing of one submission
reaches the next, and a warm sandbox that is dead, failed or old only means a cold start."""
from __future__ import annotations

import os
import textwrap
from dataclasses import replace

import pytest

from grader.config import Config
from grader.errors import ConfigError
from grader.grading import grade, limits_for, preload_for
from grader.harness.pool import WarmPool
from grader.manifest import load_exercise
from grader.sandbox import get_backend
from support import EXERCISES, RUNNER_STARTED, TOY_SOLUTION, require_docker, runner_started, uptime, wait_for

FULL = 6.0


@pytest.fixture
def config(tmp_path):
    return Config(exercises_dir=EXERCISES, instance_dir=tmp_path)


@pytest.fixture
def sandbox(backend, config):
    return get_backend(backend, config)


@pytest.fixture
def toy():
    exercise = load_exercise(EXERCISES, "toy")
    return limits_for(exercise), preload_for(exercise)


@pytest.fixture
def pool(sandbox):
    made = []

    def make(**kwargs):
        made.append(WarmPool(sandbox, 1, **kwargs))
        return made[-1]
    yield make
    for p in made:
        p.close()


def _warm(pool, key, timeout_s=120):
    return wait_for(lambda: pool.idle(*key), timeout_s, "a warm sandbox is ready")[0]


def _grade(config, sandbox, pool, extra=""):
    return grade("toy", (TOY_SOLUTION + "\n\n" + textwrap.dedent(extra)).encode(), "submission.py", config,
                 sandbox, pool=pool)


def test_a_grading_runs_in_the_runner_started_before_it(config, sandbox, pool, toy):
    warm = pool()
    warm.fill(*toy)
    _warm(warm, toy)
    asked = uptime()
    result = _grade(config, sandbox, warm, RUNNER_STARTED)
    assert result.score == FULL
    assert warm.served == 1
    assert runner_started(result.output) < asked - 0.05, "the grading's runner started after it was asked for"
    asked = uptime()        # without the pool the runner starts after the call: the measure can fail
    cold = _grade(config, sandbox, None, RUNNER_STARTED)
    assert runner_started(cold.output) >= asked - 0.05



def test_a_warm_grading_records_the_environment_as_a_cold_one(config, sandbox, pool, toy):
    """The runner's "ready" (with its package versions) is read by the pool ahead of time; the
    grading's environment record still comes from it, the same as a cold grading's."""
    import numpy
    warm = pool()
    warm.fill(*toy)
    _warm(warm, toy)
    pooled, cold = _grade(config, sandbox, warm), _grade(config, sandbox, None)
    assert warm.served == 1
    assert pooled.environment["numpy"] == numpy.__version__ and pooled.environment["python"]
    assert pooled.environment == cold.environment

def test_a_warm_sandbox_serves_one_submission_and_dies_with_it(config, sandbox, pool, toy):
    warm = pool()
    warm.fill(*toy)
    first = _warm(warm, toy)
    assert _grade(config, sandbox, warm).score == FULL
    assert warm.served == 1
    assert first.poll() is not None, "the used sandbox is still alive"
    assert first not in warm.idle(*toy)
    second = _warm(warm, toy)          # refilled behind the grading
    assert second is not first
    assert _grade(config, sandbox, warm).score == FULL
    assert warm.served == 2
    assert second.poll() is not None
    assert _warm(warm, toy) not in (first, second)


def test_nothing_of_one_submission_reaches_the_next(config, sandbox, pool, toy):
    warm = pool()
    warm.fill(*toy)
    _warm(warm, toy)
    planted = _grade(config, sandbox, warm, """
        def add(a, b):
            import builtins, numpy, sys
            open("/tmp/carried.txt", "w").write("from the last student")
            numpy.CARRIED = builtins.CARRIED = "from the last student"
            sys.modules["carried_module"] = numpy
            return a + b
    """)
    assert planted.score == FULL
    _warm(warm, toy)
    looked = _grade(config, sandbox, warm, """
        def add(a, b):
            import builtins, numpy, os, sys
            print("SEEN", os.path.exists("/tmp/carried.txt"), hasattr(numpy, "CARRIED"),
                  hasattr(builtins, "CARRIED"), "carried_module" in sys.modules)
            return a + b
    """)
    assert warm.served == 2
    assert looked.score == FULL
    assert "SEEN False False False False" in looked.output, looked.output


def test_a_warm_sandbox_only_goes_to_equal_limits(sandbox, pool, toy):
    limits, preload = toy
    warm = pool()
    warm.fill(limits, preload)
    running = _warm(warm, toy)
    assert warm.take(replace(limits, memory_mb=limits.memory_mb + 1), preload) is None
    assert warm.take(replace(limits, gpu_device="0"), preload) is None
    assert warm.take(limits, ("numpy", "torch")) is None
    assert warm.idle(limits, preload) == [running]
    assert warm.take(limits, preload) is running
    assert warm.idle(limits, preload) == []
    running.kill()


def test_a_dead_warm_sandbox_means_a_cold_start(config, sandbox, pool, toy):
    warm = pool(check_every_s=3600)
    warm.fill(*toy)
    _warm(warm, toy).kill()
    result = _grade(config, sandbox, warm)
    assert result.score == FULL
    assert warm.served == 0


def test_a_failed_warm_up_means_a_cold_start(sandbox, pool, toy):
    limits, _ = toy
    warm = pool()
    warm.fill(limits, ("no_such_module_anywhere",))
    entry = warm._entries[(limits, ("no_such_module_anywhere",))][0]
    wait_for(entry.done.is_set, 120, "the warm-up has ended")
    assert not entry.ok
    wait_for(lambda: entry.running.poll() is not None, 30, "the failed one is killed")
    assert warm.idle(limits, ("no_such_module_anywhere",)) == []
    assert warm.take(limits, ("no_such_module_anywhere",)) is None


def test_old_warm_sandboxes_are_replaced(sandbox, pool, toy):
    warm = pool(max_idle_s=1.0, check_every_s=0.5)
    warm.fill(*toy)
    first = _warm(warm, toy)
    second = wait_for(lambda: [r for r in warm.idle(*toy) if r is not first], 120, "the old one is replaced")[0]
    assert first.poll() is not None
    assert second.poll() is None


def test_a_warm_sandbox_that_waited_too_long_is_not_handed_out(sandbox, pool, toy):
    warm = pool(max_idle_s=0.0, check_every_s=3600)
    warm.fill(*toy)
    entry = warm._entries[toy][0]
    wait_for(entry.done.is_set, 120, "the warm-up has ended")
    assert warm.take(*toy) is None
    wait_for(lambda: entry.running.poll() is not None, 30, "the old one is killed")


@pytest.mark.docker
def test_the_backstop_of_a_warm_sandbox_covers_its_wait(config, toy):
    """docker's wall-clock cap counts from the start: lengthened by the longest wait (the local
    backend's sandbox dies with its grader, and has no cap of its own to lengthen)."""
    require_docker()
    warm = WarmPool(get_backend("docker", config), 1)
    try:
        warm.fill(*toy)
        running = _warm(warm, toy)
        running.container.reload()
        command = running.container.attrs["Config"]["Cmd"]
        assert command[:3] == ["timeout", "-s", "KILL"]
        assert int(command[3]) == toy[0].wall_s + int(warm.max_idle_s + warm.check_every_s + warm.warm_timeout_s)
    finally:
        warm.close()

def test_close_kills_every_warm_sandbox(backend, sandbox, pool, toy):
    warm = pool()
    warm.fill(*toy)
    running = _warm(warm, toy)
    torch = load_exercise(EXERCISES, "toytorch")
    warm.fill(limits_for(torch), preload_for(torch))     # one still warming when it closes
    warm.close()
    assert running.poll() is not None
    assert warm.closed and warm.take(*toy) is None
    warm.fill(*toy)                                       # a closed pool starts nothing
    assert warm.idle(*toy) == [] and not warm._entries
    if backend == "docker":
        from grader.sandbox.container import LABEL
        owner = {"label": [LABEL, f"grader.pid={os.getpid()}"]}
        wait_for(lambda: not sandbox.client.containers.list(all=True, filters=owner), 30,
                 "no container of this process is left")


def test_the_pool_setting_is_checked():
    assert Config(exercises_dir=EXERCISES).warm_pool is None
    assert Config.from_env({"GRADER_EXERCISES_DIR": str(EXERCISES), "GRADER_WARM_POOL": "2"}).warm_pool == 2
    for bad in ("-1", "5", "many"):
        with pytest.raises(ConfigError, match="GRADER_WARM_POOL"):
            Config.from_env({"GRADER_EXERCISES_DIR": str(EXERCISES), "GRADER_WARM_POOL": bad})
