"""What the calibrate_*.py scripts share: load a suite/reference file as a module, find the data,
and judge a threshold against the protocol (CONTRACT.md, "Grading data protocol": the reference
passes on every seed with 1.5 points to spare, the softmax-regression baseline fails)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARGIN = 0.015
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_module(name: str, path: Path):
    """A suite or reference file as a module (the suite's recipe is then run here, in-process)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_appended(name: str, base: Path, extra: Path):
    """`extra` appended to `base` as one module (a course-form fixture replaces the reference's
    definitions: the last definition wins, as in a notebook)."""
    import types
    module = types.ModuleType(name)
    module.__file__ = str(extra)
    exec(compile(base.read_text() + "\n\n" + extra.read_text(), str(extra), "exec"), vars(module))
    return module


def data_dir() -> str:
    return os.environ.get("GRADER_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")


def cache_dir():
    """The config's one cache folder (decoded datasets)."""
    from grader.config import Config
    return Config.from_env().cache_dir


def judge(name: str, reference: list[float], baseline: list[float], threshold: float) -> bool:
    """Print both series and the window of valid thresholds; True when `threshold` is in it."""
    low, high = max(baseline), min(reference) - MARGIN
    print(f"{name}: reference {' '.join(f'{a:.4f}' for a in reference)} (min {min(reference):.4f})")
    print(f"{name}: softmax regression {' '.join(f'{a:.4f}' for a in baseline)} (max {max(baseline):.4f})")
    window = f"({low:.4f}, {high:.4f}]" if low < high else f"EMPTY ({low:.4f} >= {high:.4f})"
    fits = low < threshold <= high
    print(f"{name}: threshold window {window}; suite threshold {threshold} {'inside' if fits else 'OUTSIDE'} it "
          f"(reference spare {min(reference) - threshold:+.4f}, baseline below by {threshold - max(baseline):+.4f})",
          flush=True)
    return fits


def judge_variants(name: str, references: dict[str, list[float]], baseline: list[float], threshold: float) -> bool:
    """`judge` for a solution that may be written in several accepted forms (e.g. the textbook
    reference and the course's own convention): every form must pass on every seed with the
    margin, so the window's top is the worst form's worst seed less MARGIN. Prints each form's
    series and its spare, the baseline, the window, and whether `threshold` is in it."""
    worst = min(min(accs) for accs in references.values())
    low, high = max(baseline), worst - MARGIN
    for label, accs in references.items():
        print(f"{name}: {label} {' '.join(f'{a:.4f}' for a in accs)} (min {min(accs):.4f}, "
              f"spare {min(accs) - threshold:+.4f})")
    print(f"{name}: softmax regression {' '.join(f'{a:.4f}' for a in baseline)} (max {max(baseline):.4f})")
    window = f"({low:.4f}, {high:.4f}]" if low < high else f"EMPTY ({low:.4f} >= {high:.4f})"
    fits = low < threshold <= high
    print(f"{name}: threshold window {window}; suite threshold {threshold} {'inside' if fits else 'OUTSIDE'} it "
          f"(worst form's spare {worst - threshold:+.4f}, needs >= {MARGIN:+.4f}; baseline below by "
          f"{threshold - max(baseline):+.4f})", flush=True)
    return fits


def seed_like_the_sandbox(seed: int) -> None:
    """What the grader does in the student process before each seed's training (the runner's
    `seed` request): Python's, numpy's and torch's generators, torch's deterministic algorithms."""
    from grader.harness.student_runner import seed_everything
    seed_everything(seed)


def test_plan(exercise_id: str, test_name: str):
    """A test's seed plan (`seeds`, `margin`, `rule`) from its exercise's manifest."""
    from grader.manifest import load_exercise
    return load_exercise(ROOT / "exercises", exercise_id).test(test_name)


def judge_plan(name: str, plan, figures: dict[str, dict[int, float]], threshold: float,
               must_fail: set[str]) -> bool:
    """Replay the suite's rule (suitekit.robust_threshold under the manifest's plan) on figures
    measured at each seed: print, per solution, every seed's figure and what the rule decides
    starting from the plan's first seed. True when every solution but `must_fail` passes at every
    seed tried and under the rule, and every one of `must_fail` fails at every seed and under it."""
    from grader.suitekit import robust_threshold
    ok = True
    print(f"{name}: plan seeds {list(plan.seeds)}, margin {plan.margin:g}, rule {plan.rule}; "
          f"threshold {threshold}")
    for label, by_seed in figures.items():
        missing = [s for s in plan.seeds if s not in by_seed]
        if missing:
            print(f"  {label}: not judged, seeds {missing} of the plan were not tried")
            ok = False
            continue
        try:
            robust_threshold(by_seed.__getitem__, threshold, plan)
            passed, summary = True, None
        except AssertionError as e:
            passed, summary = False, str(e)
        every = [f >= threshold for f in by_seed.values()]
        expected_pass = label not in must_fail
        fits = (passed and all(every)) if expected_pass else (not passed and not any(every))
        ok &= fits
        series = " ".join(f"{s}:{f:.4f}" for s, f in by_seed.items())
        print(f"  {label:18s} {series}  -> rule {'PASSES' if passed else 'fails'}"
              f"{'' if fits else '  <-- WRONG: ' + ('must fail at every seed' if not expected_pass else 'must pass at every seed')}"
              + (f" ({summary})" if summary and not fits else ""), flush=True)
    return ok
