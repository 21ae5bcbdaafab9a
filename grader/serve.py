"""`grader serve`: the web app, ready to use on one command.

1. migrates the database and syncs the exercises (`grader db upgrade`);
2. with `--demo`, (re)creates a demo instructor and a demo student with fresh passwords and
   prints how to log in;
3. with the embedded broker (no GRADER_BROKER_URL), starts a `grader worker` beside the web
   server, so a bare machine grades with nothing else installed. It stops with the server: on
   Ctrl-C or SIGINT, SIGTERM (a service manager, a test) or SIGHUP (the terminal closed) the server stops
   it on the way out, and the kernel sends it SIGTERM should the server die without a word
   (SIGKILL: PR_SET_PDEATHSIG), so no worker outlives its server;
4. serves: Flask's threaded server for the embedded default, gunicorn (`grader.web.wsgi:app`)
   when the broker is a real server (production: workers run on their own, as in compose).

gunicorn runs threaded workers (gthread): a sync worker reads one request at a time, so four
clients that send their headers slowly (slowloris) held every worker and a normal page timed
out. Threads only raise the count such clients need; in production a reverse proxy that buffers
whole requests (docker/nginx.conf in compose) sits in front, and GRADER_TRUSTED_PROXIES=1 makes
the web read the client's address from it.

Debug mode is off in both, whatever FLASK_DEBUG says: Werkzeug's debugger is a Python
console for whoever reaches the page.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import sys

from .config import Config
from .words import plural

DEMO_USERS = (("instructor", "instructor"), ("student", "student"))


def demo_users(config: Config) -> list[tuple[str, str, str]]:
    """(name, role, password) of the demo users, each with a new password."""
    from .errors import UnknownUser
    from .storage.users import add_user, set_password
    from .storage.db import session_scope
    out = []
    with session_scope(config) as session:
        for name, role in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            try:
                set_password(session, name, password)
            except UnknownUser:
                add_user(session, name, role, password=password, section="demo")
            out.append((name, role, password))
    return out


def embedded_broker(config: Config) -> bool:
    return config.broker_url.startswith("sqla+sqlite")


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


THREADS = 16          # requests in flight per gunicorn worker


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000, demo: bool = False, workers: int = 2,
          threads: int = THREADS) -> int:
    from .storage import migrate
    from .storage.exercises import sync_exercises
    from .storage.db import dispose_engines, session_scope
    if config.lti_config is not None:         # a malformed LMS setting stops the start, not a launch later
        from .lti_passback import tool_config
        tool_config(config)
    revision = migrate.upgrade(config)
    with session_scope(config) as session:
        synced = sync_exercises(session, config)
    print(f"database at revision {revision}; {plural(len(synced), 'exercise')} synced", flush=True)
    url = f"http://{host}:{port}/"
    if demo:
        print(f"\nDemo accounts (new passwords on every start) at {url}", flush=True)
        for name, role, password in demo_users(config):
            print(f"  {role:<11} user {name!r:<13} password {password}", flush=True)
        print(flush=True)
    dispose_engines()
    if not embedded_broker(config):
        return subprocess.call(gunicorn_argv(host, port, workers, threads))
    # the finally below runs for each; SIGINT too, as Python leaves it ignored when the server was
    # started from a background job (then Ctrl-C or a SIGINT would do nothing)
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _exit_on_signal)
    worker = subprocess.Popen([sys.executable, "-m", "grader.cli", "worker"], start_new_session=True,
                              preexec_fn=_die_with_parent)
    print(f"grading worker started (pid {worker.pid}); serving on {url} (Ctrl-C stops both)", flush=True)
    try:
        from .web import create_app
        app = create_app(config, SESSION_COOKIE_SECURE=not loopback(host))
        # never the debugger, whatever FLASK_DEBUG or a .env file says: its console runs Python
        app.run(host=host, port=port, debug=False, load_dotenv=False, threaded=True, use_reloader=False,
                use_debugger=False, use_evalex=False)
    finally:
        stop_worker(worker)
    return 0


WORKER_STOP_S = 20     # within the 30 s a service manager (or a test) gives the server to stop


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGTERM to the worker's main process alone: Celery stops its pool itself (its children
    signalled at the same moment as their parent can leave the parent's warm shutdown waiting for
    ever); then, past WORKER_STOP_S, SIGKILL to its whole process group."""
    try:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(worker.pid, signal.SIGKILL)        # what is left of it, pool children included
    except ProcessLookupError:
        pass
    worker.wait()


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _die_with_parent() -> None:
    """In the worker's child, before exec: SIGTERM when the server that started it dies."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def gunicorn_argv(host: str, port: int, workers: int, threads: int = THREADS) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "5",
            "--access-logfile", "-", "grader.web.wsgi:app"]
