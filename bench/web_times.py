"""Web request times on a full course: the gradebook page for 500 students x 6 exercises x 5
submissions each (target p95 < 250 ms on PostgreSQL), and the upload request (target p95 <
100 ms: it checks, stores and enqueues; it never grades); then what one upload of a hostile or a
large file costs the web process: its wall time and the peak memory it adds (each file in a
fresh interpreter on SQLite, its peak RSS reset just before the request: /proc/self/clear_refs,
then VmHWM), and the CPU time of the checker child, if one ran (its memory is capped by its own
RLIMIT_AS; its ru_maxrss would count the web process it was started from).

Usage: .venv/bin/python bench/web_times.py [--database-url postgresql://127.0.0.1:5432/postgres]
       [--broker-url redis://127.0.0.1:6379/14] [--students 500] [--submissions 5] [--requests 30]
       [--upload-costs-only]
A scratch database is created on the server of --database-url and dropped afterwards; the
requests go through Flask's test client (the app's own time: no network, no TLS)."""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fill(config, students: int, per_exercise: int) -> int:
    """Users, and graded submissions with one run each, by bulk inserts."""
    from sqlalchemy import insert, select
    from grader.storage.exercises import sync_exercises
    from grader.storage.users import add_user
    from grader.storage.db import session_scope
    from grader.storage.models import Exercise, GradingRun, Submission, TestOutcome, User, utcnow
    rng = random.Random(1)
    now = utcnow()
    with session_scope(config) as s:
        sync_exercises(s, config)
        add_user(s, "ines", "instructor", password="bench-password")
        s.execute(insert(User), [{"name": f"student{i:04d}", "name_key": f"student{i:04d}", "role": "student",
                                  "section": f"S{i % 8}",
                                  "created_at": now} for i in range(students)])
    with session_scope(config) as s:
        users = list(s.scalars(select(User.id).where(User.role == "student")))
        exercises = [(e.id, e.points, e.tests) for e in s.scalars(select(Exercise))]
    count = 0
    for user_id in users:
        with session_scope(config) as s:
            subs = []
            for exercise_id, points, _ in exercises:
                for k in range(per_exercise):
                    subs.append({"user_id": user_id, "exercise_id": exercise_id, "filename": "nb.ipynb",
                                 "sha256": uuid.uuid4().hex * 2, "size": 1000, "status": "graded", "attempts": 1,
                                 "received_at": now - timedelta(days=10 - k), "finished_at": now})
            ids = s.scalars(insert(Submission).returning(Submission.id, sort_by_parameter_order=True), subs).all()
            runs = []
            for sid, sub in zip(ids, subs):
                points = next(p for e, p, _ in exercises if e == sub["exercise_id"])
                score = round(rng.uniform(0, points), 1)
                runs.append({"submission_id": sid, "attempt": 1, "backend": "docker", "device": "cpu",
                             "started_at": now, "finished_at": now, "duration_s": 3.0, "score": score,
                             "max_score": points, "bonus": 0.0, "infrastructure": False,
                             "result": {"score": score, "max_score": points, "tests": []}})
            run_ids = s.scalars(insert(GradingRun).returning(GradingRun.id, sort_by_parameter_order=True), runs).all()
            outcomes = []
            for run_id, sub in zip(run_ids, subs):
                tests = next(t for e, _, t in exercises if e == sub["exercise_id"])
                outcomes += [{"run_id": run_id, "name": t["name"], "status": rng.choice(["passed", "failed"]),
                              "points": 0.0, "max_points": t["points"], "bonus": t["bonus"]} for t in tests]
            s.execute(insert(TestOutcome), outcomes)
            count += len(subs)
    return count


UPLOADS = {   # name: (what it is, file name)
    "plus": ("8 MB of `x = 1+1+...`", "plus.py"),
    "defs": ("5.7 MB of small defs", "defs.py"),
    "notebook": ("the perceptron notebook", "perceptron.ipynb"),
    "plots": ("the perceptron notebook with 3 MB of plots", "plots.ipynb"),
}


def upload_data(kind: str) -> bytes:
    if kind == "plus":
        return b"x = 1" + b"+1" * (4 * 1024 * 1024 - 3) + b"\n"
    if kind == "defs":
        return b"".join(b"def f%d(a, b):\n    return a + b\n" % i for i in range(170_000))
    notebook = json.loads((ROOT / "exercises" / "perceptron" / "perceptron.ipynb").read_text())
    if kind == "plots":
        rng = random.Random(2)
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        for cell in code[:6]:           # 6 PNGs of 500 KB each (base64 of random bytes: incompressible)
            png = __import__("base64").b64encode(rng.randbytes(375_000)).decode()
            cell["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": png}}]
    return json.dumps(notebook).encode()


def memory_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(key + ":")).split()[1])


def upload_cost(kind: str) -> dict:
    """One upload of `kind` to the API of a fresh app (SQLite, embedded broker), in this process:
    wall time, this process's peak RSS growth, the checker child's CPU time (0: none ran)."""
    from grader.config import Config
    from grader.storage import migrate
    from grader.storage.db import session_scope
    from grader.storage.exercises import sync_exercises
    from grader.storage.users import add_user, issue_token
    from grader.web import create_app
    with tempfile.TemporaryDirectory() as instance:
        config = Config(instance_dir=Path(instance), secret_key="b" * 32)
        migrate.upgrade(config)
        with session_scope(config) as s:
            sync_exercises(s, config)
            add_user(s, "uploader", "student")
            token = issue_token(s, "uploader")
        client = create_app(config, SESSION_COOKIE_SECURE=False, TESTING=True).test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def send(data: bytes, name: str):
            return client.post("/api/v1/submissions", headers=headers, content_type="multipart/form-data",
                               data={"exercise": "perceptron", "file": (io.BytesIO(data), name)})

        assert send((ROOT / "reference" / "perceptron.py").read_bytes(), "warm.py").status_code == 201
        data, name = upload_data(kind), UPLOADS[kind][1]
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                  # the peak (VmHWM) starts again from the current RSS
        before = memory_kb("VmRSS")
        t0 = time.perf_counter()
        response = send(data, name)
        wall = time.perf_counter() - t0
        growth = memory_kb("VmHWM") - before
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        from grader.storage.db import dispose_engines
        dispose_engines()
    return {"size": len(data), "status": response.status_code, "wall_ms": wall * 1000,
            "growth_mb": growth / 1024, "child_cpu_s": children.ru_utime + children.ru_stime,
            "message": (response.get_json() or {}).get("message")}


def upload_costs() -> None:
    print("upload cost, one API request each, in a fresh interpreter (the web process's own peak):")
    for kind, (what, _) in UPLOADS.items():
        run = subprocess.run([sys.executable, __file__, "--upload-case", kind], capture_output=True, text=True,
                             check=False, timeout=600)
        if run.returncode != 0:
            print(f"  {what}: failed\n{run.stderr[-2000:]}")
            continue
        c = json.loads(run.stdout.strip().splitlines()[-1])
        child = f"checker child {c['child_cpu_s']:.2f} s CPU" if c["child_cpu_s"] else "read in the web process"
        said = f": {c['message']}" if c["message"] else ""
        print(f"  {what} ({c['size'] / 2**20:.1f} MiB): HTTP {c['status']}{said} in {c['wall_ms']:.0f} ms, "
              f"web process +{c['growth_mb']:.0f} MB peak, {child}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--submissions", type=int, default=5, help="per student and exercise")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--upload-costs-only", action="store_true", help="only the upload costs (no PostgreSQL)")
    parser.add_argument("--upload-case", choices=sorted(UPLOADS), help=argparse.SUPPRESS)   # one, in this process
    args = parser.parse_args()
    if args.upload_case:
        print(json.dumps(upload_cost(args.upload_case)))
        return
    if args.upload_costs_only:
        upload_costs()
        return
    from sqlalchemy import create_engine, text
    from grader.config import Config
    from grader.storage import migrate
    from grader.storage.db import dispose_engines
    from grader.web import create_app
    server, _, _ = args.database_url.rpartition("/")
    name = f"grader_bench_{os.getpid()}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as instance:
            config = Config(instance_dir=Path(instance), database_url=f"{server}/{name}", broker_url=args.broker_url,
                            secret_key="b" * 32)
            migrate.upgrade(config)
            started = time.monotonic()
            n = fill(config, args.students, args.submissions)
            print(f"cores: {os.cpu_count()}; PostgreSQL; {args.students} students, {n} graded submissions "
                  f"(filled in {time.monotonic() - started:.0f} s)")
            app = create_app(config, SESSION_COOKIE_SECURE=False, TESTING=True)
            client = app.test_client()
            import re
            page = client.get("/login")
            csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
            client.post("/login", data={"username": "ines", "password": "bench-password", "csrf_token": csrf})
            timings = []
            for _ in range(args.requests + 2):
                t0 = time.perf_counter()
                response = client.get("/staff/gradebook")
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.status_code
            timings = timings[2:]                 # the first two warm caches
            print(f"gradebook page: p50 {statistics.median(timings):.0f} ms, p95 {percentile(timings, 95):.0f} ms "
                  f"(target p95 < 250 ms; {len(timings)} requests, {len(response.data) // 1024} KB)")
            # uploads: a student with no limits, the perceptron reference, stored and enqueued
            from grader.storage.users import add_user
            from grader.storage.db import session_scope
            with session_scope(config) as s:
                add_user(s, "uploader", "student", password="bench-password")
            student = app.test_client()
            page = student.get("/login")
            csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
            student.post("/login", data={"username": "uploader", "password": "bench-password", "csrf_token": csrf})
            csrf = re.search(rb'name="csrf_token" value="([^"]+)"', student.get("/").data).group(1).decode()
            data = (ROOT / "reference" / "perceptron.py").read_bytes()
            uploads = []
            for _ in range(args.requests + 2):
                t0 = time.perf_counter()
                response = student.post("/submit", data={"exercise": "perceptron", "csrf_token": csrf,
                                                         "file": (io.BytesIO(data), "perceptron.py")},
                                        content_type="multipart/form-data")
                uploads.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 303, response.data[:300]
            uploads = uploads[2:]
            print(f"upload request: p50 {statistics.median(uploads):.0f} ms, p95 {percentile(uploads, 95):.0f} ms "
                  f"(target p95 < 100 ms; broker {args.broker_url.split('://')[0]})")
            if args.broker_url.startswith("redis://"):      # the messages no worker will take
                import redis
                redis.Redis.from_url(args.broker_url).flushdb()
    finally:
        dispose_engines()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    upload_costs()


if __name__ == "__main__":
    main()
