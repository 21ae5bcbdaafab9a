"""Exercise manifests (`exercises/<id>/exercise.toml`): what a suite checks and what it is worth."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ManifestError, UnknownExercise
from .visibility import declared_level


# Beyond the suite's own time limit (limits.suite_timeout_s): the student process's start, its
# imports, the test running when the limit struck, the sandbox's teardown
SANDBOX_CPU_MARGIN_S = 60
SANDBOX_WALL_MARGIN_S = 120
DEFAULT_SUITE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class TestSpec:
    __test__ = False     # a manifest entry, not a pytest test class

    name: str
    points: float
    description: str
    bonus: bool = False
    visibility: str = "hidden"     # one of `visibility.LEVELS` (what a student may see, and when)


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    folder: Path
    names: tuple[str, ...]
    tests: tuple[TestSpec, ...]
    execute: str = "slice"
    test_timeout_s: float = 10.0
    suite_timeout_s: float = DEFAULT_SUITE_TIMEOUT_S
    memory_mb: int = 2048
    cpu_threads: int = 1
    gpu: bool = False               # the student process may use a GPU when the sandbox has one
    gpu_memory_mb: int = 0          # torch's allocator cap on each GPU (0: none); a guard, not a boundary
    datasets: tuple[str, ...] = ()  # datasets the suite reads ("mnist", "fashion-mnist")
    extra: dict = field(default_factory=dict)

    @property
    def sandbox_cpu_s(self) -> int:
        """The student process's CPU seconds (a backstop: each test has its own wall limit)."""
        return int(self.suite_timeout_s) + SANDBOX_CPU_MARGIN_S

    @property
    def sandbox_wall_s(self) -> int:
        """The sandbox's whole life, even if the grader dies: the longest a grading can take (the
        queue's time limits are counted from it, grader/queue/settings.py)."""
        return int(self.suite_timeout_s) + SANDBOX_WALL_MARGIN_S

    @property
    def suite_dir(self) -> Path:
        return self.folder / "hidden"

    def test(self, name: str) -> TestSpec | None:
        return next((t for t in self.tests if t.name == name), None)


def _test_spec(t: dict, path: Path) -> TestSpec:
    try:
        level = declared_level(t)
    except ValueError as e:
        raise ManifestError(f"{path}: test {t.get('name')!r}: {e}") from None
    return TestSpec(name=t["name"], points=float(t["points"]), description=t.get("description", ""),
                    bonus=bool(t.get("bonus", False)), visibility=level)


def exercise_ids(exercises_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in Path(exercises_dir).glob("*/exercise.toml"))


def load_exercise(exercises_dir: Path, exercise_id: str) -> Exercise:
    path = Path(exercises_dir) / exercise_id / "exercise.toml"
    if not exercise_id.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        known = ", ".join(exercise_ids(exercises_dir)) or "none"
        raise UnknownExercise(f"unknown exercise {exercise_id!r} (known: {known})")
    try:
        data = tomllib.loads(path.read_text())
        limits = data.get("limits", {})
        tests = tuple(_test_spec(t, path) for t in data["tests"])
        exercise = Exercise(
            id=data.get("id", exercise_id), title=data["title"], folder=path.parent,
            names=tuple(data.get("names", ())), tests=tests, execute=data.get("execute", "slice"),
            test_timeout_s=float(limits.get("test_timeout_s", 10)),
            suite_timeout_s=float(limits.get("suite_timeout_s", DEFAULT_SUITE_TIMEOUT_S)),
            memory_mb=int(limits.get("memory_mb", 2048)), cpu_threads=int(limits.get("cpu_threads", 1)),
            gpu=bool(limits.get("gpu", False)), gpu_memory_mb=int(limits.get("gpu_memory_mb", 0)),
            datasets=tuple(data.get("datasets", ())),
            extra={k: v for k, v in data.items()
                   if k not in {"id", "title", "names", "tests", "execute", "limits", "datasets"}},
        )
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as e:
        raise ManifestError(f"{path}: {type(e).__name__}: {e}") from None
    if exercise.execute not in ("slice", "all"):
        raise ManifestError(f"{path}: execute must be 'slice' or 'all', not {exercise.execute!r}")
    if exercise.id != exercise_id:
        raise ManifestError(f"{path}: id {exercise.id!r} does not match its folder")
    return exercise
