"""The sandbox interface: start the student runner under limits, hand back its pipes."""
from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import SandboxUnavailable  # noqa: F401 - re-exported by the sandbox package
from ..results import Usage

RUNNER_FILES = ("student_runner.py", "wire.py")
RUNNER_DIR = Path(__file__).resolve().parent.parent / "harness"
STUDENT_REQUIREMENTS = Path(__file__).resolve().parent / "student-requirements.txt"
IMPORT_NAMES = {"scikit-learn": "sklearn"}     # distribution name -> module name, where they differ


@lru_cache(maxsize=1)
def student_packages() -> tuple[tuple[str, str], ...]:
    """(requirement, module) of each package in the student environment (student-requirements.txt)."""
    import re
    packages = []
    for line in STUDENT_REQUIREMENTS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name = re.match(r"[A-Za-z0-9._-]+", line).group(0)
            packages.append((line, IMPORT_NAMES.get(name.lower(), name.lower().replace("-", "_"))))
    return tuple(packages)


@lru_cache(maxsize=1)
def runner_digest() -> str:
    """Identifies the student side; the runner reports its own, so a stale sandbox image is caught."""
    digest = hashlib.sha256()
    for name in RUNNER_FILES:
        digest.update((RUNNER_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048      # address space of the student process (data size when it uses a GPU)
    cpu_threads: int = 1       # BLAS / torch threads
    cpu_s: int = 600           # CPU seconds over the process's life (backstop; tests have wall limits)
    wall_s: int = 900          # life of the sandbox even if the grader dies (backstop)
    pids: int = 64             # processes and threads
    file_mb: int = 64          # largest file it may write
    output_kb: int = 64        # captured stdout+stderr kept; the rest is counted and dropped
    gpu: bool = False          # expose a GPU when the host has one (the torch exercises)
    gpu_memory_mb: int = 0     # the runner caps torch's allocator at this on each GPU (0: no cap)
    gpu_device: str | None = None   # a leased GPU slot's device ("0", "MIG-..."): only that one is shown


def student_environment(limits: Limits, home: str, tmpdir: str, user: str) -> dict:
    """All the student process sees of the environment, in every backend: no secrets, thread
    counts from its CPU share, a matplotlib that never opens a window, and a user name (torch
    and getpass look the user up; each backend also gives the uid a passwd entry)."""
    threads = str(limits.cpu_threads)
    return {"HOME": home, "TMPDIR": tmpdir, "USER": user, "LOGNAME": user,
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg", "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads, "GRADER_CPU_THREADS": threads,
            # the runner's start check: it says "ready" only if its interpreter finds all of these
            "GRADER_REQUIRED_MODULES": ",".join(module for _, module in student_packages()),
            # OpenMP threads that spin while waiting made torch 25-40x slower on a busy 2-core
            # machine (measured with other sandboxes running): waiting threads sleep instead.
            "OMP_WAIT_POLICY": "PASSIVE",
            **({"GRADER_GPU_MEMORY_MB": str(limits.gpu_memory_mb)} if limits.gpu and limits.gpu_memory_mb else {})}


class Running(ABC):
    """A started student runner: `stdin`/`stdout` carry the protocol; `output()` is what it printed."""

    stdin = None
    stdout = None
    ready: dict | None = None      # its "ready" frame, once a warm pool has read it ahead

    def __init__(self, output_limit: int):
        self._output = bytearray()
        self._output_total = 0
        self._output_limit = output_limit
        self._lock = threading.Lock()

    def _drain(self, stream) -> None:
        """Read the student's prints forever, keeping the first `output_limit` bytes."""
        while True:
            # read1: what is there now (a buffered read(n) would wait for n bytes or the end, so a
            # grading that reads the output before stopping the runner found none)
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            self._keep(chunk)

    def _keep(self, chunk: bytes) -> None:
        with self._lock:
            self._output_total += len(chunk)
            room = self._output_limit - len(self._output)
            if room > 0:
                self._output += chunk[:room]

    def output(self) -> str:
        with self._lock:
            text = self._output.decode("utf-8", "replace")
            if self._output_total > len(self._output):
                text += f"\n[... output cut: {self._output_total:,} bytes printed, first {len(self._output):,} kept]"
            return text

    def exit_note(self) -> str | None:
        """What the backend knows for sure about why it stopped (e.g. the OOM killer), if anything."""
        return None

    def usage(self) -> Usage:
        """The CPU seconds its processes used, as this side measures them (the kernel's or the
        engine's count, never the student's word); complete once `kill()` returned. The
        backends only fill `cpu_s`: the GPU is measured per grading (`gpus.MemoryWatch`)."""
        return Usage()

    @abstractmethod
    def poll(self) -> int | None:
        """Exit status if it has stopped (negative: killed by that signal), else None."""

    @abstractmethod
    def kill(self, graceful: bool = False) -> None:
        """Stop it and everything it started, and clean up; safe to call twice.

        `graceful`: it is at rest between requests, so closing its input ends it cleanly first."""


class Sandbox(ABC):
    name = "?"

    @abstractmethod
    def start(self, limits: Limits) -> Running:
        ...

    @abstractmethod
    def interpreter(self) -> str:
        """Which Python runs student code, in words for an operator's message."""

    @abstractmethod
    def describe(self) -> dict:
        """What isolation is in force, in words for the report (backend, network, files, device)."""

    @abstractmethod
    def own_pids(self) -> set[int]:
        """Host pids of the sandboxes this process runs now (the GPU memory watch tells them from
        a neighbour's)."""
