"""The one result schema: what a grading run produces, for the CLI, storage and the web pages.

Everything here is plain data (JSON-ready), built by `scoring` and never by the student process.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("passed", "failed", "error", "timeout")


@dataclass
class SkippedCell:
    """A notebook cell (or part of one) that was not run, and why, in words for the student."""

    cell: int          # 1-based position among the notebook's cells (for .py files: the `# %%` block)
    line: int          # 1-based line inside that cell
    message: str       # e.g. "invalid syntax" or "shell command (!pip ...) is never run"
    excerpt: str = ""  # the first characters of the offending line, to help find it


@dataclass
class CellError:
    """A kept top-level statement that raised while the submission was being loaded."""

    cell: int
    line: int
    message: str


@dataclass
class TestResult:
    name: str
    description: str
    status: str        # one of STATUSES
    points: float
    max_points: float
    bonus: bool = False
    message: str | None = None   # shown to the student; None when the manifest hides it
    duration_s: float = 0.0


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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GradeResult":
        data = dict(data)
        data["tests"] = [TestResult(**t) for t in data.get("tests", [])]
        data["skipped_cells"] = [SkippedCell(**c) for c in data.get("skipped_cells", [])]
        data["load_errors"] = [CellError(**c) for c in data.get("load_errors", [])]
        return cls(**data)
