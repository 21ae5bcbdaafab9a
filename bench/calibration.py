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
