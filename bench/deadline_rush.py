"""The last hour before a due date, replayed on this machine: N students submit a realistic mix
through the JSON API against PostgreSQL + Redis, graded by two worker "hosts"; one host is killed
in the middle and Redis restarts once. Then the same again with the warm sandbox pool off.

Usage: .venv/bin/python bench/deadline_rush.py [--students 300] [--window-s S] [--seed 1]
       [--pool-only | --cold-only] [--keep]

Needs: PostgreSQL at GRADER_BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432, a
scratch database is made and dropped), `redis-server` on the PATH (the bench runs its own, to
restart it), the datasets (GRADER_DATA_DIR or ../shared/datasets), and the local sandbox.

The mix: each student uploads one exercise (all six; the torch ones a little rarer, as they are
the slow ones): mostly the reference, some partial (one function of it broken), a few attacks
(fork bomb, reading the host, the network, a memory hog) and broken notebooks; a few "bursters"
upload 10 times within a minute. Arrivals crowd towards the end of the window.

Prints, per run: submissions lost (accepted and never final, or an upload without an answer:
must be 0; a refusal with its reason, e.g. the broken notebooks' 422, is an answer), graded twice
(more than one scored run: must be 0), p50/p95 enqueue->quick feedback and enqueue->final per
exercise for the single-upload students (quick: the first time the API showed results of the
quick stage, or the final ones), the bursters' own figures, throughput, the worst and
the median queue wait (received -> its grading starts) of a single-upload student beside the
bursters' own; and
last one line `lost=.. graded_twice=.. p95_quick_s=.. p95_final_s=.. pool_speedup=..`, where
pool_speedup is the torch exercises' median grading time (the runs' own duration) cold over warm.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXERCISES = ("perceptron", "feedforward", "backprop", "numpy-nn", "pytorch-basics", "pytorch-advanced")
WEIGHTS = (3, 3, 3, 2, 1.5, 1.5)
TORCH = ("pytorch-basics", "pytorch-advanced")
FINAL = ("graded", "failed", "error")
ATTACKS = {
    "fork": "import os\nwhile True:\n    os.fork()\n",
    "host": "SECRET = open('/etc/shadow').read()\n",
    "network": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n",
    "memory": "hog = bytearray(64 * 1024 ** 3)\n",
    "loop": "while True:\n    pass\n",
}
BROKEN_NOTEBOOK = b'{"cells": [{"cell_type": "code", "source": "def broken(:\\n    pass"'   # not JSON


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout_s: float, what: str, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every_s)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# ---------------------------------------------------------------- the world the rush runs in

class Redis:
    def __init__(self, folder: Path):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise SystemExit("redis-server is not on the PATH")
        self.port, self.folder, self.proc = free_port(), folder, None

    def start(self) -> None:
        import redis
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
            except Exception:  # noqa: BLE001 - not up yet
                return False
        wait_until(up, 20, "redis-server")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Database:
    def __init__(self):
        self.server = os.environ.get("GRADER_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
        self.name = f"rush_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    def __enter__(self) -> str:
        self._admin(f'CREATE DATABASE "{self.name}"')
        return f"{self.server}/{self.name}"

    def __exit__(self, *exc) -> None:
        from grader.storage.db import dispose_engines
        dispose_engines()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine, text
        engine = create_engine(f"{self.server}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(sql))
        engine.dispose()


def start_process(argv: list[str], env: dict, log: Path, ready: str, timeout_s: float = 120) -> subprocess.Popen:
    out = open(log, "w")
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def up():
        if proc.poll() is not None:
            raise SystemExit(f"{argv[3:5]} exited at start:\n{log.read_text()[-3000:]}")
        return ready in log.read_text()
    wait_until(up, timeout_s, f"{' '.join(argv[3:5])} to start")
    return proc


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout_s: float = 60) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- the students

@dataclass
class Upload:
    student: str
    exercise: str
    kind: str                 # reference, partial, attack:<name>, broken
    data: bytes
    filename: str
    at_s: float               # when it is sent, from the window's start
    burst: bool = False
    id: int | None = None
    sent: float | None = None
    quick: float | None = None
    final: float | None = None
    status: str | None = None
    refused: str | None = None


def partial_of(source: str, names: tuple[str, ...], rng: random.Random) -> str:
    """The reference with one of its graded names broken (defined last, so it wins)."""
    name = rng.choice(names)
    return source + f"\n\n\ndef {name}(*args, **kwargs):\n    raise NotImplementedError('not done yet')\n"


def plan(students: int, window_s: float, seed: int) -> list[Upload]:
    from grader.config import Config
    from grader.manifest import load_exercise
    config = Config.from_env({})
    rng = random.Random(seed)
    references = {ex: (ROOT / "reference" / f"{ex}.py").read_text() for ex in EXERCISES}
    names = {ex: load_exercise(config.exercises_dir, ex).names for ex in EXERCISES}
    bursters = set(rng.sample(range(students), max(1, students // 50)))
    uploads = []
    for i in range(students):
        student = f"student{i:04d}"
        exercise = rng.choices(EXERCISES, WEIGHTS)[0]
        # arrivals crowd towards the due date: the square root of a uniform leans late
        at = window_s * (rng.random() ** 0.5)
        roll = rng.random()
        if roll < 0.72:
            kind, source = "reference", references[exercise]
        elif roll < 0.88:
            kind, source = "partial", partial_of(references[exercise], names[exercise], rng)
        elif roll < 0.94:
            attack = rng.choice(sorted(ATTACKS))
            kind, source = f"attack:{attack}", references[exercise] + "\n\n" + ATTACKS[attack]
        else:
            kind, source = "broken", None
        if source is None:
            data, filename = BROKEN_NOTEBOOK, "solution.ipynb"
        else:
            data, filename = (source + f"\n# {student}\n").encode(), "solution.py"
        if i in bursters:
            exercise = rng.choice(("perceptron", "feedforward", "backprop"))
            start = max(0.0, min(at, window_s - 60))
            for k in range(10):                   # 10 uploads within a minute, each a little different
                body = (references[exercise] + f"\n# {student} try {k}\n").encode()
                uploads.append(Upload(student, exercise, "reference", body, "solution.py", start + 6 * k, burst=True))
        else:
            uploads.append(Upload(student, exercise, kind, data, filename, at))
    return sorted(uploads, key=lambda u: u.at_s)


def post(base: str, token: str, upload: Upload) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = b"".join([
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"exercise\"\r\n\r\n{upload.exercise}\r\n".encode(),
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{upload.filename}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n".encode(), upload.data, b"\r\n",
        f"--{boundary}--\r\n".encode()])
    request = urllib.request.Request(f"{base}/api/v1/submissions", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Idempotency-Key": uuid.uuid4().hex})
    return _call(request)


def get(base: str, token: str, submission_id: int) -> tuple[int, dict]:
    request = urllib.request.Request(f"{base}/api/v1/submissions/{submission_id}",
                                     headers={"Authorization": f"Bearer {token}"})
    return _call(request)


def _call(request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
    except OSError as e:                      # the web restarting: say so, the caller tries again
        return 0, {"error": str(e)}


def has_quick(body: dict) -> bool:
    """The API shows results of the quick stage (two-stage feedback), or the final ones."""
    if body.get("status") in FINAL:
        return True
    progress = body.get("progress") or {}
    return bool(progress.get("quick") or body.get("quick"))


def student(base: str, token: str, uploads: list[Upload], start: float, deadline: float) -> None:
    """One student: sends their uploads at their times, each watched until it is final by a
    watcher of its own (a burster's first upload is seen final while they still upload)."""
    watchers = []
    for upload in uploads:
        delay = start + upload.at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for _ in range(20):
            code, body = post(base, token, upload)
            if code:
                break
            time.sleep(0.5)
        upload.sent = time.monotonic()
        if code in (200, 201):
            upload.id = body["id"]
            watchers.append(threading.Thread(target=watch, args=(base, token, upload, deadline), daemon=True))
            watchers[-1].start()
        else:
            upload.refused = f"{code}: {body.get('error') or body.get('message') or body}"
    for watcher in watchers:
        watcher.join(max(0.0, deadline - time.monotonic()) + 5)


def watch(base: str, token: str, upload: Upload, deadline: float) -> None:
    while time.monotonic() < deadline:
        code, body = get(base, token, upload.id)
        now = time.monotonic()
        if code == 200:
            if upload.quick is None and has_quick(body):
                upload.quick = now
            if body.get("status") in FINAL:
                upload.final, upload.status = now, body["status"]
                return
        time.sleep(0.25)


# ---------------------------------------------------------------- one rush

@dataclass
class Outcome:
    label: str
    uploads: list[Upload]
    durations: dict = field(default_factory=dict)     # exercise -> the runs' grading times
    waits: dict = field(default_factory=dict)         # submission id -> received to its first run's start
    lost: int = 0
    graded_twice: int = 0
    elapsed_s: float = 0.0


def rush(args, label: str, pool: bool, work: Path) -> Outcome:
    from grader.config import Config
    from grader.storage import migrate
    from grader.storage.db import session_scope
    from grader.storage.exercises import sync_exercises
    from grader.storage.users import add_user, issue_token

    uploads = plan(args.students, args.window_s, args.seed)
    folder = work / label
    folder.mkdir()
    redis_server = Redis(folder)
    redis_server.start()
    data_dir = os.environ.get("GRADER_DATA_DIR") or str(ROOT.parent / "shared" / "datasets")
    with Database() as database_url:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        base_env.update(GRADER_DATABASE_URL=database_url, GRADER_BROKER_URL=redis_server.url,
                        GRADER_DATA_DIR=data_dir, GRADER_STORAGE_DIR=str(folder / "files"),   # shared, as a volume
                        GRADER_SWEEP_AFTER_S=str(args.sweep_after_s), GRADER_SECRET_KEY=uuid.uuid4().hex,
                        GRADER_WARM_POOL="1" if pool else "0")
        env = lambda name: {**base_env, "GRADER_INSTANCE_DIR": str(folder / name)}  # noqa: E731
        config = Config.from_env(env("web"))
        migrate.upgrade(config)
        tokens = {}
        with session_scope(config) as session:
            sync_exercises(session, config)
            for name in sorted({u.student for u in uploads}):
                add_user(session, name)
                tokens[name] = issue_token(session, name, label="rush")
        port = free_port()
        web = start_process([sys.executable, "-m", "grader", "serve", "--port", str(port), "--workers", "2"],
                            env("web"), folder / "web.log", "Listening at")
        hosts = [start_process([sys.executable, "-m", "grader", "worker", "--concurrency", str(args.concurrency)],
                               env(f"host{i}"), folder / f"host{i}.log", " ready.", timeout_s=300)
                 for i in (1, 2)]
        base = f"http://127.0.0.1:{port}"
        by_student: dict[str, list[Upload]] = {}
        for upload in uploads:
            by_student.setdefault(upload.student, []).append(upload)
        start = time.monotonic()
        deadline = start + args.window_s + args.drain_s
        threads = [threading.Thread(target=student, args=(base, tokens[name], mine, start, deadline), daemon=True)
                   for name, mine in by_student.items()]
        for thread in threads:
            thread.start()
        try:
            # the middle of the window: one host dies (SIGKILL, its gradings in flight), Redis restarts
            time.sleep(max(0.0, start + args.window_s / 2 - time.monotonic()))
            stop_process(hosts[0], signal.SIGKILL)
            print(f"[{label}] t={time.monotonic() - start:.0f} s: worker host 1 killed", flush=True)
            time.sleep(2)
            redis_server.stop()
            redis_server.start()
            print(f"[{label}] t={time.monotonic() - start:.0f} s: Redis restarted (its messages gone)", flush=True)
            hosts[0] = start_process([sys.executable, "-m", "grader", "worker", "--concurrency",
                                      str(args.concurrency)], env("host1"), folder / "host1-again.log", " ready.",
                                     timeout_s=300)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()) + 5)
            elapsed = time.monotonic() - start
            outcome = Outcome(label, uploads, elapsed_s=elapsed)
            _count(config, outcome)
        finally:
            for proc in hosts + [web]:
                stop_process(proc)
            redis_server.stop()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return outcome


def _count(config, outcome: Outcome) -> None:
    from sqlalchemy import func, select

    from grader.storage.db import session_scope
    from grader.storage.models import GradingRun, Submission
    ids = [u.id for u in outcome.uploads if u.id is not None]
    with session_scope(config) as session:
        rows = session.execute(select(Submission.id, Submission.status, Submission.exercise_id)
                               .where(Submission.id.in_(ids))).all()
        final = {i for i, status, _ in rows if status in FINAL}
        # a refusal with its reason (a broken notebook: 422; over a limit: 429) is an answer; an
        # upload that got none (the web down: no status, or a 5xx) is lost like one never final
        unanswered = sum(1 for u in outcome.uploads if u.refused and not u.refused.startswith("4"))
        outcome.lost = len(ids) - len(final) + unanswered
        scored = session.execute(select(GradingRun.submission_id, func.count())
                                 .where(GradingRun.submission_id.in_(ids), GradingRun.score.is_not(None))
                                 .group_by(GradingRun.submission_id)).all()
        outcome.graded_twice = sum(1 for _, n in scored if n > 1)
        for exercise, duration in session.execute(
                select(Submission.exercise_id, GradingRun.duration_s).join(GradingRun)
                .where(Submission.id.in_(ids), GradingRun.infrastructure.is_(False))).all():
            outcome.durations.setdefault(exercise, []).append(duration)
        for submission_id, received, started in session.execute(
                select(Submission.id, Submission.received_at, func.min(GradingRun.started_at)).join(GradingRun)
                .where(Submission.id.in_(ids)).group_by(Submission.id, Submission.received_at)).all():
            outcome.waits[submission_id] = (started - received).total_seconds()


def report(outcome: Outcome) -> dict:
    done = [u for u in outcome.uploads if u.final is not None]
    print(f"\n== {outcome.label}: {len(outcome.uploads)} uploads from "
          f"{len({u.student for u in outcome.uploads})} students in {outcome.elapsed_s:.0f} s")
    refused = [u for u in outcome.uploads if u.refused]
    if refused:
        print(f"refused at upload: {len(refused)} (e.g. {refused[0].refused[:120]})")
    print(f"lost {outcome.lost}, graded twice {outcome.graded_twice}, "
          f"statuses {dict(sorted(_tally(u.status for u in done).items()))}")
    print(f"{'exercise':18} {'n':>4} {'quick p50':>10} {'quick p95':>10} {'final p50':>10} {'final p95':>10} "
          f"{'grading p50':>12}")
    quick_all, final_all = [], []      # single-upload students
    for exercise in EXERCISES:        # the bursters' uploads wait for each other: their own line below
        mine = [u for u in done if u.exercise == exercise and not u.burst]
        quick = [u.quick - u.sent for u in mine if u.quick]
        final = [u.final - u.sent for u in mine]
        quick_all += quick
        final_all += final
        grading = outcome.durations.get(exercise, [])
        print(f"{exercise:18} {len(mine):>4} {fmt(percentile(quick, .5)):>10} {fmt(percentile(quick, .95)):>10} "
              f"{fmt(percentile(final, .5)):>10} {fmt(percentile(final, .95)):>10} "
              f"{fmt(statistics.median(grading) if grading else None):>12}")
    print(f"throughput: {len(done) / outcome.elapsed_s:.2f} final submissions/s")
    single = [outcome.waits[u.id] for u in done if not u.burst and u.id in outcome.waits]
    if single:
        median = statistics.median(single)
        print(f"single-upload students' queue wait (received -> grading starts): median {median:.2f} s, "
              f"p95 {percentile(single, .95):.2f} s, worst {max(single):.2f} s")
    burst = [u for u in done if u.burst and u.id in outcome.waits]
    if burst:
        print(f"bursters ({len({u.student for u in burst})}, 10 uploads each within a minute): queue wait median "
              f"{statistics.median(outcome.waits[u.id] for u in burst):.2f} s, worst "
              f"{max(outcome.waits[u.id] for u in burst):.2f} s; enqueue->final p50 "
              f"{fmt(percentile([u.final - u.sent for u in burst], .5))} s, "
              f"p95 {fmt(percentile([u.final - u.sent for u in burst], .95))} s")
    torch = [d for ex in TORCH for d in outcome.durations.get(ex, [])]
    return {"lost": outcome.lost, "graded_twice": outcome.graded_twice, "p95_quick": percentile(quick_all, .95),
            "p95_final": percentile(final_all, .95), "torch_median": statistics.median(torch) if torch else None}


def _tally(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--window-s", type=float, help="the compressed window (default: 3 s per student, "
                                                       "at least 60 s)")
    parser.add_argument("--drain-s", type=float, default=900, help="how long to wait for the last gradings")
    parser.add_argument("--concurrency", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="grading processes per worker host")
    parser.add_argument("--sweep-after-s", type=float, default=90,
                        help="GRADER_SWEEP_AFTER_S: when the killed host's gradings are presumed lost")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pool-only", action="store_true", help="only the run with the warm pool")
    parser.add_argument("--cold-only", action="store_true", help="only the run without it")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders (logs) under the temp dir")
    args = parser.parse_args()
    args.window_s = args.window_s or max(60.0, 3.0 * args.students)
    print(f"cores: {os.cpu_count()}; {args.students} students over {args.window_s:.0f} s; "
          f"2 worker hosts x {args.concurrency} grading processes", flush=True)
    work = Path(tempfile.mkdtemp(prefix="deadline-rush-"))
    results = {}
    for label, pool in (("warm pool", True), ("cold", False)):
        if (pool and args.cold_only) or (not pool and args.pool_only):
            continue
        results[label] = report(rush(args, label, pool, work))
    if args.keep:
        print(f"logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    warm, cold = results.get("warm pool"), results.get("cold")
    head = warm or cold
    speedup = (cold["torch_median"] / warm["torch_median"]
               if warm and cold and warm["torch_median"] and cold["torch_median"] else None)
    lost = sum(r["lost"] for r in results.values())
    twice = sum(r["graded_twice"] for r in results.values())
    print(f"lost={lost} graded_twice={twice} p95_quick_s={fmt(head['p95_quick'])} "
          f"p95_final_s={fmt(head['p95_final'])} pool_speedup={fmt(speedup)}")


if __name__ == "__main__":
    main()
