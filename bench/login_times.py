"""Login answer times by name: a known name with a wrong password, an unknown name, and a
password of a megabyte. The three should be alike (an unknown name checks a dummy hash; an
overlong password is never hashed), so the time does not tell an attacker which names exist.

Usage: .venv/bin/python bench/login_times.py [--requests 30]
On SQLite in a temporary instance folder, through Flask's test client (the app's own time)."""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    from grader.config import Config
    from grader.storage import migrate
    from grader.storage.db import dispose_engines, session_scope
    from grader.storage.users import add_user
    from grader.web import create_app
    with tempfile.TemporaryDirectory() as folder:
        config = Config(instance_dir=Path(folder), secret_key="b" * 32)
        migrate.upgrade(config)
        with session_scope(config) as s:
            add_user(s, "alice", "student", password="the-right-one")
        app = create_app(config, SESSION_COOKIE_SECURE=False, LOGIN_ATTEMPTS=10 ** 6,
                         LOGIN_ATTEMPTS_PER_ADDRESS=10 ** 6, LOGIN_DELAY_S=0.0, MAX_FORM_MEMORY_SIZE=2 * 2 ** 20)
        client = app.test_client()
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/login").data).group(1).decode()
        cases = {"known name, wrong password": ("alice", "wrong"),
                 "unknown name": ("nobody-by-this-name", "wrong"),
                 "known name, 1 MB password": ("alice", "x" * 2 ** 20)}
        for label, (name, password) in cases.items():
            times = []
            for _ in range(args.requests + 2):
                t0 = time.perf_counter()
                answer = client.post("/login", data={"username": name, "password": password, "csrf_token": csrf})
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 401, answer.status_code
            times = times[2:]
            print(f"{label:<28} median {statistics.median(times):6.1f} ms, "
                  f"min {min(times):6.1f} ms, max {max(times):6.1f} ms")
        dispose_engines()


if __name__ == "__main__":
    main()
