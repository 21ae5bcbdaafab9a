"""The grading queue with real components: worker processes started as `grader worker`, PostgreSQL
(a scratch database per test), Redis (a free database number of the server on 127.0.0.1:6379),
and the embedded default (SQLite database and broker, no server). Nothing is mocked: a test
submits through the CLI or `grader.service`, and reads the outcome back from the database.

Markers: postgres (PostgreSQL on 127.0.0.1:5432), redis (Redis on 127.0.0.1:6379), slow.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.config import Config
from grader.queue import get_app, send_grading
from grader.storage.submissions import get_submission, mark_status
from grader.storage.db import dispose_engines, session_scope
from grader.storage.gradebook import gradebook
from support import (
    EXERCISES,
    FIXTURES,
    PG_SERVER,
    ROOT,
    TOY_SOLUTION,
    Service,
    free_port,
    free_redis_db,
    grader,
    reference_run,
    require,
    require_docker,
    same_grading,
    scratch_database,
    wait_for,
)

# ---------------------------------------------------------------- the app's settings

def test_celery_app_settings_follow_the_manifests(tmp_path):
    from grader.queue import TASK_NAME, make_celery, timings
    from grader.queue.tasks import register
    config = Config(exercises_dir=EXERCISES, instance_dir=tmp_path)
    app = make_celery(config)
    assert TASK_NAME not in app.tasks                  # a sender's app: the task is sent by name
    register(app)
    conf = app.conf
    assert TASK_NAME == "grader.grade_submission.v1" and TASK_NAME in app.tasks
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.worker_pool == "prefork" and 0 < conf.worker_max_tasks_per_child <= 100
    assert conf.accept_content == ["json"] and conf.task_ignore_result
    t = timings(config)
    from grader.manifest import SANDBOX_WALL_MARGIN_S, load_exercise
    probe = load_exercise(EXERCISES, "probe")                      # the slowest fixture exercise
    assert t.longest_grading_s == probe.sandbox_wall_s == probe.suite_timeout_s + SANDBOX_WALL_MARGIN_S
    assert t.longest_grading_s < conf.task_soft_time_limit < conf.task_time_limit < t.sweep_running_s \
        < t.visibility_timeout_s <= t.sweep_queued_s
    assert conf.broker_url.startswith("sqla+sqlite:///") and "visibility_timeout" not in conf.broker_transport_options
    redis_app = make_celery(Config(exercises_dir=EXERCISES, instance_dir=tmp_path, broker_url="redis://h:6379/3"))
    assert redis_app.conf.broker_transport_options["visibility_timeout"] == t.visibility_timeout_s
    assert timings(Config(exercises_dir=EXERCISES, instance_dir=tmp_path, sweep_after_s=3)).sweep_running_s == 3


@pytest.mark.postgres
@pytest.mark.redis
def test_gpu_exercises_go_to_the_gpu_queue(production):
    import redis

    from grader import service
    from grader.queue.app import queue_name
    from grader.storage.deployment import deployment_id
    client = redis.Redis.from_url(production.config.broker_url)
    gpu = service.submit(production.config, "alice", "toytorch", "sub.py",
                         (FIXTURES / "toytorch_solution.py").read_bytes())
    cpu = production.submit(TOY_SOLUTION)
    ours = deployment_id(production.config)
    assert (client.llen(queue_name(ours, "gpu")), client.llen(queue_name(ours, "cpu"))) == (1, 1)
    assert service.status(production.config, gpu)["status"] == "queued"
    production.start_worker(GRADER_SWEEP_AFTER_S="600")     # no sweep re-sends during this test
    assert production.wait(cpu)["status"] == "graded"


# ---------------------------------------------------------------- a. submit --wait

PARTIAL = TOY_SOLUTION + "\n\ndef scale(x, k):\n    return x\n"


@pytest.mark.postgres
@pytest.mark.redis
def test_submit_wait_scores_as_grader_run(production, tmp_path):
    production.start_worker()
    path = tmp_path / "partial.py"
    path.write_text(PARTIAL)
    done = production.cli("submit", "toy", str(path), "--user", "alice", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {"id", "status", "score", "max_score", "result"}
    assert printed["status"] == "graded" and printed["score"] == 4.0 and printed["max_score"] == 6.0
    same_grading(printed["result"], reference_run(PARTIAL, tmp_path))
    status = production.cli("status", str(printed["id"]), "--json")
    assert json.loads(status.stdout) == printed
    assert len(production.runs(printed["id"])) == 1 and production.outcome_rows(printed["id"]) == 4
    (run,) = production.runs(printed["id"])        # what it cost, as the worker measured and stored it
    assert 0 < run.cpu_s <= run.duration_s + 0.5 and (run.gpu_s, run.gpu_peak_mb) == (None, None)
    # bad input: exit 2 with the reason, nothing stored
    for args, words in [(("toy", str(path), "--user", "nobody"), "no user named 'nobody'"),
                        (("nope", str(path), "--user", "alice"), "unknown exercise 'nope'"),
                        (("toy", str(tmp_path / "missing.py"), "--user", "alice"), "no such file")]:
        bad = production.cli("submit", *args)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
    assert production.cli("status", "999").returncode == 2


@pytest.mark.postgres
@pytest.mark.redis
def test_a_file_that_cannot_be_graded_fails_with_its_reason(production, tmp_path):
    production.start_worker()
    path = tmp_path / "broken.ipynb"
    path.write_text("{ this is not a notebook")
    done = production.cli("submit", "toy", str(path), "--user", "alice", "--wait", "--json")
    printed = json.loads(done.stdout)
    assert done.returncode == 2 and printed["status"] == "failed" and printed["score"] is None
    assert "notebook" in printed["reason"].lower() and "result" not in printed
    (run,) = production.runs(printed["id"])
    assert run.score is None and not run.infrastructure


def test_embedded_default_needs_no_server(tmp_path):
    """No GRADER_DATABASE_URL, no GRADER_BROKER_URL: SQLite database and SQLite broker."""
    service = Service(tmp_path, None, None)
    assert service.config.broker_url.startswith("sqla+sqlite:///")
    try:
        service.start_worker()
        path = tmp_path / "partial.py"
        path.write_text(PARTIAL)
        done = service.cli("submit", "toy", str(path), "--user", "alice", "--wait", "--json")
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["status"] == "graded"
        same_grading(printed["result"], reference_run(PARTIAL, tmp_path))
        assert (tmp_path / "grader.db").is_file() and (tmp_path / "broker.db").is_file()
    finally:
        service.close()


# ---------------------------------------------------------------- b. a worker killed mid-grading

def nothing_to_do(service) -> int:
    """How many messages the service's workers took and found nothing to do for (duplicates)."""
    return service.logs(tail=None).count("'nothing to do'")


SLOW = TOY_SOLUTION + "\n\nimport time\n\ndef add(a, b):\n    time.sleep(2.5)\n    return a + b\n" \
                      "\n\ndef scale(x, k):\n    time.sleep(2.5)\n    return np.asarray(x) * k\n"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_worker_killed_mid_grading_is_graded_exactly_once(production, tmp_path):
    first = production.start_worker()
    submission_id = production.submit(SLOW)
    # the suite has started (its first progress is stored): the grading is under way
    wait_for(lambda: production.status(submission_id).get("progress"), 60, "the grading has started",
             details=production.logs)
    production.kill(first)                            # SIGKILL: the worker and its pool child
    assert production.status(submission_id)["status"] == "running"
    production.start_worker()
    final = production.wait(submission_id, timeout_s=90)
    assert final["status"] == "graded"
    same_grading(final["result"], reference_run(SLOW, tmp_path))
    # the attempt its worker lost is recorded as a setup problem (no score), the next one graded it
    runs = production.runs(submission_id)
    assert [(r.attempt, r.infrastructure, r.score) for r in runs] == [(1, True, None), (2, False, 6.0)]
    assert "worker grading it stopped" in runs[0].error
    assert production.outcome_rows(submission_id) == 4          # no duplicate per-test rows
    # late duplicates of both attempts' messages change nothing
    done = nothing_to_do(production)
    app = get_app(production.config)
    for attempt in (1, 2):
        send_grading(app, submission_id, attempt, "cpu")
    wait_for(lambda: nothing_to_do(production) >= done + 2, 30, "the worker took both duplicates",
             details=production.logs)
    assert len(production.runs(submission_id)) == 2


@pytest.mark.postgres
@pytest.mark.redis
def test_progress_is_stored_while_running_and_wait_gives_up_after_its_timeout(production, tmp_path):
    from grader import service
    path = tmp_path / "slow.py"
    path.write_text(SLOW)
    # no worker yet: --wait --timeout gives up with exit 1 and says why; the submission stays queued
    waited = production.cli("submit", "toy", str(path), "--user", "alice", "--wait", "--timeout", "2")
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert "still queued after 2 s" in waited.stderr and "grader worker" in waited.stderr
    submission_id = int(waited.stderr.split("submission ")[1].split()[0])
    assert service.status(production.config, submission_id)["status"] == "queued"
    production.start_worker()
    seen = []

    def graded() -> bool:
        current = production.status(submission_id)
        if current.get("progress"):
            seen.append(current["progress"])
        return current["status"] == "graded"
    wait_for(graded, 60, "the slow submission is graded", every_s=0.2, details=production.logs)
    assert seen, "no progress was stored while it ran"
    assert all(p["total"] == 4 for p in seen if p["kind"] == "test")
    names = {p["name"] for p in seen if p["kind"] == "test"}
    assert names and names <= {"test_add", "test_scale", "test_counter", "test_counter_reset"}, names
    assert "progress" not in service.status(production.config, submission_id)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.docker
def test_a_worker_on_the_docker_backend(production, tmp_path):
    require_docker()
    production.start_worker(GRADER_BACKEND="docker")
    submission_id = production.submit(PARTIAL)
    final = production.wait(submission_id, timeout_s=180)
    assert final["status"] == "graded" and final["result"]["sandbox"]["backend"] == "docker"
    same_grading(final["result"], reference_run(PARTIAL, tmp_path))
    (run,) = production.runs(submission_id)
    assert run.backend == "docker" and not run.infrastructure


# ---------------------------------------------------------------- c. a setup problem

@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_setup_problem_is_retried_then_error_never_a_score(production, tmp_path):
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    production.start_worker(GRADER_SANDBOX_PYTHON=str(bare / "bin" / "python"))
    submission_id = production.submit(TOY_SOLUTION)
    final = production.wait(submission_id, timeout_s=120)
    assert final["status"] == "error" and final["score"] is None and "result" not in final
    assert "not scored" in final["reason"] and "numpy" not in final["reason"]    # operators' details stay ours
    runs = production.runs(submission_id)
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert all(r.infrastructure and r.score is None and r.result is None for r in runs)
    assert all("cannot import the course's packages" in r.error for r in runs)
    assert production.outcome_rows(submission_id) == 0
    # the gradebook has no score for it; a regrade on a working worker grades it
    with session_scope(production.config) as session:
        (row,) = [r for r in gradebook(session) if r.exercise == "toy"]
        assert row.score is None
    for proc in production.workers:
        production.kill(proc)
    production.start_worker()
    regrade = production.cli("regrade", "--submission", str(submission_id), "--wait")
    assert regrade.returncode == 0, regrade.stdout + regrade.stderr
    final = production.wait(submission_id)
    assert final["status"] == "graded" and final["score"] == 6.0
    assert [r.attempt for r in production.runs(submission_id)] == [1, 2, 3, 4]


# ---------------------------------------------------------------- d. a crash between storing and sending

@pytest.mark.postgres
@pytest.mark.redis
def test_the_sweep_sends_what_a_crash_left_behind(production):
    from grader import service
    stored = service.store_submission(production.config, "alice", "toy", "sub.py", TOY_SOLUTION.encode())
    # and one whose message was lost after it was marked queued (Redis restarted without a dump)
    lost = service.store_submission(production.config, "alice", "toy", "sub2.py", PARTIAL.encode())
    with session_scope(production.config) as session:
        mark_status(session, get_submission(session, lost), "queued")
    assert service.status(production.config, stored)["status"] == "received"
    production.start_worker(GRADER_SWEEP_AFTER_S="5")
    assert production.wait(stored, timeout_s=60)["score"] == 6.0
    assert production.wait(lost, timeout_s=60)["score"] == 4.0
    assert len(production.runs(stored)) == len(production.runs(lost)) == 1


# ---------------------------------------------------------------- e. many mixed submissions

def _notebook(source: str) -> str:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy"), nbformat.v4.new_code_cell("%matplotlib inline"),
                nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell("def broken(:\n    pass")]
    return nbformat.writes(nb)


def mixed_submissions() -> list[tuple[str, str, str]]:
    """(exercise, file name, content): references, toy variants, broken notebooks, attacks
    (snippets of tests/sandbox/test_attacks.py on the toy exercise). No fork bomb: with two gradings at
    once under one throwaway uid, its process limit would be shared with the other sandbox."""
    toy = TOY_SOLUTION
    attacks = {
        "sys_exit": "def add(a, b):\n    import sys\n    sys.exit(3)\n",
        "os_exit": "def add(a, b):\n    import os\n    os._exit(7)\n",
        "loop": "def add(a, b):\n    while True:\n        pass\n",
        "memory": "def add(a, b):\n    import numpy as np\n    return np.ones(30 * 1024**3 // 8).sum()\n",
        "flood": "def add(a, b):\n    import sys\n    for _ in range(1024):\n        sys.stdout.write('x' * 65536)\n"
                 "    return a + b\n",
        "import_exit": None,
    }
    kinds = []
    for ex in ("perceptron", "backprop", "feedforward"):
        kinds.append((ex, f"{ex}.py", (ROOT / "reference" / f"{ex}.py").read_text()))
    kinds += [("toy", "solution.py", toy), ("toy", "partial.py", PARTIAL),
              ("toy", "solution.ipynb", _notebook(toy)), ("toy", "broken.ipynb", "{ not a notebook"),
              ("toy", "empty.py", "")]
    for name, snippet in attacks.items():
        if snippet is None:
            source = ("import os\ndef add(a, b):\n    return a + b\nSTART = os._exit(4)\n"
                      "def scale(x, k):\n    return x * k * START\n")
        else:
            source = toy + "\n\n" + snippet
        kinds.append(("toy", f"{name}.py", source))
    return [kinds[i % len(kinds)] for i in range(50)]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_fifty_mixed_submissions_score_as_grader_run(tmp_path, mixed_exercises):
    submissions = mixed_submissions()
    expected = {}
    for exercise, name, content in {(e, n, c) for e, n, c in submissions}:
        path = tmp_path / "expected" / exercise / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        run = grader("run", exercise, str(path), "--json", env={"GRADER_EXERCISES_DIR": str(mixed_exercises)})
        assert run.code in (0, 2), run.stderr
        expected[(exercise, name)] = run.result           # None: the file cannot be graded (exit 2)
    with scratch_database() as database_url, free_redis_db() as broker_url:
        service = Service(tmp_path, database_url, broker_url, GRADER_EXERCISES_DIR=str(mixed_exercises))
        try:
            service.start_worker(concurrency=2)
            from grader import service as use_cases
            from grader.storage.users import add_user
            with session_scope(service.config) as session:     # five students: fair queues grade one
                for k in range(5):                             # of each student's at a time
                    add_user(session, f"s{k}")
            ids = [(use_cases.submit(service.config, f"s{i % 5}", exercise, name, content.encode()), exercise, name)
                   for i, (exercise, name, content) in enumerate(submissions)]
            for submission_id, exercise, name in ids:
                final = service.wait(submission_id, timeout_s=600)
                want = expected[(exercise, name)]
                if want is None:
                    assert final["status"] == "failed" and final["score"] is None, (name, final)
                else:
                    assert final["status"] == "graded", (name, final)
                    same_grading(final["result"], want)
                assert len(service.runs(submission_id)) == 1, name
        finally:
            service.close()


# ---------------------------------------------------------------- f. Redis and PostgreSQL restarting

class OwnRedis:
    """A redis-server of this test's own (no persistence), stopped and started at will."""

    def __init__(self, tmp_path: Path):
        import shutil
        self.binary = shutil.which("redis-server")
        require(None if self.binary else "redis-server is not installed", "CI's machine has Redis installed")
        self.port, self.dir, self.proc = free_port(), tmp_path, None

    def start(self) -> None:
        import redis
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
            except Exception:  # noqa: BLE001 - not up yet
                return False
        wait_for(up, 20, "the test's own redis-server answers")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_redis_restart_and_postgres_refusing_connections_lose_nothing(tmp_path):
    from sqlalchemy import create_engine, text

    from grader import service as use_cases
    own = OwnRedis(tmp_path)
    own.start()
    with scratch_database() as database_url:
        # longer than a SLOW grading plus the outage below: a running submission is only presumed
        # lost after that long (in production: the task's hard time limit + 60 s)
        service = Service(tmp_path, database_url, own.url, GRADER_SWEEP_AFTER_S="20")
        try:
            # queued in Redis, no worker yet; Redis restarts without a dump: the messages are gone
            queued = [service.submit(TOY_SOLUTION if i % 2 else PARTIAL) for i in range(4)]
            own.stop()
            # Redis down: the submissions are stored all the same (received), nothing raises
            received = [service.submit(TOY_SOLUTION) for _ in range(2)]
            assert {use_cases.status(service.config, i)["status"] for i in received} == {"received"}
            own.start()
            service.start_worker(concurrency=2)
            for submission_id in queued + received:
                final = service.wait(submission_id, timeout_s=120)
                assert final["status"] == "graded" and final["score"] == (6.0 if final["result"]["tests"][1]
                                                                         ["status"] == "passed" else 4.0)
            # PostgreSQL refuses connections for a few seconds while gradings are in progress
            # three students' (fair queues grade one of each student's at a time): both worker
            # processes busy, as this test has always had them
            from grader.storage.users import add_user
            with session_scope(service.config) as session:
                for k in range(3):
                    add_user(session, f"s{k}")
            slow = [use_cases.submit(service.config, f"s{k}", "toy", "sub.py", SLOW.encode()) for k in range(3)]
            service.wait_status(slow[0], "running")
            dispose_engines()
            name = database_url.rsplit("/", 1)[1]
            admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = :name"), {"name": name})
                # until the worker has met the outage (its sweep could not read the database)
                failed = service.logs(tail=None).count("sweep failed")
                wait_for(lambda: service.logs(tail=None).count("sweep failed") > failed, 60,
                         "the worker notices that the database refuses it", details=service.logs)
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
            # ... and Redis restarts once more meanwhile
            own.stop()
            own.start()
            for submission_id in slow:
                final = service.wait(submission_id, timeout_s=180)
                assert final["status"] == "graded", final
                same_grading(final["result"], reference_run(SLOW, tmp_path))
            for submission_id in queued + received + slow:
                assert len(service.runs(submission_id)) == 1
                assert service.outcome_rows(submission_id) == 4
        finally:
            service.close()
            own.stop()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("students", [1, 2])
def test_a_redis_outage_while_grading_never_stops_the_worker(tmp_path, students):
    """Redis goes away while gradings run. Two students: both processes grade, and each grading's
    late acknowledgement meets the closed connection. One student: fair queues hold the second
    upload, so one process waits for work while the other grades, and closing the connection
    puts the running one's message back. kombu raised AttributeError in both (it once stopped
    the whole worker: grader/queue/broker_guard.py); the scores are stored, the worker stays up
    and grades the rest once Redis is back."""
    from grader import service as use_cases
    own = OwnRedis(tmp_path)
    own.start()
    with scratch_database() as database_url:
        service = Service(tmp_path, database_url, own.url, GRADER_SWEEP_AFTER_S="20")
        try:
            from grader.storage.users import add_user
            with session_scope(service.config) as session:
                for k in range(students):
                    add_user(session, f"s{k}")
            worker = service.start_worker(concurrency=2)
            slow = [use_cases.submit(service.config, f"s{k % students}", "toy", "sub.py", SLOW.encode())
                    for k in range(2)]
            service.wait_status(slow[0], "running")
            own.stop()
            down = slow if students == 2 else slow[:1]
            for submission_id in down:                   # finished and stored with the broker down
                assert service.wait(submission_id, timeout_s=120)["status"] == "graded"
            wait_for(lambda: "Connection to broker lost" in service.logs(tail=None), 60,
                     "the worker notices that Redis is gone", details=service.logs)
            assert worker.poll() is None, service.failure_logs()
            own.start()
            after = service.submit(TOY_SOLUTION)
            for submission_id in slow + [after]:
                assert service.wait(submission_id, timeout_s=120)["status"] == "graded"
                assert len(service.runs(submission_id)) == 1
            assert worker.poll() is None, service.failure_logs()
            assert "Unrecoverable error" not in service.logs(tail=None)
        finally:
            service.close()
            own.stop()


# ---------------------------------------------------------------- duplicates and regrades

@pytest.mark.postgres
@pytest.mark.redis
def test_duplicate_messages_do_nothing_and_a_regrade_is_a_new_attempt(production):
    from grader import service
    production.start_worker(concurrency=2)
    first, second = production.submit(TOY_SOLUTION), production.submit(PARTIAL)
    # the same message three times at once, and a stale one for an attempt that never was
    app = get_app(production.config)
    for attempt in (1, 1, 1, 5):
        send_grading(app, first, attempt, "cpu")
    assert production.wait(first)["score"] == 6.0 and production.wait(second)["score"] == 4.0
    # of the five messages for `first`, one graded it and four found nothing to do
    wait_for(lambda: nothing_to_do(production) >= 4, 30, "the worker took every duplicate", details=production.logs)
    assert len(production.runs(first)) == 1 and production.outcome_rows(first) == 4
    regrade = production.cli("regrade", "--exercise", "toy", "--wait")
    assert regrade.returncode == 0 and "2 submissions queued again" in regrade.stdout, regrade.stderr
    assert [r.attempt for r in production.runs(first)] == [1, 2]
    assert service.status(production.config, second)["score"] == 4.0
    # a submission that is not final cannot be regraded (it will be graded anyway): exit 2
    stored = service.store_submission(production.config, "alice", "toy", "x.py", TOY_SOLUTION.encode())
    refused = production.cli("regrade", "--submission", str(stored))
    assert refused.returncode == 2 and "will be graded anyway" in refused.stderr


def test_a_broken_suite_ends_error_at_once_never_a_score(tmp_path):
    """Ours (GraderError: here a hidden suite that does not compile): no retry, `error`, no score;
    on the embedded default."""
    import shutil
    exercises = tmp_path / "exercises"
    shutil.copytree(EXERCISES / "toy", exercises / "brokensuite")
    manifest = exercises / "brokensuite" / "exercise.toml"
    manifest.write_text(manifest.read_text().replace('id = "toy"', 'id = "brokensuite"'))
    (exercises / "brokensuite" / "hidden" / "test_toy.py").write_text("def test_add(:\n")
    service = Service(tmp_path / "instance", None, None, GRADER_EXERCISES_DIR=str(exercises))
    try:
        service.start_worker()
        from grader import service as use_cases
        submission_id = use_cases.submit(service.config, "alice", "brokensuite", "sub.py", TOY_SOLUTION.encode())
        final = service.wait(submission_id, timeout_s=60)
        assert final["status"] == "error" and final["score"] is None and "not scored" in final["reason"]
        (run,) = service.runs(submission_id)
        assert not run.infrastructure and run.score is None and run.error.startswith("SuiteError")
    finally:
        service.close()
