"""Calibrate the MNIST threshold of the pytorch-basics suite (CONTRACT.md, grading data protocol).

Runs the suite's own recipe (`mnist_recipe` in exercises/pytorch-basics/hidden/test_pytorch_basics.py,
loaded from that file) in this process on five seeds for:
  - the reference MNISTClassifier (reference/pytorch-basics.py), which must pass on 5/5 seeds with at
    least 1.5 percentage points to spare;
  - softmax regression (nn.Linear(784, 10), no hidden layer) trained by the same train_epoch calls,
    which must fail;
  - for information, a plain one-hidden-layer MLP 784-128-10 (what many students write), and with
    `--only cnn` a small CNN (two 3x3 conv blocks, 206,922 parameters; slow on a busy CPU).

    GRADER_DATA_DIR=/path/to/datasets .venv/bin/python bench/calibrate_pytorch_basics.py [--seeds 0,1,2,3,4]

Set torch's threads with --threads (default 2, the sandbox's cpu_threads).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import types

import torch
import torch.nn.functional as F
from torch import nn

from calibration import ROOT, cache_dir, data_dir, judge, load_module, judge_plan, seed_like_the_sandbox, test_plan
from grader.datasets import grading_split


class SmallCNN(nn.Module):
    """conv(1->16) -> pool -> conv(16->32) -> pool -> fc(1568->128) -> fc(128->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x.view(-1, 1, 28, 28))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="reference,baseline,mlp",
                        help="comma-separated: reference, baseline, mlp, cnn")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    suite = load_module("pytorch_basics_suite", ROOT / "exercises/pytorch-basics/hidden/test_pytorch_basics.py")
    reference = load_module("pytorch_basics_reference", ROOT / "reference/pytorch-basics.py")
    split = grading_split("mnist", data_dir(), cache_dir())

    def with_model(factory):
        return types.SimpleNamespace(MNISTClassifier=factory, train_epoch=reference.train_epoch)

    models = {
        "reference": reference,
        "baseline": with_model(lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10))),
        "mlp": with_model(lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                                                nn.Linear(128, 10))),
        "cnn": with_model(SmallCNN),
    }
    print(f"recipe: {suite.MNIST_EPOCHS} epochs, batch {suite.MNIST_BATCH}, Adam lr {suite.MNIST_LR}; "
          f"threshold {suite.MNIST_THRESHOLD}; torch threads {torch.get_num_threads()}")
    results = {}
    for name in args.only.split(","):
        accs = []
        for seed in seeds:
            started = time.perf_counter()
            seed_like_the_sandbox(seed)
            accuracy, shape = suite.mnist_recipe(models[name], importlib.import_module, split, seed=seed)
            accs.append(accuracy)
            print(f"{name:9s} seed {seed}: accuracy {accuracy:.4f}  ({time.perf_counter() - started:.1f} s)",
                  flush=True)
        results[name] = accs
        print(f"{name:9s} min {min(accs):.4f} max {max(accs):.4f} mean {sum(accs) / len(accs):.4f}")
    ok = True
    if "reference" in results and "baseline" in results:
        ok = judge("mnist", results["reference"], results["baseline"], suite.MNIST_THRESHOLD)
        ok &= judge_plan("mnist", test_plan("pytorch-basics", "test_mnist_accuracy"),
                         {name: dict(zip(seeds, accs)) for name, accs in results.items()},
                         suite.MNIST_THRESHOLD, {"baseline"})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
