"""`grader serve` in production: with a real broker (Redis) it runs gunicorn on
grader.web.wsgi:app and no embedded worker; the app answers over HTTP with its secure cookie.
With the embedded broker (Flask's server), FLASK_DEBUG in the environment never turns on
Werkzeug's debugger."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from support import EXERCISES, ROOT, free_port, free_redis_db, wait_for


@pytest.mark.redis
def test_serve_with_a_real_broker_runs_gunicorn(tmp_path):
    with free_redis_db() as broker:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        env.update(GRADER_INSTANCE_DIR=str(tmp_path), GRADER_BROKER_URL=broker, GRADER_SECRET_KEY="s" * 32)
        log = open(tmp_path / "serve.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--port", str(port), "--workers", "1"],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def answered():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
                        return response.read(), response.headers
                except OSError:
                    assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                    return None
            body, headers = wait_for(answered, 60, "gunicorn answers", every_s=0.3,
                                     details=(tmp_path / "serve.log").read_text)
            assert b"Log in" in body
            assert "Secure" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
            text = (tmp_path / "serve.log").read_text()
            assert "gunicorn" in text.lower() and "grading worker started" not in text
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


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
