"""The student side: load the submission, then serve the suite's calls until stdin closes.

Runs inside the sandbox, as its own program (`python -I student_runner.py`), next to a copy of
`wire.py`. It holds no secrets and knows nothing of the tests: it executes what it is told to load
and answers get/set/call requests. The protocol uses the original stdin/stdout; the student's own
prints are moved to stderr, which the sandbox captures with a cap.
"""
import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

MAX_TEXT = 2000


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)                       # print() now goes to the captured stderr stream
    sys.stdout = sys.stderr
    server = Server()
    # "ready" before any student code runs: a failure before it is the sandbox's, never the student's
    wire.write_frame(proto_out, {"ok": True, "value": "ready", "runner": own_digest(),
                                 "missing": missing_modules(), "environment": environment()})
    while True:
        frame = wire.read_frame(proto_in)
        if frame is None:
            return
        header, blobs = frame
        reply_blobs: list[bytes] = []
        try:
            value = server.handle(header, blobs)
            if header.get("ref") and value is not None:    # the suite asked for a handle, not a copy
                value = server.make_ref(value)
            reply = {"ok": True, "value": wire.encode(value, reply_blobs, server.make_ref)}
        except BaseException as e:  # noqa: BLE001 - every student failure is reported, never fatal
            reply_blobs = []
            reply = {"ok": False, "error": describe(e)}
        try:
            wire.write_frame(proto_out, reply, reply_blobs)
        except wire.WireError as e:
            wire.write_frame(proto_out, {"ok": False, "error": {"type": "WireError", "message": str(e)}})


class Server:
    def __init__(self):
        self.module = types.ModuleType("student")
        self.module.__file__ = "student.py"
        sys.modules["student"] = self.module
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}      # id(obj) -> handle id, so one object keeps one handle
        self.next_id = 1

    def make_ref(self, obj) -> wire.Ref:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = self.next_id
            self.objects[self.next_id] = obj
            self.next_id += 1
        kind = getattr(obj, "__qualname__", None) or type(obj).__qualname__
        return wire.Ref(self.ids[key], str(kind), callable(obj))

    def resolve(self, ref: wire.Ref):
        if ref.id == 0:
            return self.module
        if ref.id not in self.objects:
            raise LookupError("unknown handle")
        return self.objects[ref.id]

    def handle(self, header: dict, blobs: list[bytes]):
        op = header.get("op")
        arg = wire.decode(header.get("arg"), blobs, self.resolve)
        if op == "load":
            return self.load(arg)
        if op == "names":
            return sorted(n for n in vars(self.module) if not n.startswith("_"))
        if op == "ping":
            return "pong"
        if op == "seed":         # before a threshold test's training: one recorded seed everywhere
            return seed_everything(arg)
        if op == "import":       # a library the suite drives remotely (torch.optim, DataLoader, ...)
            module = importlib.import_module(str(arg))
            limit_threads()
            return module
        target = self.resolve(wire.Ref(header.get("target", 0)))
        if op == "get":
            return getattr(target, arg)
        if op == "set":
            name, value = arg
            setattr(target, name, value)
            return None
        if op == "call":
            args, kwargs = arg
            return target(*args, **kwargs)
        if op == "signature":     # which keywords a call may pass: the suite drops optional ones
            return signature_of(target)
        if op == "method":
            name, args, kwargs = arg
            return getattr(target, name)(*args, **kwargs)
        if op == "release":
            for i in arg:
                obj = self.objects.pop(i, None)
                self.ids.pop(id(obj), None)
            return None
        raise ValueError(f"unknown operation {op!r}")

    def load(self, chunks: list) -> list:
        """Run the kept top-level statements one by one, like cells run by hand; report failures."""
        errors = []
        namespace = vars(self.module)
        apply_gpu_budget()
        for cell, line, source in chunks:
            try:
                tree = ast.parse(source)
                ast.increment_lineno(tree, line - 1)
                exec(compile(tree, f"cell {cell}", "exec"), namespace)
            except BaseException as e:  # noqa: BLE001
                info = describe(e)
                errors.append([cell, info.get("line") or line, f"{info['type']}: {info['message']}"])
        limit_threads()
        return errors


def signature_of(target):
    """{"parameters": names a call can pass by keyword, "kwargs": whether it takes **kwargs}, or
    None when inspect cannot read the signature."""
    try:
        signature = inspect.signature(target)
    except Exception:  # noqa: BLE001 - builtins without a signature, odd callables, non-callables
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = signature.parameters.values()
    return {"parameters": [p.name for p in params if p.kind in kinds],
            "kwargs": any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)}


def own_digest() -> str:
    """Same recipe as grader.sandbox.base.runner_digest: tells the grader which runner this is."""
    digest = hashlib.sha256()
    folder = os.path.dirname(os.path.abspath(__file__))
    for name in ("student_runner.py", "wire.py"):
        with open(os.path.join(folder, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def missing_modules() -> dict:
    """The course's packages this interpreter cannot import, with the reason: a setup problem the
    grader reports to the operator before any student code runs (never a zero for the student).
    numpy is imported for real (every exercise needs it); the rest are found without importing."""
    missing = {}
    for name in filter(None, os.environ.get("GRADER_REQUIRED_MODULES", "").split(",")):
        try:
            spec = importlib.util.find_spec(name)
            # an unreadable package folder looks like a namespace package: no origin file
            origin = getattr(spec, "origin", None)
            if spec is None or origin in (None, "namespace"):
                missing[name] = "not found" if spec is None else "its folder cannot be read"
            elif not os.access(origin, os.R_OK):
                missing[name] = f"cannot read {origin}"
            elif name == "numpy":
                importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - broken installs
            missing[name] = f"{type(e).__name__}: {e}"[:200]
    return missing


def apply_gpu_budget(torch=None) -> list:
    """The manifest's GPU memory budget on torch's caching allocator, set before student code runs.

    A guard against accidents (a model that would fill a shared GPU fails with a CUDA out-of-memory
    error in its own process), not a boundary: code that raises the fraction again, or allocates
    outside torch, is not held by it. Returns [device, fraction] pairs applied."""
    mb = os.environ.get("GRADER_GPU_MEMORY_MB", "")
    if not mb.isdigit() or int(mb) <= 0 or os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return []
    try:
        if torch is None:
            import torch
        if not torch.cuda.is_available():
            return []
        applied = []
        for device in range(torch.cuda.device_count()):
            total = torch.cuda.get_device_properties(device).total_memory
            fraction = min(1.0, int(mb) * 1024 * 1024 / total)
            torch.cuda.set_per_process_memory_fraction(fraction, device)
            applied.append([device, fraction])
        return applied
    except Exception:  # noqa: BLE001 - no usable CUDA: nothing to cap
        return []


def seed_everything(seed) -> list:
    """Seed every generator a training may draw from: Python's `random`, numpy's global one and,
    when torch is loaded, torch's CPU and CUDA generators, with torch's deterministic algorithms
    on where it has them (warn_only: an op without one warns instead of failing) and cuDNN's
    autotuner off. Best effort for the cuBLAS workspace setting: it counts only if CUDA had not
    started yet. Returns what was seeded, for the record."""
    if type(seed) is not int or not 0 <= seed < 2**32:
        raise ValueError(f"a seed is a whole number from 0 to 2**32 - 1, not {seed!r}")
    import random

    import numpy
    random.seed(seed)
    numpy.random.seed(seed)
    seeded = ["random", "numpy"]
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.manual_seed(seed)           # every device's generator, CUDA's included
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            seeded.append("torch")
        except Exception:  # noqa: BLE001 - a student's stand-in `torch` module must not break a test
            pass
    return seeded


def environment() -> dict:
    """This interpreter's Python and package versions (read from the packages' metadata, nothing
    imported), sent before any student code runs: the grading's environment record."""
    import platform
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in ("numpy", "torch", "torchvision"):
        try:
            found[name] = metadata.version(name)
        except Exception:  # noqa: BLE001 - not installed, or broken metadata
            found[name] = None
    return found


def limit_threads() -> None:
    """torch picks its thread count from the machine, not from the sandbox's CPU share."""
    torch = sys.modules.get("torch")
    threads = os.environ.get("GRADER_CPU_THREADS", "")
    if torch is not None and threads.isdigit() and hasattr(torch, "set_num_threads"):
        try:
            torch.set_num_threads(int(threads))
        except Exception:  # noqa: BLE001 - a student's stand-in `torch` module must not break loading
            pass


def describe(e: BaseException) -> dict:
    """Type, message and the innermost student-code location of an exception, as plain data."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith("cell ")]
    where = frames[-1] if frames else None
    message = str(e) if not isinstance(e, SystemExit) else f"exit status {e.code!r}"
    return {
        "type": type(e).__name__,
        "message": message[:MAX_TEXT],
        "cell": int(where.filename[5:]) if where else None,
        "line": where.lineno if where else None,
        "function": where.name if where else None,
    }


if __name__ == "__main__":
    main()
