"""`grader serve` in production: with a real broker (Redis) it runs gunicorn on
grader.web.wsgi:app and no embedded worker; the app answers over HTTP with its secure cookie,
also while slow clients hold connections open. With the embedded broker (Flask's server),
FLASK_DEBUG in the environment never turns on Werkzeug's debugger, and its worker stops with it."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from support import EXERCISES, ROOT, TOY_SOLUTION, free_port, free_redis_db, wait_for


@contextlib.contextmanager
def gunicorn(tmp_path, *args: str):
    """`grader serve` on a free port with Redis as the broker, until it answers: (port, log path)."""
    with free_redis_db() as broker:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        env.update(GRADER_INSTANCE_DIR=str(tmp_path), GRADER_BROKER_URL=broker, GRADER_SECRET_KEY="s" * 32)
        log_path = tmp_path / "serve.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--port", str(port), *args],
                                    env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def answered():
                try:
                    return get(port, timeout=5)
                except OSError:
                    assert proc.poll() is None, log_path.read_text()
                    return None
            wait_for(answered, 60, "gunicorn answers", every_s=0.3, details=log_path.read_text)
            yield port, log_path
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def get(port: int, timeout: float):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=timeout) as response:
        return response.read(), response.headers


@pytest.mark.redis
def test_serve_with_a_real_broker_runs_gunicorn(tmp_path):
    with gunicorn(tmp_path, "--workers", "1") as (port, log_path):
        body, headers = get(port, timeout=5)
        assert b"Log in" in body
        assert "Secure" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
        text = log_path.read_text()
        assert "gunicorn" in text.lower() and "grading worker started" not in text
        assert "gthread" in text                                   # threaded workers (slow clients, below)


@pytest.mark.redis
def test_slow_clients_do_not_stop_the_web_app(tmp_path):
    """Slowloris: connections that send half a request and wait. With sync workers four of them
    held the only worker and a normal page timed out; threaded workers keep answering. (The
    timeout is how long a student would wait, not a speed target.)"""
    with gunicorn(tmp_path, "--workers", "1") as (port, _):
        slow = []
        try:
            for _ in range(4):
                client = socket.create_connection(("127.0.0.1", port), timeout=5)
                client.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")     # and never the rest
                slow.append(client)
            body, _ = get(port, timeout=10)
            assert b"Log in" in body
        finally:
            for client in slow:
                client.close()


def test_gunicorn_argv_parses():
    """The production command line, as gunicorn's own parser reads it."""
    from gunicorn.config import Config
    from grader.serve import gunicorn_argv
    argv = gunicorn_argv("0.0.0.0", 8000, workers=3, threads=12)
    assert argv[:3] == [sys.executable, "-m", "gunicorn"]
    parsed = Config().parser().parse_args(argv[3:])
    assert (parsed.workers, parsed.threads, parsed.worker_class, parsed.bind) == (3, 12, "gthread", ["0.0.0.0:8000"])


def test_flask_debug_in_the_environment_never_turns_on_the_debugger(tmp_path):
    """FLASK_DEBUG=1 made app.run() start Werkzeug's debugger: a Python console in the browser
    (/console) and tracebacks with one on every error page. `grader serve` (embedded broker:
    Flask's server and a worker) keeps debug off whatever the environment says."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "FLASK_"))}
    env.update(GRADER_INSTANCE_DIR=str(tmp_path), GRADER_EXERCISES_DIR=str(EXERCISES), FLASK_DEBUG="1")
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:             # the server writes to its own copy of the file
        proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            assert proc.poll() is None, log_path.read_text()
            return None

    try:
        status, body = wait_for(lambda: get("/login"), 60, "grader serve answers", every_s=0.3,
                                details=log_path.read_text)
        assert status == 200 and b"Log in" in body
        for path in ("/console", "/login?__debugger__=yes&cmd=resource&f=debugger.js"):
            status, body = get(path)
            assert b"Werkzeug" not in body and b"__debugger__" not in body and b"CONSOLE_MODE" not in body, path
            assert status == (404 if path == "/console" else 200), (path, status)
        text = log_path.read_text()
        assert "Debug mode: off" in text and "Debugger is active" not in text and "PIN" not in text, text
    finally:
        proc.send_signal(signal.SIGINT)           # serve stops its worker on the way out
        try:
            proc.wait(timeout=60)
        finally:
            worker = re.search(r"grading worker started \(pid (\d+)\)", log_path.read_text())
            if proc.poll() is None:
                proc.kill()
            if worker:
                try:
                    os.killpg(int(worker.group(1)), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def test_a_malformed_lms_setting_stops_the_start_with_its_name(tmp_path):
    """A typo in GRADER_LTI_CONFIG's grader section is found when `grader serve` starts, not by
    the first student whose LMS launch then fails."""
    from support import grader, write_lti_tool
    lti, _ = write_lti_tool(tmp_path, "https://lms.example", "https://lms.example", "https://lms.example/token",
                            "client-1", "deployment-1", contexts={"course-1": {"instructors_are_staf": True}})
    run = grader("serve", "--port", str(free_port()), env={"GRADER_INSTANCE_DIR": str(tmp_path / "instance"),
                                                           "GRADER_LTI_CONFIG": str(lti)}, timeout=60)
    assert run.code == 1 and "instructors_are_staf" in run.stderr and "GRADER_LTI_CONFIG" in run.stderr, run.stderr
    assert not (tmp_path / "instance" / "grader.db").exists()          # stopped before anything was made


def running(pid: int) -> bool:
    """A process that still runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=["int", "term", "hup", "kill"])
def test_the_embedded_worker_stops_with_the_server(tmp_path, stop):
    """SIGTERM (a service manager, a test's teardown) used to end `grader serve` without its
    finally, and its worker, in a session of its own, ran on: every browser test left one behind.
    Now SIGINT, SIGTERM and SIGHUP stop it on the way out (SIGINT also when the server was started
    with SIGINT ignored, as a background job is), and SIGKILL of the server has the kernel stop it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(GRADER_INSTANCE_DIR=str(tmp_path), GRADER_EXERCISES_DIR=str(EXERCISES))
    log_path = tmp_path / "serve.log"
    # SIGINT: started as a background job starts it, SIGINT ignored (as it was in CI's test process)
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if stop == signal.SIGINT else None
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=ignore)
    worker = None
    try:
        found = wait_for(lambda: re.search(r"grading worker started \(pid (\d+)\)", log_path.read_text()), 60,
                         "serve starts its worker", every_s=0.2, details=log_path.read_text)
        worker = int(found.group(1))
        wait_for(lambda: " ready." in log_path.read_text(), 60, "the worker is ready", every_s=0.2,
                 details=log_path.read_text)
        (tmp_path / "toy.py").write_text(TOY_SOLUTION)    # a worker that has graded (its pool used)
        users = subprocess.run([sys.executable, "-m", "grader", "users", "add", "alice", "--role", "student"], env=env, cwd=ROOT,
                               capture_output=True, text=True)
        graded = subprocess.run([sys.executable, "-m", "grader", "submit", "toy", str(tmp_path / "toy.py"),
                                 "--user", "alice", "--wait", "--timeout", "120"], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=180)
        assert users.returncode == 0 and graded.returncode == 0, users.stderr + graded.stdout + graded.stderr
        assert running(worker)
        proc.send_signal(stop)
        proc.wait(timeout=60)
        wait_for(lambda: not running(worker), 40, f"the worker (pid {worker}) stops after {stop.name}",
                 details=log_path.read_text)
    finally:
        if proc.poll() is None:
            proc.kill()
        if worker is not None and running(worker):
            os.killpg(worker, signal.SIGKILL)
