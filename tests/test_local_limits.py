"""The local backend's rlimits: address space on the CPU, data size when a GPU is exposed (CUDA
reserves far more address space than any memory limit)."""
import multiprocessing
import resource

from grader.sandbox import Limits
from grader.sandbox.local import _apply_rlimits

MB = 1024 * 1024


def _limits_after(gpu: bool, queue) -> None:
    _apply_rlimits(Limits(memory_mb=1500, cpu_s=50, file_mb=7, pids=4096), count_existing=False, gpu=gpu)
    queue.put({name: resource.getrlimit(getattr(resource, name))[1]
               for name in ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE")})


def limits_in_child(gpu: bool) -> dict:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_limits_after, args=(gpu, queue))
    child.start()
    child.join(30)
    return queue.get(timeout=5)


def test_cpu_sandbox_limits_address_space():
    got = limits_in_child(gpu=False)
    assert got["RLIMIT_AS"] == 1500 * MB
    assert got["RLIMIT_CPU"] == 50 and got["RLIMIT_FSIZE"] == 7 * MB and got["RLIMIT_CORE"] == 0


def test_gpu_sandbox_limits_data_instead():
    got = limits_in_child(gpu=True)
    assert got["RLIMIT_DATA"] == 1500 * MB
    assert got["RLIMIT_AS"] == resource.getrlimit(resource.RLIMIT_AS)[1]    # left as it was
