"""Queue latency and throughput: enqueue-to-graded time for a trivial submission (p50, p95), and
submissions per second with 1 and 2 grading processes on N submissions.

Usage: .venv/bin/python bench/queue_latency.py [--n 20] [--latency 10]
                                              [--database-url postgresql://...] [--broker-url redis://...]
Without URLs it uses the embedded default (SQLite database and broker in a temporary instance
folder). Each measurement starts its own `grader worker` (the toy exercise of the project's
tests) and stops it. Times come from the database: received_at to finished_at of each submission.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXERCISES = ROOT / "tests" / "fixtures" / "exercises"
TRIVIAL = (ROOT / "tests" / "fixtures" / "toy_solution.py").read_bytes()


def start_worker(env: dict, concurrency: int, log: Path) -> subprocess.Popen:
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "grader", "worker", "--concurrency", str(concurrency)],
                            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def times(config, ids):
    from grader.storage.submissions import get_submission
    from grader.storage.db import session_scope
    with session_scope(config) as session:
        rows = [get_submission(session, i) for i in ids]
        bad = [r.id for r in rows if r.status != "graded"]
        if bad:
            raise SystemExit(f"submissions not graded: {bad}")
        return [(r.received_at, r.finished_at) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="submissions per throughput run")
    parser.add_argument("--latency", type=int, default=10, help="submissions, one at a time, for the latency")
    parser.add_argument("--database-url")
    parser.add_argument("--broker-url")
    args = parser.parse_args()
    from grader import service
    from grader.config import Config
    from grader.errors import DuplicateUser
    from grader.storage import migrate
    from grader.storage.exercises import sync_exercises
    from grader.storage.users import add_user
    from grader.storage.db import session_scope

    instance = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(GRADER_EXERCISES_DIR=str(EXERCISES), GRADER_INSTANCE_DIR=str(instance))
    if args.database_url:
        env["GRADER_DATABASE_URL"] = args.database_url
    if args.broker_url:
        env["GRADER_BROKER_URL"] = args.broker_url
    config = Config.from_env(env)
    migrate.upgrade(config)
    with session_scope(config) as session:
        sync_exercises(session, config)
    try:
        with session_scope(config) as session:
            add_user(session, "bench")
    except DuplicateUser:                  # a database used by an earlier run
        pass
    print(f"cores: {os.cpu_count()}; database {config.database_url.split('://')[0]}, "
          f"broker {config.broker_url.split('://')[0]}")

    proc = start_worker(env, 1, instance / "worker-latency.log")
    try:
        service.wait(config, service.submit(config, "bench", "toy", "warmup.py", TRIVIAL), 120)
        latencies = []
        for i in range(args.latency):
            sid = service.submit(config, "bench", "toy", f"l{i}.py", TRIVIAL + f"\n# {i}\n".encode())
            service.wait(config, sid, 120)
            (received, finished), = times(config, [sid])
            latencies.append((finished - received).total_seconds())
    finally:
        stop_worker(proc)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"enqueue-to-graded latency, trivial submission: p50 {statistics.median(latencies):.2f} s, "
          f"p95 {p95:.2f} s ({len(latencies)} submissions, one at a time)")

    for processes in (1, 2):
        proc = start_worker(env, processes, instance / f"worker-{processes}.log")
        try:
            service.wait(config, service.submit(config, "bench", "toy", "warmup.py", TRIVIAL), 120)
            ids = [service.submit(config, "bench", "toy", f"t{processes}-{i}.py",
                                  TRIVIAL + f"\n# {processes} {i}\n".encode()) for i in range(args.n)]
            for sid in ids:
                service.wait(config, sid, 600)
            spans = times(config, ids)
        finally:
            stop_worker(proc)
        elapsed = (max(f for _, f in spans) - min(r for r, _ in spans)).total_seconds()
        print(f"throughput, {processes} grading process(es): {args.n / elapsed:.2f} submissions/s "
              f"({args.n} in {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
