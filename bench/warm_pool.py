"""Warm sandboxes (grader/harness/pool.py): one grading's wall time, cold start vs warm start.

Usage: .venv/bin/python bench/warm_pool.py [--repeat 3] [--backend local docker] [--exercise perceptron pytorch-basics]
Grades each exercise's reference in this one process, as a worker's pool child does (the backend
built once, one untimed grading first so that pytest and the data are loaded): `cold` starts the
sandbox in the grading, `warm` takes one the pool started and warmed before the grading was asked
for (the wait between submissions is not timed: in a worker it overlaps the queue). Prints the
median of each and cold / warm. pytorch-basics reads MNIST (GRADER_DATA_DIR or ../shared/datasets).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def data_dir() -> Path | None:
    for candidate in (os.environ.get("GRADER_DATA_DIR"), ROOT.parent / "shared" / "datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", nargs="+", default=["local"], choices=["local", "docker"])
    parser.add_argument("--exercise", nargs="+", default=["perceptron", "pytorch-basics"])
    args = parser.parse_args()

    from grader.config import Config
    from grader.grading import grade, limits_for, preload_for
    from grader.harness.pool import WarmPool
    from grader.manifest import load_exercise
    from grader.sandbox import get_backend

    config = Config(data_dir=data_dir(), warm_pool=0)
    for backend in args.backend:
        sandbox = get_backend(backend, config)
        for exercise_id in args.exercise:
            exercise = load_exercise(config.exercises_dir, exercise_id)
            key = (limits_for(exercise), preload_for(exercise))
            data = (ROOT / "reference" / f"{exercise_id}.py").read_bytes()

            def once(pool) -> float:
                started = time.perf_counter()
                result = grade(exercise_id, data, f"{exercise_id}.py", config, sandbox, pool=pool)
                seconds = time.perf_counter() - started
                if result.score != result.max_score:
                    sys.exit(f"{exercise_id}: the reference scored {result.score}/{result.max_score}")
                return seconds

            once(None)                                  # pytest, the suite and the data loaded
            cold = [once(None) for _ in range(args.repeat)]
            pool = WarmPool(sandbox, 1)
            warm = []
            try:
                for _ in range(args.repeat):
                    pool.fill(*key)
                    deadline = time.monotonic() + 300
                    while not pool.idle(*key):          # between submissions: not timed
                        if time.monotonic() > deadline:
                            sys.exit(f"{exercise_id}: no warm sandbox after 300 s")
                        time.sleep(0.1)
                    warm.append(once(pool))
                served = pool.served
            finally:
                pool.close()
            c, w = statistics.median(cold), statistics.median(warm)
            print(f"{exercise_id:<15} {backend:<6} cold {c:6.2f} s   warm {w:6.2f} s   cold/warm {c / w:4.2f}x   "
                  f"(median of {args.repeat}; {served} warm sandboxes used)", flush=True)


if __name__ == "__main__":
    main()
