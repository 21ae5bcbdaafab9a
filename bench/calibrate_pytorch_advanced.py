"""Calibrate the Fashion-MNIST threshold of the `pytorch-advanced` hidden suite.

Runs the suite's own recipe (`fashion_accuracy` in exercises/pytorch-advanced/hidden/
test_pytorch_advanced.py, loaded from that file so there is one recipe) in this process:
- the reference RegularizedMLP trained by the reference train_model, on 5 seeds;
- a softmax-regression baseline (nn.Linear(784, 10), no hidden layer) trained by the same
  train_model call with the same loaders, epochs and learning rate, on 5 seeds;
and prints the accuracies and the threshold window: the reference must pass on 5/5 seeds with at
least 1.5 percentage points to spare, and the baseline must fail.

    GRADER_DATA_DIR=/work/shared/datasets .venv/bin/python bench/calibrate_pytorch_advanced.py [--seeds 0,1,2,3,4]
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from grader.datasets import grading_split  # noqa: E402

SUITE = ROOT / "exercises" / "pytorch-advanced" / "hidden" / "test_pytorch_advanced.py"
REFERENCE = ROOT / "reference" / "pytorch-advanced.py"
MARGIN = 0.015


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the sandbox uses 2)")
    parser.add_argument("--data-dir", default=os.environ.get("GRADER_DATA_DIR", "/work/shared/datasets"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]

    suite = load(SUITE, "suite_pytorch_advanced")
    reference = load(REFERENCE, "reference_pytorch_advanced")
    split = grading_split("fashion-mnist", args.data_dir)
    print(f"recipe: RegularizedMLP(784, {suite.FASHION_HIDDEN}, 10, dropout_rate={suite.FASHION_DROPOUT}), "
          f"train_model(epochs={suite.FASHION_EPOCHS}, lr={suite.FASHION_LR}), batch {suite.FASHION_BATCH}; "
          f"threshold in the suite: {suite.FASHION_THRESHOLD}")

    def measure(label, make_model):
        accuracies = []
        for seed in seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            acc = suite.fashion_accuracy(reference, importlib.import_module, split, seed=seed,
                                         make_model=make_model)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            accuracies.append(acc)
            print(f"  {label:9s} seed {seed}: {acc:.4f}   ({wall:.1f} s wall, {cpu:.1f} s CPU)", flush=True)
        return accuracies

    ref = measure("reference", None)
    base = measure("baseline", lambda: torch.nn.Linear(784, 10))

    print(f"reference: {' '.join(f'{a:.4f}' for a in ref)}  min {min(ref):.4f}")
    print(f"baseline:  {' '.join(f'{a:.4f}' for a in base)}  max {max(base):.4f}")
    low, high = max(base), min(ref) - MARGIN
    if low < high:
        print(f"window: threshold in ({low:.4f}, {high:.4f}]  (baseline max < threshold <= reference min - 1.5 pp)")
    else:
        print(f"NO WINDOW: baseline max {low:.4f} >= reference min - 1.5 pp = {high:.4f}")
    t = suite.FASHION_THRESHOLD
    ok = all(a >= t + MARGIN for a in ref) and all(a < t for a in base)
    print(f"suite threshold {t}: {'OK' if ok else 'NOT OK'} "
          f"(reference spare {min(ref) - t:+.4f}, baseline below by {t - max(base):+.4f})")


if __name__ == "__main__":
    main()
