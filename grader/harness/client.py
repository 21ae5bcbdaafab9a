"""Trusted side: start the student runner in a sandbox and reach its objects through proxies.

Tests use `student.sigmoid(z)` or `student.Perceptron(2).fit(X, y)` as if the module were
imported; each access is one request over the wire, answered by value (data) or as a handle
(`Remote`). Every failure of the student's code becomes a `StudentError` with a sentence for the
student; a crash or a timeout kills the runner, which restarts at the next test.
"""
from __future__ import annotations

import inspect
import io
import os
import re
import selectors
import signal
import time

from ..results import Usage
from ..sandbox import Limits, Running, Sandbox, SandboxUnavailable
from ..sandbox.base import runner_digest
from . import wire


class StudentError(Exception):
    """A failure of the student's code; `str(e)` is shown to the student."""
    status = "error"


class StudentTimeout(StudentError):
    status = "timeout"


class StudentCrashed(StudentError):
    pass


class StudentMissing(StudentError, AttributeError):
    """A name or attribute the student did not define (an AttributeError, so `hasattr` works)."""


class StudentProcess:
    def __init__(self, sandbox: Sandbox, limits: Limits, chunks: list, load_timeout_s: float,
                 where_missing: dict[str, str] | None = None):
        """`where_missing`: for a name the code lacks (a test reads it, or the code's NameError),
        the sentence saying where it is instead (a cell that did not parse:
        `results.where_missing`), so its tests point at the cause."""
        self.sandbox, self.limits, self.chunks = sandbox, limits, chunks
        self.where_missing = dict(where_missing or {})
        self.load_timeout_s = load_timeout_s
        self.running = None
        self.generation = 0
        self.fatal: StudentError | None = None      # loading failed: it would fail the same way again
        self.broken: StudentError | None = None     # crashed in the current test
        self.load_errors: list = []
        self.starts = 0
        self.usage = Usage()                        # what every start so far cost, added up
        self.budget_s = load_timeout_s
        self.deadline = None
        self.module = Remote(self, wire.Ref(0, "module"), 0, "")
        self.loading = False
        self.load_deadline = 0.0
        self.environment: dict = {}    # the runner's Python and package versions (its first frame)
        self.past_ready = False      # the running runner's "ready" was read (and checked) by the pool

    # ------------------------------------------------------------ lifecycle
    def begin_test(self, budget_s: float) -> None:
        self.broken = None
        self.budget_s = budget_s
        self.deadline = None        # starts with the first call, after any restart

    def start(self, warm: Running | None = None) -> None:
        """Spawn the runner and send it the code. The reply is read when a test first needs it,
        so the student's imports overlap the suite's own start-up.

        `warm`: a never-used runner of these limits already past its "ready" (`harness.pool`),
        taken instead of starting one; a restart after a crash is always a cold start."""
        self.stop()
        self.past_ready = warm is not None
        self.running = warm if warm is not None else self.sandbox.start(self.limits)
        if warm is not None:
            self.environment = runner_environment((warm.ready or {}).get("environment"))
        self.generation += 1
        self.starts += 1
        self.module = Remote(self, wire.Ref(0, "module"), self.generation, "")
        self.load_deadline = time.monotonic() + self.load_timeout_s
        self.loading = True
        self._load_step(receive=False)

    def ensure_started(self) -> None:
        if self.fatal:
            raise self.fatal
        if self.broken:
            raise self.broken
        if not self.loading and (self.running is None or self.running.poll() is not None):
            self.start()
        if self.loading:
            self.loading = False
            if not self.past_ready:
                self._await_ready()
            self.past_ready = False
            errors = self._load_step(receive=True)
            if self.starts == 1 and isinstance(errors, list):
                self.load_errors = [e for e in errors if isinstance(e, list) and len(e) == 3
                                    and type(e[0]) is int and type(e[1]) is int and type(e[2]) is str]

    def _await_ready(self) -> None:
        """The runner's first frame, sent before any student code runs."""
        try:
            header, _ = self._receive(self.load_deadline)
            if header.get("value") != "ready":
                raise wire.WireError("no ready signal")
        except (EOFError, TimeoutError, wire.WireError, OSError) as e:
            output = self.running.output().strip()[-1000:]
            self.stop()
            raise SandboxUnavailable(f"the {self.sandbox.name} sandbox did not start "
                                     f"({type(e).__name__}): {output or 'no output'}") from None
        problem = ready_problem(self.sandbox, header)
        if problem:
            self.stop()
            raise SandboxUnavailable(problem)
        self.environment = runner_environment(header.get("environment"))

    def _load_step(self, receive: bool):
        header = {"op": "load", "arg": self._encode(self.chunks)}
        try:
            return self._exchange(header, "loading your code", self.load_deadline, self.load_timeout_s,
                                  send=not receive, receive=receive)
        except StudentError as e:
            self.fatal = type(e)(str(e))     # loading would fail the same way for every test
            raise self.fatal from None

    def output(self) -> str:
        return self.running.output() if self.running else ""

    def seed(self, seed: int) -> list:
        """Seed the student process (Python, numpy, torch and CUDA; torch's deterministic
        algorithms on) before a threshold test's training: what was seeded."""
        return self.request("seed", self.module, int(seed), f"seeding (seed {int(seed)})")

    def renew_budget(self) -> None:
        """Another seed of the same threshold test gets the test's whole time limit again."""
        self.deadline = None

    def stop(self, graceful: bool = False) -> None:
        if self.running is not None:
            self.last_output = self.running.output()
            self.running.kill(graceful)
            self.usage += self.running.usage()
            self.running = None

    # ------------------------------------------------------------ requests
    def library(self, name: str) -> "Remote":
        """A module imported in the student process (torch, torch.utils.data, ...), as a handle."""
        module = self.request("import", self.module, name, name)
        object.__setattr__(module, "_label", name)
        return module

    def request(self, op: str, target: "Remote", arg, label: str, ref: bool = False):
        if target._gen != self.generation and target._ref.id != 0:
            raise StudentCrashed(f"{label}: this object came from a run of your code that has stopped")
        self.ensure_started()
        if self.deadline is None:
            self.deadline = time.monotonic() + self.budget_s
        header = {"op": op, "target": target._ref.id, "arg": None, "ref": ref}
        blobs: list[bytes] = []
        header["arg"] = wire.encode(arg, blobs, self._send_ref)
        try:
            return self._exchange(header, label, self.deadline, self.budget_s, blobs)
        except (StudentTimeout, StudentCrashed) as e:
            self.broken = e
            raise

    def _encode(self, value):
        blobs: list[bytes] = []
        tree = wire.encode(value, blobs)
        assert not blobs
        return tree

    def _send_ref(self, value) -> wire.Ref:
        if isinstance(value, Remote) and value._gen == self.generation:
            return value._ref
        raise TypeError(f"cannot send a {type(value).__name__} to the student process")

    def _exchange(self, header: dict, label: str, deadline: float, budget: float, blobs=(),
                  send: bool = True, receive: bool = True):
        try:
            if send:
                self._send(header, list(blobs), deadline)
            if not receive:
                return None
            reply, reply_blobs = self._receive(deadline)
        except TimeoutError:
            self.stop()
            raise StudentTimeout(f"timed out after {budget:g} s in {label or 'your code'}") from None
        except (EOFError, BrokenPipeError):
            status = self._wait_exit()
            note = self.running.exit_note() if status is not None else None
            self.stop()
            when = "during import" if header["op"] == "load" else f"in {label}"
            raise StudentCrashed(f"your code exited {when} ({note or describe_exit(status, self.limits)})") from None
        except wire.WireError as e:
            self.stop()
            raise StudentCrashed(f"your code sent back something the grader cannot read in {label} ({e})") from None
        try:
            if reply.get("ok") is True:
                return wire.decode(reply.get("value"), reply_blobs, self._receive_ref)
            error = reply.get("error")
            if not isinstance(error, dict):
                raise wire.WireError("malformed error reply")
            raise student_exception(error, label, header, self.where_missing)
        except wire.WireError as e:
            raise StudentCrashed(f"{label} returned something the grader cannot read ({e})") from None

    def _receive_ref(self, ref: wire.Ref) -> "Remote":
        return Remote(self, ref, self.generation, ref.kind)

    def _send(self, header: dict, blobs: list[bytes], deadline: float) -> None:
        send_frame(self.running, header, blobs, deadline)

    def _receive(self, deadline: float):
        return receive_frame(self.running, deadline)

    def _wait_exit(self) -> int | None:
        for _ in range(50):
            status = self.running.poll()
            if status is not None:
                return status
            time.sleep(0.02)
        return None


def send_frame(running: Running, header: dict, blobs: list[bytes], deadline: float) -> None:
    """Write one frame, never blocking past `deadline` (a busy student may not be reading)."""
    buf = io.BytesIO()
    wire.write_frame(buf, header, blobs)
    out = memoryview(buf.getvalue())
    fd = running.stdin.fileno()
    os.set_blocking(fd, False)
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_WRITE)
        while out:
            _wait(sel, deadline)
            out = out[os.write(fd, out):]


def receive_frame(running: Running, deadline: float):
    """(header, blobs) of the runner's next frame; TimeoutError past `deadline`, EOFError at its end."""
    fd = running.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        prefix = _read(sel, fd, 8, deadline)
        body = _read(sel, fd, wire.frame_length(prefix), deadline)
    return wire.split_frame(body)


def ready_problem(sandbox: Sandbox, header: dict) -> str | None:
    """What is wrong with the sandbox, by its runner's "ready" frame (the course's packages it
    cannot import, another runner version), for the operator; None when it is fine."""
    missing = header.get("missing")
    if missing:
        return missing_packages_message(sandbox, missing)
    if header.get("runner") != runner_digest():
        return (f"the {sandbox.name} sandbox runs another version of the student runner "
                f"({header.get('runner')!s:.20}, this grader has {runner_digest()}): rebuild the sandbox "
                "image with `grader sandbox build`")
    return None


def missing_packages_message(sandbox: Sandbox, missing) -> str:
    from ..sandbox.base import STUDENT_REQUIREMENTS
    listed = "; ".join(f"{k} ({v})" for k, v in dict(missing).items()) if isinstance(missing, dict) else "?"
    return (f"the {sandbox.name} sandbox's Python ({sandbox.interpreter()}) cannot import the course's packages: "
            f"{listed[:600]}; install them there (`python -m pip install -r {STUDENT_REQUIREMENTS}`) and "
            "make them readable by every user, or set GRADER_SANDBOX_PYTHON to an interpreter that has them")


def runner_environment(found) -> dict:
    """The versions the runner reported, as short strings (python, numpy, torch, torchvision)."""
    found = found if isinstance(found, dict) else {}
    return {name: str(found[name])[:80] if found.get(name) is not None else None
            for name in ("python", "numpy", "torch", "torchvision")}


def _wait(sel, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not sel.select(remaining):
        raise TimeoutError


def _read(sel, fd: int, n: int, deadline: float) -> bytes:
    chunks, got = [], 0
    while got < n:
        _wait(sel, deadline)
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def describe_exit(status: int | None, limits: Limits) -> str:
    if status is None:
        return "it stopped answering"
    if status < 0:
        name = signal.Signals(-status).name if -status in signal.Signals._value2member_map_ else str(-status)
        hint = {"SIGKILL": f": killed, often for using more than {limits.memory_mb} MB of memory",
                "SIGXCPU": ": it used up its CPU time", "SIGXFSZ": f": it wrote a file over {limits.file_mb} MB",
                "SIGSEGV": ": it crashed"}.get(name, "")
        return f"signal {name}{hint}"
    return f"exit status {status}"


def student_exception(error: dict, label: str, header: dict, where_missing: dict | None = None) -> StudentError:
    etype = str(error.get("type", "Exception"))[:100]
    message = str(error.get("message", ""))[:2000]
    where = ""
    if isinstance(error.get("cell"), int):
        where = f" (cell {error['cell']}, line {error.get('line')})"
    if etype == "AttributeError" and header["op"] == "get":
        if header["target"] == 0:
            name = header["arg"]
            found = (where_missing or {}).get(name) if isinstance(name, str) else None
            return StudentMissing(found or f"your code does not define `{name}`")
        return StudentMissing(f"{label}: {message}")
    if etype == "SystemExit":
        return StudentError(f"your code called exit() in {label} ({message}){where}")
    if etype == "MemoryError":
        return StudentError(f"your code ran out of memory in {label}{where}")
    undefined = _UNDEFINED.match(message) if etype == "NameError" else None
    found = (where_missing or {}).get(undefined.group(1)) if undefined else None
    return StudentError(f"{label} raised {etype}: {message}{where}" + (f"; {found}" if found else ""))


_UNDEFINED = re.compile(r"name '(\w+)' is not defined")


def by_ref(target: "Remote", *args, **kwargs) -> "Remote":
    """Call `target` in the student process and keep the result there, as a handle.

    For values that must stay where they are: a tensor whose autograd graph a test follows
    (`by_ref(model, x).sum` ...), a tensor on the GPU, an iterator.
    """
    proc = object.__getattribute__(target, "_proc")
    label = object.__getattribute__(target, "_label")
    value = proc.request("call", target, (list(args), kwargs), label, ref=True)
    if isinstance(value, Remote):
        object.__setattr__(value, "_label", f"{label}(...)")
    return value


def signature(target) -> dict | None:
    """{"parameters": [...], "kwargs": bool} of a callable: the names a call can pass by keyword and
    whether it takes **kwargs; read where the callable lives (inspect in the student process for a
    `Remote`, here for a local one). None when the signature cannot be read."""
    if not isinstance(target, Remote):
        try:
            params = inspect.signature(target).parameters.values()
        except Exception:  # noqa: BLE001 - no signature, or one that cannot be read
            return None
        return {"parameters": [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)],
                "kwargs": any(p.kind is p.VAR_KEYWORD for p in params)}
    proc = object.__getattribute__(target, "_proc")
    label = object.__getattribute__(target, "_label")
    value = proc.request("signature", target, None, label)
    if (isinstance(value, dict) and isinstance(value.get("parameters"), list)
            and all(isinstance(n, str) for n in value["parameters"]) and isinstance(value.get("kwargs"), bool)):
        return value
    return None


def accepts(target, name: str) -> bool:
    """Whether `target(..., name=...)` is a call its signature allows: `name` is a parameter, or it
    takes **kwargs. True as well when the signature cannot be read (the call then decides)."""
    return _allows(signature(target), name)


def _allows(found: dict | None, name: str) -> bool:
    return found is None or found["kwargs"] or name in found["parameters"]


def call_optional(target, *args, optional: dict | None = None, **kwargs):
    """`target(*args, **kwargs, **optional)`, passing each optional keyword (verbose=False,
    print_cost=False, ...) only when the signature accepts it. The other keywords are always
    passed: a signature without them fails as it would without this helper."""
    found = signature(target) if optional else None
    extra = {k: v for k, v in (optional or {}).items() if _allows(found, k)}
    return target(*args, **kwargs, **extra)


class Remote:
    """A handle to an object in the student process: attributes, calls, and passing back as argument."""

    __slots__ = ("_proc", "_ref", "_gen", "_label")

    def __init__(self, proc: StudentProcess, ref: wire.Ref, gen: int, label: str):
        object.__setattr__(self, "_proc", proc)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_gen", gen)
        object.__setattr__(self, "_label", label)

    def _child(self, name: str) -> str:
        return f"{self._label}.{name}" if self._label else name

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)       # copy/pickle/inspect probing never goes remote
        proc = object.__getattribute__(self, "_proc")
        value = proc.request("get", self, name, self._child(name))
        if isinstance(value, Remote):
            object.__setattr__(value, "_label", self._child(name))
        return value

    def __setattr__(self, name: str, value) -> None:
        self._proc.request("set", self, (name, value), self._child(name))

    def __call__(self, *args, **kwargs):
        return self._proc.request("call", self, (list(args), kwargs), self._label)

    def __repr__(self) -> str:
        return f"<student {self._ref.kind} {self._label}>"
