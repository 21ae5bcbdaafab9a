"""Calibrate the Fashion-MNIST threshold of the `pytorch-advanced` hidden suite.

Runs the suite's own recipe (`fashion_accuracy` in exercises/pytorch-advanced/hidden/
test_pytorch_advanced.py, loaded from that file so there is one recipe) in this process:
- the reference RegularizedMLP trained by the reference train_model, on 5 seeds;
- a softmax-regression baseline (nn.Linear(784, 10), no hidden layer) trained by the same
  train_model call with the same loaders, epochs and learning rate, on 5 seeds;
and prints the accuracies and the threshold window: the reference must pass on 5/5 seeds with at
least 1.5 percentage points to spare, and the baseline must fail.

    GRADER_DATA_DIR=/path/to/datasets .venv/bin/python bench/calibrate_pytorch_advanced.py [--seeds 0,1,2,3,4]
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time

import torch

from calibration import ROOT, cache_dir, data_dir, judge, judge_plan, load_module, seed_like_the_sandbox, test_plan
from grader.datasets import grading_split

SUITE = ROOT / "exercises" / "pytorch-advanced" / "hidden" / "test_pytorch_advanced.py"
REFERENCE = ROOT / "reference" / "pytorch-advanced.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the sandbox uses 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]

    suite = load_module("suite_pytorch_advanced", SUITE)
    reference = load_module("reference_pytorch_advanced", REFERENCE)
    split = grading_split("fashion-mnist", data_dir(), cache_dir())
    print(f"recipe: RegularizedMLP(784, {suite.FASHION_HIDDEN}, 10, dropout_rate={suite.FASHION_DROPOUT}), "
          f"train_model(epochs={suite.FASHION_EPOCHS}, lr={suite.FASHION_LR}), batch {suite.FASHION_BATCH}; "
          f"threshold in the suite: {suite.FASHION_THRESHOLD}")

    def measure(label, make_model):
        accuracies = []
        for seed in seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            seed_like_the_sandbox(seed)
            acc = suite.fashion_accuracy(reference, importlib.import_module, split, seed=seed,
                                         make_model=make_model)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            accuracies.append(acc)
            print(f"  {label:9s} seed {seed}: {acc:.4f}   ({wall:.1f} s wall, {cpu:.1f} s CPU)", flush=True)
        return accuracies

    ref = measure("reference", None)
    base = measure("baseline", lambda: torch.nn.Linear(784, 10))

    ok = judge("fashion-mnist", ref, base, suite.FASHION_THRESHOLD)
    ok &= judge_plan("fashion-mnist", test_plan("pytorch-advanced", "test_fashion_mnist_accuracy"),
                     {"reference": dict(zip(seeds, ref)), "baseline": dict(zip(seeds, base))},
                     suite.FASHION_THRESHOLD, {"baseline"})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
