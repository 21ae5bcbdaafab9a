"""Exercise manifests (`exercises/<id>/exercise.toml`): what a suite checks, what it is worth, its
limits, and the course rules it starts with (`due`, `[late]`, `[rules]`; instructors may edit
those in the web app). Read and checked here, once: a bad manifest is a ManifestError for every
caller (`grader run`, the worker, the sync into the database)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path

from .errors import ManifestError, UnknownExercise
from .visibility import declared_level


# Beyond the suite's own time limit (limits.suite_timeout_s): the student process's start, its
# imports, the test running when the limit struck, the sandbox's teardown
SANDBOX_CPU_MARGIN_S = 60
SANDBOX_WALL_MARGIN_S = 120
DEFAULT_SUITE_TIMEOUT_S = 90.0
SEED_RULES = ("median", "mean")     # how the figures of a threshold test's seeds are combined
MAX_SEED = 2**32 - 1                # numpy's legacy seed range

# A test's stage: "quick" ones (shapes, gradient checks, small values) run first and their results
# are shown while the "training" ones (a model trained to a threshold) still run. Unsaid: training,
# so a test nobody marked waits for the final result, as every test did before stages.
STAGES = ("quick", "training")
DEFAULT_STAGE = "training"


@dataclass(frozen=True)
class TestSpec:
    __test__ = False     # a manifest entry, not a pytest test class

    name: str
    points: float
    description: str
    bonus: bool = False
    visibility: str = "hidden"     # one of `visibility.LEVELS` (what a student may see, and when)
    stage: str = DEFAULT_STAGE     # one of STAGES: quick tests run, and are shown, first
    # A threshold test's seeds (`suitekit.robust_threshold`): the first always runs; when its figure
    # lands within `margin` of the threshold the others run too, and `rule` over all of them decides
    seeds: tuple[int, ...] = (0,)
    margin: float = 0.0
    rule: str = "median"


@dataclass(frozen=True)
class CourseRules:
    """The manifest's `due` (a TOML date-time, no offset: UTC; or a date: the end of that day,
    UTC), `[late]` (penalty_per_day, max_penalty: fractions of the score; closed_after_due) and
    `[rules]` (max_submissions per window_hours, cooloff_minutes, show_hidden_points)."""

    due_at: datetime | None = None
    penalty_per_day: float = 0.0
    max_penalty: float = 0.0           # 0: no cap (a [late] table without it caps at 1.0)
    closed_after_due: bool = False
    max_submissions: int | None = None
    window_hours: float | None = None  # None: the limit counts the whole course
    cooloff_minutes: float = 0.0
    show_hidden_points: bool = True


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
    course: CourseRules = field(default_factory=CourseRules)

    @property
    def extra_seeds_s(self) -> int:
        """The most time the threshold tests' extra seeds can add (each gets the test's whole time
        limit); the suite's time limit does not count it, the sandbox's limits do."""
        return int(sum(len(t.seeds) - 1 for t in self.tests) * self.test_timeout_s)

    @property
    def sandbox_cpu_s(self) -> int:
        """The student process's CPU seconds (a backstop: each test has its own wall limit)."""
        return int(self.suite_timeout_s) + self.extra_seeds_s + SANDBOX_CPU_MARGIN_S

    @property
    def sandbox_wall_s(self) -> int:
        """The sandbox's whole life, even if the grader dies: the longest a grading can take (the
        queue's time limits are counted from it, grader/queue/settings.py)."""
        return int(self.suite_timeout_s) + self.extra_seeds_s + SANDBOX_WALL_MARGIN_S

    @property
    def suite_dir(self) -> Path:
        return self.folder / "hidden"

    def test(self, name: str) -> TestSpec | None:
        return next((t for t in self.tests if t.name == name), None)

    @property
    def quick_tests(self) -> tuple[TestSpec, ...]:
        """The tests of the quick stage, in manifest order (none: the suite runs in one stage)."""
        return tuple(t for t in self.tests if t.stage == "quick")


def _test_spec(t: dict, path: Path) -> TestSpec:
    try:
        level = declared_level(t)
    except ValueError as e:
        raise ManifestError(f"{path}: test {t.get('name')!r}: {e}") from None
    stage = t.get("stage", DEFAULT_STAGE)
    if stage not in STAGES:
        raise ManifestError(f"{path}: test {t.get('name')!r}: stage must be one of {', '.join(STAGES)}, "
                            f"not {stage!r}")
    return TestSpec(name=t["name"], points=float(t["points"]), description=t.get("description", ""),
                    bonus=bool(t.get("bonus", False)), visibility=level, stage=stage,
                    **_seed_plan(t, path))


def _seed_plan(t: dict, path: Path) -> dict:
    """A test's `seeds`, `margin` and `rule`, checked: distinct whole numbers (the first always
    runs), a margin > 0 in the figure's units, a rule of SEED_RULES; margin and rule only with
    more than one seed (alone they would change nothing)."""
    where = f"{path}: test {t.get('name')!r}"
    if not {"seeds", "margin", "rule"} & t.keys():
        return {}
    seeds = t.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(type(s) is int and 0 <= s <= MAX_SEED for s in seeds)):
        raise ManifestError(f"{where}: seeds must be a non-empty list of whole numbers from 0 to "
                            f"{MAX_SEED}, e.g. [0, 1, 2], not {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ManifestError(f"{where}: seeds {seeds!r} repeats a seed (it would count twice)")
    if len(seeds) == 1:
        extra = sorted({"margin", "rule"} & t.keys())
        if extra:
            raise ManifestError(f"{where}: {' and '.join(extra)} {'needs' if len(extra) == 1 else 'need'} "
                                f"more than one seed "
                                f"(seeds = {seeds!r} runs one): add seeds, e.g. [0, 1, 2]")
        return {"seeds": tuple(seeds)}
    margin = t.get("margin")
    if type(margin) not in (int, float) or not 0 < margin < float("inf"):
        raise ManifestError(f"{where}: margin must be a number above 0 (how close to the threshold, "
                            f"in the figure's units, the other seeds run too), not {margin!r}")
    rule = t.get("rule", "median")
    if rule not in SEED_RULES:
        raise ManifestError(f"{where}: rule must be one of {', '.join(SEED_RULES)}, not {rule!r}")
    return {"seeds": tuple(seeds), "margin": float(margin), "rule": rule}


def _course_rules(data: dict, path: Path) -> CourseRules:
    late, rules = data.get("late", {}), data.get("rules", {})
    try:
        made = CourseRules(
            due_at=_due(data["due"], path) if "due" in data else None,
            penalty_per_day=float(late.get("penalty_per_day", 0.0)),
            max_penalty=float(late.get("max_penalty", 1.0 if "late" in data else 0.0)),
            closed_after_due=bool(late.get("closed_after_due", False)))
    except (AttributeError, TypeError, ValueError) as e:
        raise ManifestError(f"{path}: [late] must hold penalty_per_day, max_penalty (numbers) "
                            f"and closed_after_due (true/false): {e}") from None
    if not (0 <= made.penalty_per_day <= 1 and 0 <= made.max_penalty <= 1):
        raise ManifestError(f"{path}: [late] penalties are fractions of the score, from 0 to 1")
    try:
        return CourseRules(
            made.due_at, made.penalty_per_day, made.max_penalty, made.closed_after_due,
            max_submissions=int(rules["max_submissions"]) if "max_submissions" in rules else None,
            window_hours=float(rules["window_hours"]) if "window_hours" in rules else None,
            cooloff_minutes=float(rules.get("cooloff_minutes", 0.0)),
            show_hidden_points=bool(rules.get("show_hidden_points", True)))
    except (AttributeError, TypeError, ValueError) as e:
        raise ManifestError(f"{path}: [rules] max_submissions (a whole number), window_hours and "
                            f"cooloff_minutes (numbers), show_hidden_points (true/false): {e}") from None


def _due(value, path: Path) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ManifestError(f"{path}: due = {value!r} is not a date-time") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tzinfo=timezone.utc)
    raise ManifestError(f"{path}: due = {value!r} is not a date-time")


def exercise_ids(exercises_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in Path(exercises_dir).glob("*/exercise.toml"))


def loadable_exercises(exercises_dir: Path) -> list[Exercise]:
    """Every exercise whose manifest loads, for the callers that serve them all (the queue's time
    limits, a worker's warm sandboxes): a broken manifest fails its own submissions only."""
    found = []
    for exercise_id in exercise_ids(exercises_dir):
        try:
            found.append(load_exercise(exercises_dir, exercise_id))
        except Exception:  # noqa: BLE001 - that exercise's gradings say what is wrong
            continue
    return found


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
            datasets=tuple(data.get("datasets", ())), course=_course_rules(data, path),
        )
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as e:
        raise ManifestError(f"{path}: {type(e).__name__}: {e}") from None
    if exercise.execute not in ("slice", "all"):
        raise ManifestError(f"{path}: execute must be 'slice' or 'all', not {exercise.execute!r}")
    if exercise.id != exercise_id:
        raise ManifestError(f"{path}: id {exercise.id!r} does not match its folder")
    return exercise
