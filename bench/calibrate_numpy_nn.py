"""Calibrate the accuracy thresholds of the numpy-nn suite (CONTRACT.md, "Grading data protocol").

Usage: GRADER_DATA_DIR=/path/to/datasets .venv/bin/python bench/calibrate_numpy_nn.py
           [--seeds 0 1 2 3 4] [--datasets mnist fashion-mnist]
           [--only reference course baseline]

Runs the suite's own recipe (`train_and_predict` in exercises/numpy-nn/hidden/test_numpy_nn.py,
loaded from that file, so there is one recipe: it measures the solution's gradient scale on the
first training batch and divides the learning rates by it) in this process, for each seed, on:
  - reference: the textbook reference solution (reference/numpy-nn.py: loss gradients of the mean,
    Softmax applying its Jacobian; scale 1);
  - course: the same solution written the way the course teaches it
    (tests/fixtures/course_forms/numpy_nn_course.py: the combined softmax + cross-entropy
    shortcut and loss gradients summed over the batch; scale 64, the batch size);
  - baseline: softmax regression (Dense(784, 10) + Softmax, the reference's classes, same recipe).
Both forms of the solution must pass on every seed with 1.5 points to spare and the baseline must
fail: the script prints each accuracy, each form's spare, the window of thresholds that satisfies
the protocol (the worst form's worst seed - 1.5 points >= threshold > the baseline's best seed) and
whether the suite's thresholds sit in it, then what the manifest's seed plan (seeds, margin, median)
decides for each (every run seeded first as the sandbox is). One BLAS thread, as the manifest gives the student
process. About 5 s per training of the 784-256-128-10 network on one idle core (10-16 s on a
loaded 2-core machine), 20 of them for the defaults, plus 10 quick baseline runs.
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

from calibration import ROOT, cache_dir, data_dir, judge_plan, judge_variants, load_appended, load_module, seed_like_the_sandbox, test_plan
from grader.datasets import grading_split

SOLUTIONS = {
    # label: (file, what it is)
    "reference": (ROOT / "reference" / "numpy-nn.py", "textbook reference (gradients of the mean loss)"),
    "course": (ROOT / "tests" / "fixtures" / "course_forms" / "numpy_nn_course.py",
               "course form (softmax + cross-entropy shortcut, gradients summed over the batch)"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--only", nargs="+", default=["reference", "course", "baseline"],
                        choices=["reference", "course", "baseline"])
    args = parser.parse_args()
    suite = load_module("numpy_nn_suite", ROOT / "exercises" / "numpy-nn" / "hidden" / "test_numpy_nn.py")
    reference = SOLUTIONS["reference"][0]
    modules = {label: load_module(f"numpy_nn_{label}", path) if path == reference
               else load_appended(f"numpy_nn_{label}", reference, path)      # the course form: appended
               for label, (path, _) in SOLUTIONS.items()}
    thresholds = {"mnist": suite.MNIST_THRESHOLD, "fashion-mnist": suite.FASHION_THRESHOLD}
    print(f"recipe: {suite._describe_recipe()}; suite seed {suite.SUITE_SEED}")
    for label, (path, what) in SOLUTIONS.items():
        print(f"{label}: {what}: {path.relative_to(ROOT)}")

    runs = [(label, modules[label], suite.HIDDEN) for label in ("reference", "course") if label in args.only]
    if "baseline" in args.only:
        runs.append(("softmax regression", modules["reference"], ()))
    ok = True
    for name in args.datasets:
        split = grading_split(name, data_dir(), cache_dir())
        results = {}
        for label, module, hidden in runs:
            accs = []
            for seed in args.seeds:
                started = time.monotonic()
                seed_like_the_sandbox(seed)
                probs, scale = suite.train_and_predict(module, importlib.import_module, split,
                                                       seed=seed, hidden=hidden)
                acc = float(np.mean(np.argmax(probs, axis=1) == split.y_eval))
                accs.append(acc)
                print(f"  {name:13s} {label:18s} seed {seed}: {acc:.4f} (gradient scale {scale:g}; "
                      f"{time.monotonic() - started:.1f} s)", flush=True)
            results[label] = accs
        baseline = results.pop("softmax regression", None)
        if results and baseline:
            ok &= judge_variants(name, results, baseline, thresholds[name])
            figures = {label: dict(zip(args.seeds, accs)) for label, accs in results.items()}
            figures["softmax regression"] = dict(zip(args.seeds, baseline))
            ok &= judge_plan(name, test_plan("numpy-nn", f"test_{name.replace('-', '_')}_accuracy"), figures,
                             thresholds[name], {"softmax regression"})
        else:
            print(f"{name}: not judged (needs a form of the solution and the baseline)")
            ok = False
        print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
