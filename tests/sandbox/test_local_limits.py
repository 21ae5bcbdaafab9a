"""The local backend's rlimits: address space on the CPU, data size when a GPU is exposed (CUDA
reserves far more address space than any memory limit)."""
import json
import os
import resource

from grader.sandbox import Limits
from grader.sandbox.local import _apply_rlimits

MB = 1024 * 1024
NAMES = ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE")


def limits_in_child(gpu: bool) -> dict:
    """The limits a child sees after `_apply_rlimits`, read back over a pipe. A plain fork: no
    threads in the child (a new thread's stack may not fit under the address-space limit)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            _apply_rlimits(Limits(memory_mb=1500, cpu_s=50, file_mb=7, pids=4096), count_existing=False, gpu=gpu)
            os.write(write_fd, json.dumps({n: resource.getrlimit(getattr(resource, n))[1] for n in NAMES}).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_cpu_sandbox_limits_address_space():
    got = limits_in_child(gpu=False)
    assert got["RLIMIT_AS"] == 1500 * MB
    assert got["RLIMIT_CPU"] == 50 and got["RLIMIT_FSIZE"] == 7 * MB and got["RLIMIT_CORE"] == 0


def test_gpu_sandbox_limits_data_instead():
    got = limits_in_child(gpu=True)
    assert got["RLIMIT_DATA"] == 1500 * MB
    assert got["RLIMIT_AS"] == resource.getrlimit(resource.RLIMIT_AS)[1]    # left as it was
