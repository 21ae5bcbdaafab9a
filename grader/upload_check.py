"""Whether an upload can be read as the grader will, checked without letting it cost the web
process what parsing costs (Python's parser takes ~200x the code's size in memory: 1.6 GB for an
8 MB `x = 1+1+...`).

A file up to INLINE_FILE_BYTES is checked here (`ingest.check_readable`, which mostly needs no
parse, with a parse budget: some tens of MB at worst). A larger one, or one that needs more
parsing, is checked in a child `python -I -c` that sets its own memory and CPU limits before it
reads anything, under a wall-clock timeout, and answers one JSON object (never pickle). A child
that runs out of a limit is our limit, not the student's fault: the upload is accepted unchecked
and the worker decides (its refusal is a `failed` with the same sentence). The refusals, when the
check finishes, are `load_submission_bytes`'s own words wherever the check ran.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path, PurePath

from .errors import IngestError
from .ingest import DEFAULT_MAX_BYTES, TooCostly, check_readable

log = logging.getLogger("grader.upload")

INLINE_FILE_BYTES = 1024 * 1024         # read here: its lines or JSON objects, ~25-50 MB at worst
INLINE_PARSE_CHARS = 64 * 1024          # parsed here: ~15 MB and ~0.1 s at worst
CHILD_MEMORY_BYTES = 256 * 1024 * 1024  # the child's address space (its interpreter takes ~30 MB)
CHILD_CPU_S = 3                         # a file that needs parsing there is comments and `pass`
CHILD_WALL_S = 10.0

READ_HERE, READ_IN_CHILD = "read here", "read in a child process"
_ROOT = str(Path(__file__).resolve().parent.parent)       # this checkout's grader, not another one

_CHILD = r"""
import json, resource, sys
memory, cpu, root, filename, max_bytes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
sys.path.insert(0, root)
from grader.errors import IngestError
from grader.ingest import check_readable


def out_of_memory(e):
    while e is not None:
        if isinstance(e, MemoryError):
            return True
        e = e.__context__
    return False


data = sys.stdin.buffer.read()
try:
    check_readable(data, filename, max_bytes)
    answer = {"ok": True}
except IngestError as e:
    answer = {"unchecked": "out of memory"} if out_of_memory(e) else {"refused": str(e)}
except MemoryError:
    answer = {"unchecked": "out of memory"}
sys.stdout.write(json.dumps(answer))
"""


def check_upload(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES, *,
                 inline_file_bytes: int = INLINE_FILE_BYTES, inline_parse_chars: int = INLINE_PARSE_CHARS,
                 memory_bytes: int = CHILD_MEMORY_BYTES, cpu_s: int = CHILD_CPU_S,
                 wall_s: float = CHILD_WALL_S) -> str:
    """IngestError (the grader's reason) for a file the grader would refuse; else how it was
    checked: READ_HERE, READ_IN_CHILD, or "not checked: <why>" (accepted: the worker decides).
    The caller checked its type and size (`ingest.validate_upload`, once, in `service.submit`)."""
    if len(data) <= inline_file_bytes:
        try:
            check_readable(data, filename, max_bytes, parse_budget=inline_parse_chars)
            return READ_HERE
        except TooCostly:
            pass
    if not sys.executable:                               # an embedded interpreter: no python to start
        return _unchecked(filename, "no Python executable to check it with")
    name = "upload" + PurePath(filename).suffix.lower()   # the type is all it reads of the name (a .py or .ipynb)
    argv = [sys.executable, "-I", "-c", _CHILD, str(memory_bytes), str(cpu_s), _ROOT, name, str(max_bytes)]
    try:
        done = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
                              timeout=wall_s, env={"LC_ALL": "C.UTF-8"}, close_fds=True)
    except subprocess.TimeoutExpired:
        return _unchecked(filename, f"no answer within {wall_s:g} s")
    except OSError as e:                                 # no process to be had: not the student's fault
        return _unchecked(filename, f"the check could not start ({e.strerror or e})")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or done.returncode != 0:
        return _unchecked(filename, f"the check ended with status {done.returncode}")   # -24: SIGXCPU
    if "refused" in answer:
        raise IngestError(str(answer["refused"]))
    if answer.get("ok") is True:
        return READ_IN_CHILD
    return _unchecked(filename, str(answer.get("unchecked", "no answer")))


def _unchecked(filename: str, why: str) -> str:
    log.info("upload %r accepted unchecked, the worker will read it: %s", filename, why)
    return f"not checked: {why}"
