"""Calibrate the accuracy thresholds of the numpy-nn suite (CONTRACT.md, "Grading data protocol").

Usage: GRADER_DATA_DIR=/path/to/datasets .venv/bin/python bench/calibrate_numpy_nn.py
           [--seeds 0 1 2 3 4] [--datasets mnist fashion-mnist]

Runs the suite's own recipe (`train_and_predict` in exercises/numpy-nn/hidden/test_numpy_nn.py,
loaded from that file, so there is one recipe) on the reference solution, imported here, for each
seed, and the same recipe with no hidden layer (softmax regression: Dense(784, 10) + Softmax) as
the baseline. Prints each accuracy, the window of thresholds that satisfies the protocol
(reference - 1.5 points on its worst seed >= threshold > baseline's best seed) and whether the
suite's thresholds sit in it. One BLAS thread, as the manifest gives the student process.
Takes about 2 minutes on one idle core (10 trainings of the 784-256-128-10 network).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # before numpy loads: the manifest's cpu_threads
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import importlib
import sys
import time

import numpy as np

from calibration import ROOT, cache_dir, data_dir, judge, load_module
from grader.datasets import grading_split


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    args = parser.parse_args()
    suite = load_module("numpy_nn_suite", ROOT / "exercises" / "numpy-nn" / "hidden" / "test_numpy_nn.py")
    reference = load_module("numpy_nn_reference", ROOT / "reference" / "numpy-nn.py")
    thresholds = {"mnist": suite.MNIST_THRESHOLD, "fashion-mnist": suite.FASHION_THRESHOLD}
    print(f"recipe: {suite._describe_recipe()}; suite seed {suite.SUITE_SEED}")

    ok = True
    for name in args.datasets:
        split = grading_split(name, data_dir(), cache_dir())
        results = {}
        for label, hidden in (("reference", suite.HIDDEN), ("softmax regression", ())):
            accs = []
            for seed in args.seeds:
                started = time.monotonic()
                probs = suite.train_and_predict(reference, importlib.import_module, split,
                                                seed=seed, hidden=hidden)
                acc = float(np.mean(np.argmax(probs, axis=1) == split.y_eval))
                accs.append(acc)
                print(f"  {name:13s} {label:18s} seed {seed}: {acc:.4f} "
                      f"({time.monotonic() - started:.1f} s)", flush=True)
            results[label] = accs
        ok &= judge(name, results["reference"], results["softmax regression"], thresholds[name])
        print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
