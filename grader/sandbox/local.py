"""Local backend: the student runner as a subprocess in its own namespaces, under rlimits.

Where the OS allows it (`unshare`), the process gets a new network namespace (no network at all),
a PID namespace (killing its first process kills everything it forked, daemons included) and a
mount namespace in which the exercises, solutions and data folders are covered by empty tmpfs.
As root it also drops to a throwaway uid, so it cannot read the grader's /proc entries and the
process limit counts only its own processes. Whatever could not be applied is said in `describe()`.
"""
from __future__ import annotations

import os
import random
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from .base import RUNNER_DIR, RUNNER_FILES, Limits, Running, Sandbox, student_environment

NS_FLAGS = ["--net", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child"]
# In its mount namespace the sandbox gets its own small tmpfs over each world-writable folder (its
# only writable places), and sees the runner through a bind mount on /mnt, outside them.
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
SCRATCH_MB = 64
RUNNER_MOUNT = "/mnt"
PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")   # machine-specific BLAS correctness


def host_has_gpu() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


@lru_cache(maxsize=1)
def namespace_support() -> tuple[list[str] | None, str]:
    """The unshare prefix that works here (None if none does) and why, probed once per process."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None, "unshare is not installed"
    prefix = [unshare] + ([] if os.geteuid() == 0 else ["--user", "--map-root-user"]) + NS_FLAGS
    try:
        probe = subprocess.run(prefix + ["true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"unshare failed: {e}"
    if probe.returncode != 0:
        return None, "unshare is not permitted here: " + probe.stderr.decode(errors="replace").strip()[:200]
    return prefix, "ok"


def scratch_dirs(python: str) -> list[str]:
    """The world-writable folders the sandbox gets its own tmpfs over: all of them, except one
    holding the interpreter it runs (a checkout or venv under /tmp would vanish)."""
    if not os.path.isdir(RUNNER_MOUNT):
        return []
    needed = {Path(python).absolute(), Path(python).resolve()}
    if python == sys.executable:
        needed |= {Path(sys.prefix).absolute(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return [d for d in SCRATCH if os.path.isdir(d)
            and not any(p.is_relative_to(d) or p.is_relative_to(Path(d).resolve()) for p in needed)]


class LocalSandbox(Sandbox):
    name = "local"

    def __init__(self, config):
        self.hidden_paths = [Path(p) for p in config.sandbox_hidden_paths if Path(p).exists()]
        self.root = config.sandbox_root
        self.python = config.sandbox_python
        self.drop_uid = os.geteuid() == 0 and shutil.which("setpriv") is not None
        self.scratch = scratch_dirs(self.python) if namespace_support()[0] is not None else []

    def describe(self) -> dict:
        prefix, why = namespace_support()
        isolated = prefix is not None
        return {
            "backend": "local",
            "network": "none (own network namespace)" if isolated else f"NOT isolated ({why})",
            "processes": "own PID namespace" if isolated else "process group only",
            "files": (f"grader folders hidden; own {SCRATCH_MB} MB "
                      + ", ".join(self.scratch if "/tmp" in self.scratch else ["working folder", *self.scratch])
                      + ("" if "/tmp" in self.scratch else "; /tmp is the host's (the grader's Python is there)")
                      if isolated else "NOT hidden: the code could read the grader's files"),
            "user": "throwaway uid" if self.drop_uid else "same user as the grader",
            "device": "cpu",     # the suite's `device` fixture records what the code really used
        }

    def start(self, limits: Limits) -> "LocalRunning":
        return LocalRunning(self, limits)


class LocalRunning(Running):
    def __init__(self, sandbox: LocalSandbox, limits: Limits):
        super().__init__(limits.output_kb * 1024)
        self.workdir = Path(tempfile.mkdtemp(prefix="grader-sbx-", dir=sandbox.root))
        runner_dir = self.workdir / ".runner"
        runner_dir.mkdir()
        for name in RUNNER_FILES:
            shutil.copy(RUNNER_DIR / name, runner_dir / name)
        self.gpu = limits.gpu and host_has_gpu()
        self.uid = random.randrange(200_000, 2_000_000) if sandbox.drop_uid else None
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.uid)
        os.chmod(self.workdir, 0o700)

        prefix, _ = namespace_support()
        covered = sandbox.scratch if prefix is not None else []
        self.home = _home(self.workdir, covered, prefix is not None)
        runner = f"{RUNNER_MOUNT}/student_runner.py" if covered else str(runner_dir / "student_runner.py")
        python = [sandbox.python, "-I", "-X", "utf8", runner]
        if self.uid is not None:
            python = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                      "--no-new-privs", "--"] + python
        if prefix is not None:
            mounts = "".join(f"mount -t tmpfs -o size=16k,mode=000 none {shlex.quote(str(p))} && "
                             for p in sandbox.hidden_paths)
            if covered:
                mounts += f"mount --bind {shlex.quote(str(runner_dir))} {RUNNER_MOUNT} && "
            if self.home not in covered:     # an own tmpfs inside the working folder
                (self.workdir / "home").mkdir()
                covered = [self.home, *covered]
            mounts += "".join(f"mount -t tmpfs -o size={SCRATCH_MB}m,mode=1777 none {shlex.quote(d)} && "
                              for d in covered)
            mounts += f"cd {shlex.quote(self.home)} && "
            argv = prefix + ["/bin/sh", "-c", f"{mounts}exec {shlex.join(python)}"]
        else:
            argv = python
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.workdir, env=self._environment(limits), start_new_session=True,
            preexec_fn=lambda: _apply_rlimits(limits, self.uid is None, self.gpu), close_fds=True)
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def _environment(self, limits: Limits) -> dict:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **student_environment(limits, self.home, self.home)}
        env.update({k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ})
        if not self.gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""     # torch then does not even probe the driver
        elif "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        return env

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self, graceful: bool = False) -> None:
        if graceful and self.proc.poll() is None:
            _close(self.proc.stdin)      # a runner at rest exits at the end of its input
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            # The namespace's first process dies first, so unshare reaps it (an orphan would wait
            # for the host's init); its death takes every other process of the namespace with it.
            for pid in [*_children(self.proc.pid), self.proc.pid]:
                _signal(pid, signal.SIGKILL)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.uid is not None:     # anything that escaped without a PID namespace
            _kill_uid(self.uid)
        _close(self.proc.stdin)
        _close(self.proc.stdout)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _home(workdir: Path, covered: list[str], namespaces: bool) -> str:
    """Where the student's code starts, with HOME and TMPDIR: a covered /tmp when there is one."""
    if not namespaces:
        return str(workdir)
    if "/tmp" in covered:
        return "/tmp"
    return next((d for d in covered if workdir.is_relative_to(d)), str(workdir / "home"))


def _close(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry))
    return found


def _apply_rlimits(limits: Limits, count_existing: bool, gpu: bool) -> None:
    """Runs in the child before exec: the limits every process of the sandbox inherits.

    CUDA reserves far more address space than any sane RLIMIT_AS, so with a GPU the memory limit
    applies to the data segment instead (private writable memory, where arrays live).
    """
    mb = 1024 * 1024
    nproc = limits.pids
    if count_existing:   # not root: the process limit counts every process this user already has
        nproc += len(_processes_of(os.getuid())) * 4   # threads count too
    memory = resource.RLIMIT_DATA if gpu else resource.RLIMIT_AS
    for res, value in ((memory, limits.memory_mb * mb),
                       (resource.RLIMIT_CPU, limits.cpu_s),
                       (resource.RLIMIT_FSIZE, limits.file_mb * mb),
                       (resource.RLIMIT_NPROC, nproc),
                       (resource.RLIMIT_CORE, 0),
                       (resource.RLIMIT_NOFILE, 1024)):
        resource.setrlimit(res, (value, value))


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _kill_uid(uid: int, patience_s: float = 5.0) -> None:
    """Kill every process of the throwaway uid and wait until the kernel has reaped them all."""
    deadline = time.monotonic() + patience_s
    while (pids := _processes_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.01)

