"""GPU slots: which GPU a grading may use, leased for the length of one grading.

A worker declares its slots in GRADER_GPU_SLOTS, a comma-separated list of entries:

    0            GPU 0, whole (one grading at a time)
    MIG-4f1c...  a MIG instance, whole (its id as nvidia-smi -L prints it)
    0*4          GPU 0 shared by 4 gradings; each may use a quarter of its memory (NVML) or, when
                 NVML cannot say, what the exercise's manifest asks for (gpu_memory_mb)
    0*4=20000    GPU 0 shared by 4 gradings of at most 20000 MB each

A lease is an exclusive `flock` on one file per slot under `<instance>/gpu-slots/`: the pool
children of every worker on the host share them, and the kernel frees a slot when the process
holding it dies (killed, out of memory), so a lost worker never leaks a GPU. `lease_alone` takes
every slot of one GPU, in order (a plain lease never waits while it holds a slot, so the two
never deadlock): the out-of-memory regrade runs with the GPU to itself.

The core stays free of the queue: the worker leases, `grade(..., gpu=slot)` passes the device to
the sandbox (`device_ids` for docker, only that device's nodes for the local backend).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, SetupError
from .private_paths import private_dir

ENTRY = re.compile(r"(?P<device>\d+|MIG-[\w/-]+|GPU-[\w-]+)(?:\*(?P<shares>\d+)(?:=(?P<mb>\d+))?)?")
LEASE_WAIT_S = 300.0       # a worker never has more GPU gradings than slots: a long wait is a setup problem


@dataclass(frozen=True)
class GpuSlot:
    device: str                 # "0", "MIG-...", "GPU-<uuid>": what CUDA_VISIBLE_DEVICES / device_ids take
    index: int = 0              # which of the device's shares
    shares: int = 1
    memory_mb: int | None = None   # the budget of one share (None: whole device, or unknown)

    @property
    def shared(self) -> bool:
        return self.shares > 1

    def describe(self) -> str:
        """The device, in words for the report ("gpu 0, slot 2 of 4, 20000 MB")."""
        text = f"gpu {self.device}"
        if self.shared:
            text += f", slot {self.index + 1} of {self.shares}"
        if self.memory_mb:
            text += f", {self.memory_mb} MB"
        return text


def parse_slots(spec: str) -> list[GpuSlot]:
    """GRADER_GPU_SLOTS -> the slots, in order; a ConfigError naming the bad entry."""
    slots: list[GpuSlot] = []
    seen: set[str] = set()
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        match = ENTRY.fullmatch(entry)
        if not match:
            raise ConfigError(f"GRADER_GPU_SLOTS: {entry!r} is not a GPU slot: use a device index (0), a MIG or "
                              "GPU id, INDEX*N (N shared slots) or INDEX*N=MB (each with a memory budget)")
        device = match["device"]
        if device in seen:
            raise ConfigError(f"GRADER_GPU_SLOTS: device {device} is listed twice")
        seen.add(device)
        shares = int(match["shares"] or 1)
        if not 1 <= shares <= 64:
            raise ConfigError(f"GRADER_GPU_SLOTS: {entry!r}: between 1 and 64 slots per GPU")
        memory = int(match["mb"]) if match["mb"] else None
        if memory is not None and memory < 256:
            raise ConfigError(f"GRADER_GPU_SLOTS: {entry!r}: a slot needs at least 256 MB")
        slots += [GpuSlot(device, k, shares, memory) for k in range(shares)]
    return slots


class SlotPool:
    """The slots of this host, leased with file locks (see the module's docstring)."""

    def __init__(self, slots: list[GpuSlot], lock_dir: Path):
        self.slots = slots
        self.lock_dir = Path(lock_dir)

    def _path(self, slot: GpuSlot) -> Path:
        safe = re.sub(r"[^\w.-]", "_", slot.device)
        return self.lock_dir / f"{safe}.{slot.index}.lock"

    def _open(self, slot: GpuSlot) -> int:
        private_dir(self.lock_dir)               # under the instance folder: 0700 like the rest
        return os.open(self._path(slot), os.O_RDWR | os.O_CREAT, 0o600)

    def _try(self, slot: GpuSlot) -> int | None:
        fd = self._open(slot)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
            return None

    def check(self) -> None:
        """A worker's start check: every slot's lock file can be made and opened (a SetupError
        naming the folder otherwise; a worker that could lease nothing must not take work)."""
        for slot in self.slots:
            try:
                os.close(self._open(slot))
            except OSError as e:
                raise SetupError(f"cannot use the GPU slots' lock folder {self.lock_dir} ({e.strerror}): "
                                 "check GRADER_INSTANCE_DIR") from None

    @contextlib.contextmanager
    def lease(self, wait_s: float = LEASE_WAIT_S):
        """One free slot (the first found), held until the block ends."""
        if not self.slots:
            raise ConfigError("no GPU slots declared (GRADER_GPU_SLOTS)")
        deadline = time.monotonic() + wait_s
        while True:
            for slot in self.slots:
                fd = self._try(slot)
                if fd is not None:
                    try:
                        yield slot
                    finally:
                        os.close(fd)
                    return
            if time.monotonic() > deadline:
                raise SetupError(f"no GPU slot became free in {wait_s:.0f} s (GRADER_GPU_SLOTS declares "
                                 f"{len(self.slots)}; more GPU gradings run on this host than it has slots)")
            time.sleep(0.2)

    @contextlib.contextmanager
    def lease_alone(self, device: str):
        """Every slot of `device`, taken in order and held until the block ends: the whole GPU, with
        its whole memory (slot 0 with memory_mb=None stands for it)."""
        mine = [s for s in self.slots if s.device == device]
        if not mine:
            raise ConfigError(f"GPU {device} is not among GRADER_GPU_SLOTS")
        fds = []
        try:
            for slot in mine:
                fd = self._open(slot)
                fds.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield GpuSlot(device, 0, 1, None)
        finally:
            for fd in fds:
                os.close(fd)

    def busy_neighbours(self, slot: GpuSlot) -> int:
        """How many other slots of the same device are leased now (by any process on the host)."""
        count = 0
        for other in self.slots:
            if other.device == slot.device and other.index != slot.index:
                fd = self._try(other)
                if fd is None:
                    count += 1
                else:
                    os.close(fd)
        return count


def slot_pool(config) -> SlotPool:
    return SlotPool(parse_slots(config.gpu_slots), Path(config.instance_dir) / "gpu-slots")


# --- what NVML measures: the only evidence for the out-of-memory regrade ---------------------------

def oom_regrade_note(slot: GpuSlot, alone: bool, peak_neighbour_mb: float | None, result) -> str | None:
    """Why this grading must be graded again with the GPU to itself, or None: it ran on a shared
    slot, not yet alone, ended in a CUDA out-of-memory error, and NVML measured neighbours holding
    memory meanwhile (no measurement, no regrade: never on a guess, never on what was printed)."""
    if not slot.shared or alone or not peak_neighbour_mb or not is_cuda_oom(result):
        return None
    return (f"CUDA out of memory on {slot.describe()} while neighbours held up to {peak_neighbour_mb:.0f} MB "
            "(NVML): graded again with the GPU to itself")


def is_cuda_oom(result) -> bool:
    """The grading ended with a CUDA out-of-memory error in some test (the harness names the
    exception's type; whether a neighbour caused it is judged from NVML, not from this)."""
    for test in result.tests:
        if test.status == "error" and ("OutOfMemoryError" in (test.message or "")
                                       or "CUDA out of memory" in (test.message or "")):
            return True
    return False


class MemoryWatch:
    """Samples, on a thread, the GPU memory held on `device`, with NVML: by processes that are not
    this grading's sandbox (`own_pids()`; `peak_neighbour_mb` is the largest seen) and by the
    sandbox's own (`peak_own_mb`, and `own_s`: the seconds it saw them on the GPU, to one sampling
    interval). Without NVML (no driver, no pynvml) it measures nothing and reports None: no regrade
    is ever made on a guess, and a grading's usage says "no GPU" rather than a zero."""

    def __init__(self, device: str, own_pids, interval_s: float = 0.25, nvml=None):
        import threading
        self.device, self.own_pids, self.interval_s = device, own_pids, interval_s
        self.nvml = nvml if nvml is not None else _load_nvml()
        measured = None if self.nvml is None else 0.0
        self.peak_neighbour_mb: float | None = measured
        self.peak_own_mb: float | None = measured
        self.own_s: float | None = measured
        self._last_sample: float | None = None       # monotonic time of the last sample taken
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-memory-watch", daemon=True)

    def __enter__(self):
        if self.nvml is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def sample(self, now: float | None = None) -> None:
        """One look at the device; `now` (monotonic seconds) is the sample's time. The time since
        the last sample counts as time on the GPU when this one finds our processes there."""
        import time
        now = time.monotonic() if now is None else now
        try:
            held = self.nvml.process_memory_mb(self.device)      # {host pid: MB}
        except Exception:  # noqa: BLE001 - a sample that fails is a sample not taken
            return
        ours = set(self.own_pids())
        neighbours = sum(mb for pid, mb in held.items() if pid not in ours)
        mine = [mb for pid, mb in held.items() if pid in ours]
        self.peak_neighbour_mb = max(self.peak_neighbour_mb or 0.0, float(neighbours))
        self.peak_own_mb = max(self.peak_own_mb or 0.0, float(sum(mine)))
        if mine and self._last_sample is not None:
            self.own_s = round((self.own_s or 0.0) + max(0.0, now - self._last_sample), 3)
        self._last_sample = now

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)


class _Nvml:
    """pynvml (package nvidia-ml-py), reduced to the one question asked."""

    def __init__(self, pynvml):
        self.pynvml = pynvml
        pynvml.nvmlInit()

    def _handle(self, device: str):
        if device.isdigit():
            return self.pynvml.nvmlDeviceGetHandleByIndex(int(device))
        return self.pynvml.nvmlDeviceGetHandleByUUID(device)

    def process_memory_mb(self, device: str) -> dict[int, float]:
        processes = self.pynvml.nvmlDeviceGetComputeRunningProcesses(self._handle(device))
        return {p.pid: (p.usedGpuMemory or 0) / 2**20 for p in processes}


def _load_nvml():
    try:
        import pynvml
        return _Nvml(pynvml)
    except Exception:  # noqa: BLE001 - no package, no driver: nothing measured
        return None
