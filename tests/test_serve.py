"""`grader serve` in production: with a real broker (Redis) it runs gunicorn on
grader.web.wsgi:app and no embedded worker; the app answers over HTTP with its secure cookie."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from support import ROOT, free_port, free_redis_db, wait_for


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
