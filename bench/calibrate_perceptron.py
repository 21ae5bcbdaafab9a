"""Calibrate the perceptron suite's held-out thresholds (blobs, iris) over several seeds.

Usage: .venv/bin/python bench/calibrate_perceptron.py [--seeds 0 1 2 ... 19]

Runs the suite's own recipes (`blobs_accuracy`, `iris_accuracy` in exercises/perceptron/hidden/
test_perceptron.py, loaded from that file) in this process, each seed after the same seeding the
sandbox gets (`seed_like_the_sandbox`), on:
  - reference: reference/perceptron.py (the batch rule);
  - per-sample: the classic per-sample rule with the thresholded output, samples shuffled each
    epoch with numpy's global generator (a correct form that stops at any separating line);
  - no learning: a fit that leaves the zero start in place (must fail at every seed).
Prints each seed's figure and what the manifest's plan (seeds, margin, median) decides. Cheap:
a few seconds for 20 seeds.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from calibration import ROOT, judge_plan, load_module, seed_like_the_sandbox, test_plan

SUITE = ROOT / "exercises" / "perceptron" / "hidden" / "test_perceptron.py"


def forms(reference):
    class PerSample(reference.Perceptron):
        def fit(self, X, y, epochs=100, verbose=False):
            X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float).ravel()
            for _ in range(epochs):
                for i in np.random.permutation(len(y)):
                    step = float(self.net_input(X[i:i + 1])[0] >= 0)
                    self.weights = self.weights + self.learning_rate * (y[i] - step) * X[i]
                    self.bias = self.bias + self.learning_rate * (y[i] - step)
            return self

    class NoLearning(reference.Perceptron):
        def fit(self, X, y, epochs=100, verbose=False):
            return self

    def module(cls):
        return type("Form", (), {"Perceptron": cls})

    return {"reference": reference, "per-sample": module(PerSample), "no learning": module(NoLearning)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    args = parser.parse_args()
    suite = load_module("perceptron_suite", SUITE)
    solutions = forms(load_module("perceptron_reference", ROOT / "reference" / "perceptron.py"))
    recipes = {
        "test_learns_separable_blobs": (lambda m, s: suite.blobs_accuracy(m, s), suite.BLOBS_THRESHOLD),
        "test_iris_heldout_accuracy": (lambda m, s: suite.iris_accuracy(m, SUITE.parent, s), suite.IRIS_THRESHOLD),
    }
    ok = True
    for test_name, (recipe, threshold) in recipes.items():
        figures = {}
        for label, module in solutions.items():
            figures[label] = {}
            for seed in args.seeds:
                seed_like_the_sandbox(seed)
                figures[label][seed] = recipe(module, seed)
        ok &= judge_plan(test_name, test_plan("perceptron", test_name), figures, threshold, {"no learning"})
        print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
