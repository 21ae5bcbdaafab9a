"""Grading overhead: whole `grader run` wall time minus the time spent inside the suite's tests.

Usage: .venv/bin/python bench/overhead.py [--repeat 5] [--backend local]
Grades a small notebook (the toy exercise of the project's tests) and the perceptron reference,
and prints the median of each number. Targets: overhead under 0.5 s with the local backend
(issue 2); the docker backend under 1.5 s more than local for the same submission (issue 4):
`bench/overhead.py --backend local docker` prints that difference.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def small_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy"),
                nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np"),
                nbformat.v4.new_code_cell((FIXTURES / "toy_solution.py").read_text()),
                nbformat.v4.new_code_cell("print(add(1, 2))")]
    path = folder / "small.ipynb"
    nbformat.write(nb, path)
    return path


def measure(exercise: str, path: Path, backend: str, env: dict, repeat: int) -> float:
    walls, suites = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "grader", "run", exercise, str(path), "--json",
                               "--backend", backend], capture_output=True, text=True, env=env, cwd=ROOT)
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            sys.exit(f"grader failed: {proc.stderr}")
        result = json.loads(proc.stdout)
        suites.append(result["suite_duration_s"])
    wall, suite = statistics.median(walls), statistics.median(suites)
    print(f"{exercise:<12} {path.name:<18} wall {wall:6.3f} s   suite {suite:6.3f} s   "
          f"overhead {wall - suite:6.3f} s   (median of {repeat}, backend {backend})")
    return wall - suite


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", nargs="+", default=["local"], choices=["local", "docker"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        toy_env = dict(os.environ, GRADER_EXERCISES_DIR=str(FIXTURES / "exercises"))
        cases = [("toy", small_notebook(Path(tmp)), toy_env),
                 ("perceptron", ROOT / "reference" / "perceptron.py", dict(os.environ))]
        for exercise, path, env in cases:
            overhead = {backend: measure(exercise, path, backend, env, args.repeat) for backend in args.backend}
            if {"local", "docker"} <= set(overhead):
                print(f"{'':<12} docker - local: {overhead['docker'] - overhead['local']:+.3f} s per submission")


if __name__ == "__main__":
    main()
