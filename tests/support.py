"""What the tests share, in one module: the checkout's paths, `grader` run as users run it (a
separate trusted process), the servers some tests need (PostgreSQL, Redis, the Docker engine),
waiting for a condition, and the small builders of stored results, web sites and queue services.

Importing it drops the developer's own GRADER_* settings (a test sets what it needs);
GRADER_DATA_DIR is only kept to find the datasets. Fixtures live in the conftest of the folder
that uses them; helpers live here, and no test module imports another.
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXERCISES = FIXTURES / "exercises"              # the toy exercises: courseenv, probe, toy, toytorch
STAGED = FIXTURES / "staged"                    # an exercises folder of one: staged (quick + training tests)
SEEDED = FIXTURES / "seeded"                    # ... and seeded (a threshold test with seeds)
TOY_SOLUTION = (FIXTURES / "toy_solution.py").read_text()
PERCEPTRON = (ROOT / "reference" / "perceptron.py").read_bytes()
PG_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS = os.environ.get("TEST_REDIS_HOST", "127.0.0.1:6379")

DEVELOPER_DATA_DIR = os.environ.get("GRADER_DATA_DIR")
for _key in [k for k in os.environ if k.startswith("GRADER_")]:
    del os.environ[_key]

from grader.config import Config, user_data_dir  # noqa: E402 - after the environment is clean

# ---------------------------------------------------------------- waiting

def wait_for(condition: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.1,
             details: Callable[[], str] | None = None):
    """Poll `condition` until it returns something true (returned), or fail after `timeout_s`
    saying what was awaited (and `details()`, e.g. a worker's log)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"not after {timeout_s:g} s: {what}{extra}")
        time.sleep(every_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- servers a test needs

def require(problem: str | None, ci_setup: str) -> None:
    """Skip when a server the test needs is missing, except in CI (CI=true), where `ci_setup`
    provides it: there the test fails."""
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"{ci_setup}, yet: {problem}", pytrace=False)
    if problem:
        pytest.skip(problem)


def docker_problem() -> str | None:
    """Why the docker backend cannot be tested here, or None when the engine and image are ready."""
    try:
        from grader.sandbox.base import runner_digest
        from grader.sandbox.container import RUNNER_LABEL, engine
        image = engine(timeout=5).images.get(Config.from_env().docker_image)
    except Exception as e:  # noqa: BLE001
        return f"docker backend unavailable: {e}"
    if (image.labels or {}).get(RUNNER_LABEL) != runner_digest():
        return "the sandbox image holds another version of the student runner: run `grader sandbox build`"
    return None


def require_docker() -> None:
    require(docker_problem(), "CI starts dockerd and builds the image")


def require_postgres() -> None:
    from sqlalchemy import create_engine
    problem = None
    try:
        engine = create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as e:  # noqa: BLE001
        problem = f"PostgreSQL at {PG_SERVER} unavailable: {str(e).splitlines()[0]}"
    require(problem, "CI starts PostgreSQL before the tests")


@contextmanager
def scratch_database():
    """A new, empty PostgreSQL database; its URL; dropped afterwards (connections closed first)."""
    from sqlalchemy import create_engine, text

    from grader.storage.db import dispose_engines
    require_postgres()
    name = f"grader_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_tables(config: Config) -> None:
    """Every table of the schema emptied (a database shared by a test run's tests), but for the
    deployment's identity (written once by the upgrade, and cached by the processes that read it)."""
    from sqlalchemy import text

    from grader.storage.db import session_scope
    from grader.storage.models import Base
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name != "deployment")
    with session_scope(config) as session:
        session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def require_redis() -> None:
    import redis
    problem = None
    try:
        redis.Redis.from_url(f"redis://{REDIS}/0", socket_connect_timeout=3).ping()
    except Exception as e:  # noqa: BLE001
        problem = f"Redis at {REDIS} unavailable: {e}"
    require(problem, "CI starts Redis before the tests")


@contextmanager
def free_redis_db():
    """A broker URL on an empty Redis database number (flushed afterwards)."""
    import redis
    require_redis()
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"redis://{REDIS}/{number}")
        # claim it: a key that says whose it is, set only if the database is empty of claims
        if client.dbsize() == 0 and client.set("grader-test-claim", str(os.getpid()), nx=True):
            try:
                yield f"redis://{REDIS}/{number}"
            finally:
                client.flushdb()
            return
    require("every Redis database number from 1 to 15 is in use", "CI's Redis has free database numbers")


# ---------------------------------------------------------------- the datasets

def dataset_candidates() -> list[Path]:
    found = [Path(DEVELOPER_DATA_DIR)] if DEVELOPER_DATA_DIR else []
    return found + [ROOT.parent / "shared" / "datasets", user_data_dir()]


def _usable(folder: Path) -> bool:
    from grader.datasets import check
    try:
        return all(line.ok for line in check(folder) if line.needed)
    except Exception:  # noqa: BLE001 - a missing folder, say
        return False


@lru_cache(maxsize=1)
def local_datasets() -> Path | None:
    """The first candidate folder that has every file grading reads (no download)."""
    return next((folder for folder in dataset_candidates() if folder.is_dir() and _usable(folder)), None)


@lru_cache(maxsize=1)
def datasets_or_reason() -> tuple[Path | None, str]:
    folder = local_datasets()
    if folder is not None:
        return folder, ""
    target = user_data_dir()
    fetch = subprocess.run([sys.executable, "-m", "grader", "datasets", "fetch", str(target)],
                           capture_output=True, text=True, timeout=900)
    if fetch.returncode == 0 and _usable(target):
        return target, ""
    searched = ", ".join(str(c) for c in dataset_candidates())
    return None, (f"MNIST/Fashion-MNIST IDX files not found (searched {searched}) and the download failed: "
                  f"set GRADER_DATA_DIR to a folder with them, or run `grader datasets fetch` where there is internet")


# ---------------------------------------------------------------- `grader` as users run it

@dataclass
class Run:
    code: int
    result: dict | None
    stdout: str
    stderr: str
    seconds: float

    def test(self, name: str) -> dict:
        return next(t for t in self.result["tests"] if t["name"] == name)


def grader(*args: str, env: dict | None = None, timeout: float = 300) -> Run:
    """`python -m grader ARGS` in the checkout; stdout read as JSON for --json and --format json/gradescope."""
    data = local_datasets()
    full_env = {**os.environ, **({"GRADER_DATA_DIR": str(data)} if data else {}), **(env or {})}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)
    result = None
    fmt = args[args.index("--format") + 1] if "--format" in args[:-1] else None
    if proc.returncode == 0 and ("--json" in args or fmt in ("json", "gradescope")):
        result = json.loads(proc.stdout)
    return Run(proc.returncode, result, proc.stdout, proc.stderr, time.monotonic() - started)


def exercise_params(ids=None):
    """One param per shipped exercise, with the markers its grading needs (slow; datasets when it reads them)."""
    from grader.manifest import exercise_ids, load_exercise
    folder = ROOT / "exercises"
    return [pytest.param(i, marks=[pytest.mark.slow] + ([pytest.mark.datasets] if load_exercise(folder, i).datasets
                                                        else [])) for i in (ids or exercise_ids(folder))]


# ---------------------------------------------------------------- stored results

def toy_result(score: float, bonus: float = 0.0):
    """A toy GradeResult: test_add (1), test_scale (2), test_counter (3), bonus test_counter_reset (1)."""
    from grader.results import GradeResult, TestResult

    def test(name, points, max_points, is_bonus=False):
        return TestResult(name, f"{name} works", "passed" if points == max_points else "failed", points, max_points,
                          bonus=is_bonus, message=None if points == max_points else "wrong", duration_s=0.01)
    scale, counter = (2.0, score - 3.0) if score >= 3 else (0.0, score - 1.0) if score >= 1 else (0.0, 0.0)
    tests = [test("test_add", min(score, 1.0), 1.0), test("test_scale", scale, 2.0),
             test("test_counter", max(counter, 0.0), 3.0), test("test_counter_reset", bonus, 1.0, True)]
    return GradeResult("toy", score, 6.0, bonus, 1.0, tests, duration_s=1.5, sandbox={"backend": "local",
                                                                                     "device": "cpu"})


# Appended to a toy solution: its `add` prints when the runner process started, in seconds since
# boot (one clock for the host and both backends' processes), so a test can tell a runner started
# ahead of the grading (a warm sandbox) from one started for it.
RUNNER_STARTED = """

def add(a, b):
    import os
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    print(f"RUNNER-STARTED {ticks / os.sysconf('SC_CLK_TCK'):.2f}")
    return a + b
"""


def uptime() -> float:
    """Seconds since boot, the clock RUNNER_STARTED prints on."""
    return float(Path("/proc/uptime").read_text().split()[0])


def runner_started(output: str) -> float:
    """When the runner that printed `output` (with RUNNER_STARTED appended) started."""
    return float(re.search(r"RUNNER-STARTED ([\d.]+)", output).group(1))


def perceptron_result(score=3.0, message="expected 1.0, got 0.5", output="hello"):
    """A perceptron GradeResult with a passed, a failed and a hidden test, and a cell that did not parse."""
    from grader.results import GradeResult, SkippedCell, TestResult
    return GradeResult(exercise="perceptron", score=score, max_score=20.0, bonus=0.0, bonus_max=3.0, tests=[
        TestResult("test_step_function_values", "step_function is 1 where z >= 0", "passed", 1.0, 1.0),
        TestResult("test_sigmoid_values", "sigmoid matches", "failed", 0.0, 1.0, message=message),
        TestResult("test_hidden_one", "a hidden test", "failed", 0.0, 2.0, message=None)],
        skipped_cells=[SkippedCell(4, 2, "invalid syntax", "def broken(:")], output=output,
        sandbox={"backend": "local", "device": "cpu"})


def record_graded(config: Config, submission_id: int, result) -> None:
    """Write a run as the worker does: (queued,) running, the run, graded."""
    from grader.storage.submissions import get_submission, mark_status, record_run
    from grader.storage.db import session_scope
    with session_scope(config) as s:
        submission = get_submission(s, submission_id)
        if submission.status == "received":
            mark_status(s, submission, "queued")
        mark_status(s, submission, "running")
        record_run(s, submission, result, backend="local")
        mark_status(s, submission, "graded")


def stored_graded(config: Config, user: str, data: bytes, result, exercise: str = "toy",
                  filename: str = "sub.py") -> int:
    """A new submission of `user`, taken through queued -> running -> one run -> graded; its id."""
    from grader.storage.submissions import create_submission
    from grader.storage.db import session_scope
    with session_scope(config) as session:
        submission_id = create_submission(session, config, user, exercise, filename, data).id
    record_graded(config, submission_id, result)
    return submission_id


def timed_run(config: Config, user: str, result, received_at, started_at, finished_at, exercise: str = "toy",
              retry_finished_at=None) -> int:
    """A submission received at `received_at` whose first attempt ran from `started_at` to
    `finished_at` (graded when `result` is given, else failed: no score); with
    `retry_finished_at`, that first attempt was a setup problem and a second one, graded, ran
    from `finished_at` to then. Its id."""
    from grader.storage.submissions import begin_retry, create_submission, get_submission, mark_status, record_run
    from grader.storage.db import session_scope
    with session_scope(config) as s:
        submission = create_submission(s, config, user, exercise, "sub.py", f"# {user} {received_at}".encode())
        submission.received_at = received_at
        mark_status(s, submission, "queued")
        mark_status(s, submission, "running")
        if retry_finished_at is not None:
            record_run(s, submission, None, backend="local", started_at=started_at, finished_at=finished_at,
                       error="engine stopped", infrastructure=True)
            begin_retry(s, submission, 2)
            started_at, finished_at = finished_at, retry_finished_at
        record_run(s, submission, result, backend="local", started_at=started_at, finished_at=finished_at)
        mark_status(s, submission, "graded" if result is not None else "failed", reason=None if result else "bad")
        return get_submission(s, submission.id).id


# ---------------------------------------------------------------- the web app

COLORED = re.compile(r'<span class="hl-[\w-]+">([^<]*)</span>')


def uncolored(html) -> str:
    """The staff's notebook view without its code highlighting (grader/web/code_colors.py: spans
    that hold text only and never nest): the source as the checks read it."""
    return COLORED.sub(r"\1", html.decode() if isinstance(html, bytes) else str(html))


def csrf(page) -> str:
    """The CSRF token of a page's form."""
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page.data)
    assert match, page.data[:500]
    return match.group(1).decode()


def logged_in(app, user: str, password: str | None = None):
    """A test client of `app` logged in as `user` (password `<user>-pw` unless given)."""
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"username": user, "password": password or f"{user}-pw",
                                           "csrf_token": csrf(page)})
    assert response.status_code == 302, response.data
    return client


class Site:
    """A web app on its own database (SQLite in tmp_path unless a URL is given), four users
    (alice and bob students, tina a TA, ines the instructor; password <name>-pw), and helpers to
    log in, upload and write results as a worker would."""

    def __init__(self, tmp_path, database_url=None, settings: dict | None = None, **overrides):
        """`settings`: more Config fields; `overrides`: Flask settings."""
        from grader.storage import migrate
        from grader.storage.exercises import sync_exercises
        from grader.storage.users import add_user
        from grader.storage.db import session_scope
        from grader.web import create_app
        self.config = Config(instance_dir=tmp_path, database_url=database_url, secret_key="k" * 32,
                             **{"max_submission_mb": 1, **(settings or {})})
        migrate.upgrade(self.config)
        with session_scope(self.config) as s:
            sync_exercises(s, self.config)
            for name, role, section in (("alice", "student", "A"), ("bob", "student", "B"),
                                        ("tina", "ta", None), ("ines", "instructor", None)):
                add_user(s, name, role, password=f"{name}-pw", section=section)
        self.app = create_app(self.config, TESTING=True, SESSION_COOKIE_SECURE=False, **overrides)

    def client(self, user: str | None = None):
        return logged_in(self.app, user) if user else self.app.test_client()

    def upload(self, client, exercise="perceptron", filename="mine.py", data=PERCEPTRON):
        page = client.get("/")
        return client.post("/submit", data={"exercise": exercise, "csrf_token": csrf(page),
                                            "file": (io.BytesIO(data), filename)},
                           content_type="multipart/form-data")

    def graded(self, submission_id: int, result) -> None:
        record_graded(self.config, submission_id, result)

    def token(self, name: str) -> str:
        """A new API token of the user."""
        from grader.storage.users import issue_token
        from grader.storage.db import session_scope
        with session_scope(self.config) as s:
            return issue_token(s, name)


# ---------------------------------------------------------------- LTI

def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key) -> tuple[str, str]:
    """(private, public) PEM text of an RSA key."""
    from cryptography.hazmat.primitives import serialization
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def write_lti_tool(folder: Path, issuer: str, platform_url: str, token_url: str, client_id: str,
                   deployment: str, *, tool_url: str | None = "https://localhost", contexts: dict | None = None,
                   **grader) -> tuple[Path, str]:
    """A pylti1p3 tool configuration (GRADER_LTI_CONFIG) for one platform, with a new key pair of
    the tool's beside it and the grader's part of the registration (grader/lti_settings.py: its
    public URL, the courses allowed, ...); (the file, the tool's public key PEM)."""
    private, public = pem(rsa_key())
    (folder / "tool-private.key").write_text(private)
    (folder / "tool-public.key").write_text(public)
    settings = {"contexts": contexts or {}, **grader} | ({"tool_url": tool_url} if tool_url else {})
    tool = {issuer: {"client_id": client_id, "auth_login_url": platform_url + "/auth", "auth_token_url": token_url,
                     "key_set_url": platform_url + "/jwks", "private_key_file": "tool-private.key",
                     "public_key_file": "tool-public.key", "deployment_ids": [deployment], "grader": settings}}
    (folder / "lti.json").write_text(json.dumps(tool))
    return folder / "lti.json", public


# ---------------------------------------------------------------- the queue

class Service:
    """One service setup: its settings (as environment variables and as a Config), and the
    worker processes started from it (each in its own process group, killed at the end)."""

    def __init__(self, tmp_path: Path, database_url: str | None, broker_url: str | None, **env):
        from grader.storage import migrate
        from grader.storage.exercises import sync_exercises
        from grader.storage.users import add_user
        from grader.storage.db import session_scope
        self.tmp = tmp_path
        self.env = {**os.environ, "GRADER_EXERCISES_DIR": str(EXERCISES), "GRADER_INSTANCE_DIR": str(tmp_path),
                    **({"GRADER_DATABASE_URL": database_url} if database_url else {}),
                    **({"GRADER_BROKER_URL": broker_url} if broker_url else {}), **env}
        self.config = Config.from_env(self.env)
        self.workers: list[subprocess.Popen] = []
        migrate.upgrade(self.config)
        with session_scope(self.config) as session:
            sync_exercises(session, self.config)
            add_user(session, "alice")

    def start_worker(self, *args: str, concurrency: int = 1, ready: str = " ready.", **env) -> subprocess.Popen:
        """`grader worker --concurrency N ARGS`, once its log says `ready`."""
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "grader", "worker", "--concurrency", str(concurrency), *args],
                                env={**self.env, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        proc.log_path = Path(log.name)
        self.workers.append(proc)

        def up():
            assert proc.poll() is None, proc.log_path.read_text()
            return ready in proc.log_path.read_text()
        wait_for(up, 60, "the worker is ready", every_s=0.2, details=proc.log_path.read_text)
        return proc

    def logs(self, tail: int | None = 3000) -> str:
        """The workers' logs (the last `tail` characters of each; None: all of them)."""
        return "\n".join(p.log_path.read_text()[-tail if tail else 0:] for p in self.workers)

    def failure_logs(self) -> str:
        """For a failure message: each worker's alive-or-exit state, its warnings and errors (the
        first lines of each, where a cause is), then the tail of its log."""
        parts = []
        for i, proc in enumerate(self.workers):
            text = proc.log_path.read_text()
            marked = [line for line in text.splitlines()
                      if any(word in line for word in (" WARNING ", " ERROR ", " CRITICAL ", "Error:"))]
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            parts.append(f"--- worker {i} ({state}); its warnings and errors:\n" + "\n".join(marked[:60])
                         + f"\n--- worker {i}, the end of its log:\n" + text[-3000:])
        return "\n".join(parts)

    def kill(self, proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
        """The worker and its pool children (its own process group)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)

    def close(self) -> None:
        from grader.storage.db import dispose_engines
        for proc in self.workers:
            if proc.poll() is None:
                self.kill(proc)
        dispose_engines()

    def cli(self, *args, timeout=180):
        return subprocess.run([sys.executable, "-m", "grader", *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def submit(self, source: str, name: str = "sub.py", exercise: str = "toy") -> int:
        from grader import service
        return service.submit(self.config, "alice", exercise, name, source.encode())

    def status(self, submission_id: int) -> dict:
        from grader import service
        return service.status(self.config, submission_id)

    def wait(self, submission_id: int, timeout_s: float = 120) -> dict:
        from grader import service
        try:
            return service.wait(self.config, submission_id, timeout_s)
        except TimeoutError:
            raise AssertionError(f"submission {submission_id} not final after {timeout_s} s; workers:\n"
                                 + self.failure_logs()) from None

    def wait_status(self, submission_id: int, status: str, timeout_s: float = 60) -> dict:
        return wait_for(lambda: (s := self.status(submission_id))["status"] == status and s, timeout_s,
                        f"submission {submission_id} is {status}", details=self.logs)

    def runs(self, submission_id: int) -> list:
        from sqlalchemy import select

        from grader.storage.db import session_scope
        from grader.storage.models import GradingRun
        with session_scope(self.config) as session:
            return list(session.scalars(select(GradingRun).where(GradingRun.submission_id == submission_id)
                                        .order_by(GradingRun.attempt)))

    def outcome_rows(self, submission_id: int) -> int:
        from sqlalchemy import func, select

        from grader.storage.db import session_scope
        from grader.storage.models import GradingRun, TestOutcome
        with session_scope(self.config) as session:
            return session.scalar(select(func.count()).select_from(TestOutcome).join(GradingRun)
                                  .where(GradingRun.submission_id == submission_id))


def reference_run(source: str, tmp_path: Path, exercises: Path = EXERCISES, exercise: str = "toy") -> dict:
    """What `grader run --json` gives for `source`: what a worker must store too."""
    path = tmp_path / "reference-run.py"
    path.write_text(source)
    run = grader("run", exercise, str(path), "--json", env={"GRADER_EXERCISES_DIR": str(exercises)})
    assert run.code == 0, run.stderr
    return run.result


def same_grading(result: dict, expected: dict) -> None:
    assert (result["score"], result["max_score"], result["bonus"]) == \
           (expected["score"], expected["max_score"], expected["bonus"])
    assert [(t["name"], t["status"], t["points"]) for t in result["tests"]] == \
           [(t["name"], t["status"], t["points"]) for t in expected["tests"]]
