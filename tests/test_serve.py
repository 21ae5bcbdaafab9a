"""`grader serve` in production: with a real broker (Redis) it runs gunicorn on
grader.web.wsgi:app and no embedded worker; the app answers over HTTP with its secure cookie,
also while slow clients hold connections open."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from support import ROOT, free_port, free_redis_db, wait_for


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
