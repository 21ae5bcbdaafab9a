"""The instance folder is private from its first use, when the web app is the first to make it:
password hashes (grader.db and its -wal/-shm), the signing key, the broker's messages and the
students' files are for the service's user alone (folders 0700, files 0600 or 0400)."""
from __future__ import annotations

import io
import os
import sqlite3
import stat

from grader.config import Config
from grader.storage import migrate
from grader.storage.db import dispose_engines, session_scope
from grader.storage.exercises import sync_exercises
from grader.storage.users import add_user
from grader.web import create_app
from support import EXERCISES, TOY_SOLUTION, csrf


def modes(root) -> dict[str, int]:
    """Every folder and file under `root` (and root itself): relative path -> permission bits."""
    found = {".": stat.S_IMODE(os.stat(root).st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_a_fresh_instance_made_by_the_web_is_private_to_the_service(tmp_path):
    old_umask = os.umask(0o022)                         # the usual umask, whatever the test runner's
    try:
        instance = tmp_path / "srv" / "instance"        # neither exists: the web makes both
        config = Config(exercises_dir=EXERCISES, instance_dir=instance, max_submission_mb=1)
        app = create_app(config, TESTING=True, SESSION_COOKIE_SECURE=False)     # writes the secret key
        assert sorted(modes(instance)) == [".", "secret_key"]
        migrate.upgrade(config)                         # then the tables, as `grader db upgrade` would
        with session_scope(config) as s:
            sync_exercises(s, config)
            add_user(s, "alice", password="alice-pw")
        client = app.test_client()
        login = client.post("/login", data={"username": "alice", "password": "alice-pw",
                                            "csrf_token": csrf(client.get("/login"))})
        assert login.status_code == 302, login.data[:300]
        upload = client.post("/submit", data={"exercise": "toy", "csrf_token": csrf(client.get("/")),
                                              "file": (io.BytesIO(TOY_SOLUTION.encode()), "mine.py")},
                             content_type="multipart/form-data")      # a stored file and a queued message
        assert upload.status_code in (302, 303), upload.data[:300]
        found = modes(instance)
        # what the web wrote: the database with its WAL files, the broker's, a stored submission
        for expected in ("grader.db", "grader.db-wal", "grader.db-shm", "broker.db", "submissions"):
            assert expected in found, sorted(found)
        assert [name for name in found if name.startswith("submissions/") and len(name) > 64], sorted(found)
        loose = {name: oct(mode) for name, mode in found.items()
                 if mode & 0o077 or ((instance / name).is_dir() and mode != 0o700)}
        assert loose == {}, loose
        assert stat.S_IMODE((tmp_path / "srv").stat().st_mode) == 0o700     # made on the way: private too
    finally:
        os.umask(old_umask)
        dispose_engines()


def test_an_older_readable_database_is_made_private_on_connect(tmp_path):
    """A grader.db that an earlier version left 0644, with the -wal and -shm that SQLite then made
    0644 too: the next connection of the grader's makes all three 0600."""
    config = Config(exercises_dir=EXERCISES, instance_dir=tmp_path)
    migrate.upgrade(config)
    dispose_engines()
    names = ("grader.db", "grader.db-wal", "grader.db-shm")
    (tmp_path / "grader.db").chmod(0o644)
    held = sqlite3.connect(tmp_path / "grader.db")     # another process's connection keeps the WAL files
    try:
        held.execute("SELECT count(*) FROM users").fetchall()
        assert {n: oct(stat.S_IMODE((tmp_path / n).stat().st_mode)) for n in names} == dict.fromkeys(names, "0o644")
        with session_scope(config) as s:
            add_user(s, "bob")
        assert {n: oct(stat.S_IMODE((tmp_path / n).stat().st_mode)) for n in names} == dict.fromkeys(names, "0o600")
    finally:
        held.close()
        dispose_engines()
