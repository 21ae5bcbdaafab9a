"""GPU slots: the setting, leases between real processes, the device each backend is given, and
the out-of-memory regrade's evidence. No GPU here (nor in CI): the device nodes are stand-ins
(symlinks to /dev/null, which are character devices) and NVML is a stand-in object (a mock: a
neighbour holding GPU memory cannot be caused without a GPU); said again where used."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest
from docker.types import DeviceRequest

from grader.config import Config
from grader.errors import ConfigError, SetupError
from grader.gpus import GpuSlot, MemoryWatch, SlotPool, oom_regrade_note, parse_slots
from grader.results import GradeResult, TestResult
from grader.sandbox import Limits
from grader.sandbox.container import DockerSettings, container_options, gpu_request
from grader.sandbox.local import gpu_device_nodes
from support import wait_for


def test_slot_forms():
    assert parse_slots("") == []
    assert parse_slots("0,1") == [GpuSlot("0"), GpuSlot("1")]
    mig = "MIG-4f1c2b3a-1111-2222-3333-444455556666"
    assert parse_slots(f" {mig} ") == [GpuSlot(mig)]
    assert parse_slots("0*3") == [GpuSlot("0", k, 3, None) for k in range(3)]
    shared = parse_slots("0*2=20000,1")
    assert shared == [GpuSlot("0", 0, 2, 20000), GpuSlot("0", 1, 2, 20000), GpuSlot("1")]
    assert shared[1].describe() == "gpu 0, slot 2 of 2, 20000 MB" and shared[2].describe() == "gpu 1"


@pytest.mark.parametrize("spec, words", [("zero", "'zero' is not a GPU slot"), ("0,0", "listed twice"),
                                         ("0*0", "between 1 and 64"), ("0*2=10", "at least 256 MB"),
                                         ("0;rm -rf", "is not a GPU slot")])
def test_bad_slots_are_a_config_error_naming_the_entry(spec, words):
    with pytest.raises(ConfigError, match="GRADER_GPU_SLOTS") as info:
        Config(gpu_slots=spec)
    assert words in str(info.value)


def _hold(lock_dir, spec, ready, release, seen):
    """Hold one slot until the file `release` exists (a file, not an Event: a holder is SIGKILLed,
    which would leave an Event's lock taken)."""
    pool = SlotPool(parse_slots(spec), lock_dir)
    with pool.lease(wait_s=30) as slot:
        seen.put(slot.index)
        ready.set()
        wait_for(release.exists, 60, "the test releases the slot", every_s=0.05)
    (release.parent / f"released-{slot.index}").touch()


def test_leases_are_exclusive_across_processes_and_freed_when_the_holder_dies(tmp_path):
    ctx = multiprocessing.get_context("fork")
    seen, release = ctx.Queue(), tmp_path / "release"
    holders, indexes = [], []
    for _ in range(2):
        ready = ctx.Event()
        p = ctx.Process(target=_hold, args=(tmp_path, "0*2", ready, release, seen))
        p.start()
        assert ready.wait(30)
        holders.append(p)
        indexes.append(seen.get(timeout=5))
    assert sorted(indexes) == [0, 1]
    pool = SlotPool(parse_slots("0*2"), tmp_path)
    assert pool.busy_neighbours(GpuSlot("0", 0, 2)) == 1
    with pytest.raises(SetupError, match="no GPU slot became free"):
        with pool.lease(wait_s=0.5):
            pass
    os.kill(holders[0].pid, signal.SIGKILL)          # the kernel frees its lock
    holders[0].join(10)
    with pool.lease(wait_s=10) as slot:
        assert slot.index == indexes[0]           # the dead holder's slot
    release.touch()
    holders[1].join(10)


def test_lease_alone_waits_for_every_slot_of_the_gpu(tmp_path):
    ctx = multiprocessing.get_context("fork")
    seen, release, ready = ctx.Queue(), tmp_path / "release", ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path, "0*2", ready, release, seen))
    holder.start()
    assert ready.wait(30)
    held = seen.get(timeout=5)
    pool = SlotPool(parse_slots("0*2"), tmp_path)
    got: dict = {}

    def take_whole_gpu():
        got["trying"] = True
        with pool.lease_alone("0") as whole:
            # only once the holder had let its slot go
            got["after_release"] = (tmp_path / f"released-{held}").exists()
            got["whole"] = whole
            got["neighbours"] = pool.busy_neighbours(GpuSlot("0", 1, 2))     # slot 0 is held by us
    taker = threading.Thread(target=take_whole_gpu)
    taker.start()
    wait_for(lambda: got.get("trying"), 10, "lease_alone is asked for")
    release.touch()
    taker.join(30)
    assert got["after_release"] is True and got["whole"] == GpuSlot("0", 0, 1, None)   # no per-slot budget
    assert got["neighbours"] == 1
    holder.join(10)


def test_local_backend_shows_only_the_leased_gpu(tmp_path):
    # stand-in device nodes: symlinks to /dev/null are character devices to is_char_device()
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-caps/nvidia-cap1"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).symlink_to("/dev/null")
    every = {f"{tmp_path}/{n}" for n in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-caps/nvidia-cap1")}
    assert set(gpu_device_nodes(None, tmp_path)) == every
    assert set(gpu_device_nodes("1", tmp_path)) == every - {f"{tmp_path}/nvidia0"}
    assert set(gpu_device_nodes("MIG-abc", tmp_path)) == every       # CUDA_VISIBLE_DEVICES picks it


def test_docker_backend_requests_only_the_leased_device():
    limits = Limits(gpu=True, gpu_device="MIG-abc")
    options = container_options(limits, DockerSettings("img", "auto", None), gpu_request("all", True), {})
    assert options["device_requests"] == [DeviceRequest(device_ids=["MIG-abc"], capabilities=[["gpu"]])]
    cpu_only = container_options(Limits(gpu=False, gpu_device="0"), DockerSettings("img", "auto", None),
                                 gpu_request("all", True), {})
    assert "device_requests" not in cpu_only


class FakeNvml:
    """A stand-in for NVML (a mock: no GPU here): per-process GPU memory on device 0."""

    def __init__(self, held):
        self.held = held

    def process_memory_mb(self, device):
        assert device == "0"
        return dict(self.held)


def oom_result(message="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"):
    return GradeResult(exercise="pytorch-basics", score=0.0, max_score=10.0, bonus=0.0, bonus_max=0.0, tests=[
        TestResult(name="test_train", description="", status="error", points=0.0, max_points=10.0, message=message)])


def test_memory_watch_counts_only_other_processes():
    watch = MemoryWatch("0", own_pids=lambda: {100, 101}, nvml=FakeNvml({100: 5000, 101: 1000, 200: 3000, 300: 500}))
    watch.sample()
    assert watch.peak_neighbour_mb == 3500
    watch.nvml.held = {100: 9000}
    watch.sample()
    assert watch.peak_neighbour_mb == 3500               # the peak stays
    assert MemoryWatch("0", own_pids=set, nvml=None).peak_neighbour_mb is None    # no NVML: nothing measured
    with MemoryWatch("0", own_pids=lambda: {1}, interval_s=0.01, nvml=FakeNvml({2: 700})) as live:
        wait_for(lambda: live.peak_neighbour_mb == 700, 10, "the watch's thread samples")


def test_memory_watch_records_our_own_peak_and_seconds_on_the_gpu():
    watch = MemoryWatch("0", own_pids=lambda: {100, 101}, nvml=FakeNvml({}))
    assert (watch.own_s, watch.peak_own_mb) == (0.0, 0.0)       # NVML, but nothing of ours seen yet
    for now, held in [(10.0, {200: 700}),                    # a neighbour only: not our time
                      (10.5, {100: 1000, 200: 700}),         # ours appear: the 0.5 s since the last look
                      (11.5, {100: 1500, 101: 500}),         # both of ours: 2000 MB at once, 1 s more
                      (12.0, {100: 800}),
                      (13.0, {200: 900}),                    # ours gone: no more time
                      (14.0, {101: 0})]:                     # on the GPU without a figure (MIG): time only
        watch.nvml.held = held
        watch.sample(now)
    assert watch.own_s == pytest.approx(0.5 + 1.0 + 0.5 + 1.0)
    assert watch.peak_own_mb == 2000 and watch.peak_neighbour_mb == 900
    blind = MemoryWatch("0", own_pids=set, nvml=None)          # no GPU, no NVML: None, never a zero
    assert (blind.own_s, blind.peak_own_mb) == (None, None)


def test_oom_regrade_needs_a_shared_slot_a_measured_neighbour_and_a_cuda_oom():
    shared, whole = GpuSlot("0", 1, 4, 20000), GpuSlot("0")
    note = oom_regrade_note(shared, False, 3500.0, oom_result())
    assert note and "3500 MB" in note and "gpu 0, slot 2 of 4" in note
    assert oom_regrade_note(whole, False, 3500.0, oom_result()) is None          # nobody else on it
    assert oom_regrade_note(shared, True, 3500.0, oom_result()) is None          # already alone: once only
    assert oom_regrade_note(shared, False, 0.0, oom_result()) is None            # no neighbour measured
    assert oom_regrade_note(shared, False, None, oom_result()) is None           # no NVML: no guess
    assert oom_regrade_note(shared, False, 3500.0, oom_result("AssertionError: accuracy 0.4")) is None
