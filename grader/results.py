"""The one result schema: what a grading run produces, for the CLI, storage and the web pages.

Everything here is plain data (JSON-ready), built by `scoring` and never by the student process.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .words import plural

STATUSES = ("passed", "failed", "error", "timeout")   # the one list, mildest first


@dataclass
class SkippedCell:
    """A notebook cell (or part of one) that was not run, and why, in words for the student."""

    cell: int          # 1-based position among the notebook's cells (for .py files: the `# %%` block)
    line: int          # 1-based line inside that cell
    message: str       # e.g. "invalid syntax" or "shell command (!pip ...) is never run"
    excerpt: str = ""  # the first characters of the offending line, to help find it
    names: list[str] = field(default_factory=list)   # top-level names the cell seems to define


@dataclass
class CellError:
    """A kept top-level statement that raised while the submission was being loaded."""

    cell: int
    line: int
    message: str


@dataclass
class TestResult:
    __test__ = False     # a result, not a pytest test class

    name: str
    description: str
    status: str        # one of STATUSES
    points: float
    max_points: float
    bonus: bool = False
    message: str | None = None   # why it failed; None when the manifest hides it (its level is hidden)
    duration_s: float = 0.0
    visibility: str = "hidden"   # one of visibility.LEVELS: who sees this result, and when (unsaid: nobody)
    note: str | None = None      # what the suite noted about the code (an accepted variant), passed or
                                 # not; one note a line, never part of `message`
    seeds: list[dict] | None = None   # a threshold test's runs: [{"seed": 0, "figure": 0.912}, ...]
                                      # (staff only for a hidden test, see visibility.student_view)


@dataclass
class Usage:
    """What a grading cost, measured on the trusted side (the sandbox's processes as the kernel,
    the engine or NVML count them), never as the student process reports it. None: not measured
    (no GPU, an old result). A sum over several runner starts counts the starts it could measure."""

    cpu_s: float | None = None         # CPU seconds (user + system) of the sandbox's processes
    gpu_s: float | None = None         # seconds NVML saw the sandbox's processes hold the GPU
    gpu_peak_mb: float | None = None   # the most GPU memory they held at once (MiB)

    def __add__(self, other: "Usage") -> "Usage":
        def both(a, b, pick):
            return a if b is None else b if a is None else pick(a, b)
        return Usage(both(self.cpu_s, other.cpu_s, lambda a, b: round(a + b, 3)),
                     both(self.gpu_s, other.gpu_s, lambda a, b: round(a + b, 3)),
                     both(self.gpu_peak_mb, other.gpu_peak_mb, max))


@dataclass
class GradeResult:
    exercise: str
    score: float
    max_score: float
    bonus: float
    bonus_max: float
    tests: list[TestResult]
    skipped_cells: list[SkippedCell] = field(default_factory=list)
    load_errors: list[CellError] = field(default_factory=list)
    not_run: int = 0                 # top-level statements left out by slicing (plots, prints, loops)
    duration_s: float = 0.0          # whole grading run
    suite_duration_s: float = 0.0    # time spent inside the hidden suite's tests
    sandbox: dict = field(default_factory=dict)   # backend, isolation in force, device
    output: str = ""                 # the start of what the student's code printed (capped)
    usage: Usage = field(default_factory=Usage)   # CPU / GPU it cost (measured by the grader)
    environment: dict = field(default_factory=dict)   # versions and device kind, with their `hash`
                                                      # (grader/environment.py): same hash, same setup

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GradeResult":
        data = dict(data)
        data["tests"] = [TestResult(**t) for t in data.get("tests", [])]
        data["skipped_cells"] = [SkippedCell(**c) for c in data.get("skipped_cells", [])]
        data["load_errors"] = [CellError(**c) for c in data.get("load_errors", [])]
        data["usage"] = Usage(**(data.get("usage") or {}))
        return cls(**data)


def code_notes(result: dict) -> list[tuple[str, str]]:
    """The sentences about the student's code that did not run, the same in the terminal, on
    Gradescope and on the web: (kind, text), kind `skipped`, `raised` or `not_run`. Takes the
    result as a dict (`to_dict()`, or the stored JSON)."""
    notes = []
    for c in result.get("skipped_cells", []):
        notes.append(("skipped", f"cell {c['cell']}, line {c['line']} was not run: {c['message']}"
                                 + (f"  [{c['excerpt']}]" if c.get("excerpt") else "")
                                 + _defines(c.get("names") or [])))
    for e in result.get("load_errors", []):
        notes.append(("raised", f"cell {e['cell']}, line {e['line']} raised while loading: {e['message']}"))
    if result.get("not_run"):
        notes.append(("not_run", "Not needed for grading, so not run: "
                                 f"{plural(result['not_run'], 'top-level statement')} (plots, prints, "
                                 "training runs)."))
    return notes


def _defines(names: list[str], shown: int = 5) -> str:
    if not names:
        return ""
    listed = ", ".join(f"`{n}`" for n in names[:shown])
    more = len(names) - shown
    return f"; it defines {listed}" + (f" and {more} more" if more > 0 else "")


def where_missing(skipped_cells: list[SkippedCell]) -> dict[str, str]:
    """For each name a skipped cell seems to define, where it is and why it did not run, in the
    words a test's message uses for a name the code lacks: "`step_function` is in cell 2, which
    did not parse: expected ':' at line 2". A later cell's definition wins, as it would have run."""
    where = {}
    for c in skipped_cells:
        for name in c.names:
            where[name] = f"`{name}` is in cell {c.cell}, which did not parse: {c.message} at line {c.line}"
    return where


# ---------------------------------------------------------------- shared by harness and scoring

@dataclass
class Outcome:
    status: str                    # one of STATUSES
    message: str | None = None     # for the student: why it failed
    always_visible: bool = False   # about the student's code (crash, timeout, exception): not secret
    duration_s: float = 0.0
    note: str | None = None        # the suite's notes, one a line (`TestResult.note`)
    seeds: list[dict] | None = None   # a threshold test's seeds and figures (`TestResult.seeds`)


@dataclass
class SuiteRun:
    outcomes: dict[str, Outcome]
    load_errors: list = field(default_factory=list)
    output: str = ""
    duration_s: float = 0.0
    suite_time_s: float = 0.0
    device: str | None = None      # what the student's torch code ran on, when a test asked
    environment: dict = field(default_factory=dict)   # the runner's versions (StudentProcess.environment)


@dataclass(frozen=True)
class ProgressEvent:
    """What a grading run reports while it runs, for a terminal, a worker's row or a web page:
    `started` (total known), `running` (one starts: index of total, name), `test` (that one
    finished: same index, name, status), `stage` (the quick tests are done: index of total
    finished, `tests` their results), `finished`. The web shows the last one stored, so
    "running test 1 of 19" is what a student sees while the first test runs."""

    kind: str                      # "started", "running", "test", "stage" or "finished"
    total: int = 0                 # number of tests the suite will run
    index: int = 0                 # 1-based, for "running" and "test"; tests finished, for "stage"
    name: str = ""
    status: str = ""               # one of STATUSES, for "test"
    tests: list = field(default_factory=list)   # for "stage": the quick tests' TestResults, as dicts,
                                                # as the final result will hold them (scoring.result_of)

    def to_dict(self) -> dict:
        data = asdict(self)
        if not data["tests"]:      # only a "stage" event carries results
            del data["tests"]
        return data
