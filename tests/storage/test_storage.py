"""The service's storage on real databases: SQLite (a file per test) and PostgreSQL (one scratch
database per test run, dropped after; marker `postgres`). Users, roster, tokens, content-addressed
files, the status lifecycle, grading runs, the gradebook; the new settings; the CLI's `users`.

Without a PostgreSQL server on 127.0.0.1:5432 (TEST_POSTGRES_URL overrides) the postgres tests
skip, except in CI, where the server is part of the setup: there they fail.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from grader import errors, service
from grader.config import Config
from grader.results import GradeResult
from grader.storage.exercises import get_exercise, sync_exercises
from grader.storage.submissions import begin_retry, create_submission, get_submission, mark_status, record_run, submission_data
from grader.storage.users import RosterImport, add_user, get_user, import_roster, issue_token, user_for_token, verify_password
from grader.storage.db import dispose_engines, session_scope
from grader.storage.files import FileStore
from grader.storage.gradebook import gradebook
from grader.storage.models import ApiToken, GradingRun, Submission, TestOutcome, User
from support import FIXTURES, ROOT, grader, stored_graded, toy_result


def graded(config: Config, user: str, data: bytes, score: float, bonus: float = 0.0) -> int:
    """A toy submission taken through queued -> running -> one run -> graded; its id."""
    return stored_graded(config, user, data, toy_result(score, bonus))


# ---------------------------------------------------------------- users, roster, tokens

def test_add_user_and_a_duplicate_name(db):
    with session_scope(db) as session:
        user = add_user(session, "alice", "student", email="alice@uni.example", section="A")
        assert user.id and user.created_at.tzinfo is not None and user.password_hash is None
    with pytest.raises(errors.DuplicateUser, match="a user named 'alice' exists already") as e:
        with session_scope(db) as session:
            add_user(session, "alice", "ta")
    assert e.value.exit_code == 2 and e.value.http_status == 409
    for args, words in [(("bob", "prof"), "role 'prof' is not one of student, ta, instructor"),
                        (("bad name", "student"), "user name 'bad name' must be"),
                        (("", "student"), "user name '' must be")]:
        with pytest.raises(errors.UserError, match=words), session_scope(db) as session:
            add_user(session, *args)
    with pytest.raises(errors.UserError, match="is not an e-mail address"), session_scope(db) as session:
        add_user(session, "carl", email="carl at home")
    with session_scope(db) as session:
        assert [u.name for u in session.scalars(select(User))] == ["alice"]
        with pytest.raises(errors.UnknownUser, match="no user named 'zed'"):
            get_user(session, "zed")


def test_passwords_are_stored_as_scrypt_hashes(db):
    with session_scope(db) as session:
        user = add_user(session, "tina", "ta", password="correct horse")
    with session_scope(db) as session:
        user = get_user(session, "tina")
        assert user.password_hash.startswith("scrypt$") and "correct horse" not in user.password_hash
        assert verify_password(user, "correct horse") and not verify_password(user, "wrong")
        assert not verify_password(add_user(session, "nopw"), "")


def test_roster_import_checks_every_line_before_writing(db, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email,section,role\n"
                      "ann,ann@uni.example,A,student\n"
                      "bo b,,A,student\n"                        # line 3: a space in the name
                      "cid,,B,wizard\n"                          # line 4: no such role
                      "ann,,B,ta\n")                             # line 5: ann again
    with pytest.raises(errors.RosterError) as e, session_scope(db) as session:
        import_roster(session, roster)
    message = str(e.value)
    assert message.startswith("roster.csv: nothing imported")
    assert "line 3: user name 'bo b'" in message and "line 4: role 'wizard'" in message
    assert "line 5: 'ann' is already on line 2" in message and "line 2:" not in message
    assert e.value.exit_code == 2
    with session_scope(db) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0     # nothing written

    roster.write_text("\ufeffname,role,email,section\nann,student,ann@uni.example,A\ndan,ta,,\n\neve,,,C\n")
    with session_scope(db) as session:
        assert import_roster(session, roster) == RosterImport(added=3, updated=0)
    # no header: name, email, section, role; existing users are updated
    with session_scope(db) as session:
        done = import_roster(session, b"ann,ann@uni.example,B,student\r\nfay,fay@uni.example\r\n", "upload.csv")
        assert done == RosterImport(added=1, updated=1)
        users = {u.name: (u.email, u.section, u.role) for u in session.scalars(select(User))}
    assert users == {"ann": ("ann@uni.example", "B", "student"), "dan": (None, None, "ta"),
                     "eve": (None, "C", "student"), "fay": ("fay@uni.example", None, "student")}
    with pytest.raises(errors.RosterError, match="upload.csv line 1: unknown column"), session_scope(db) as session:
        import_roster(session, ["name,login"], "upload.csv")
    with pytest.raises(errors.RosterError, match="line 1: 5 fields, expected at most 4"), session_scope(db) as session:
        import_roster(session, ["a,b@c.d,A,student,extra"])


def test_roster_import_stores_the_lms_ids_and_an_empty_one_keeps_the_stored(db):
    """sis_user_id and canvas_user_id (or Canvas's "SIS User ID" and "ID") are stored for the Canvas
    export; an empty cell leaves what is stored; a Canvas id that is no number is a bad line."""
    with session_scope(db) as session:
        assert import_roster(session, "name,sis_user_id,canvas_user_id\nann,S-1,101\nbo,,\n") == \
            RosterImport(added=2, updated=0)
    with session_scope(db) as session:
        assert import_roster(session, "Name,Section,SIS User ID,ID\nann,A,,\nbo,,S 2,202\n") == \
            RosterImport(added=0, updated=2)
        assert import_roster(session, "name,section,sis user id,id\nann,A,,\n") == RosterImport(0, 0)
        ids = {u.name: (u.section, u.sis_user_id, u.canvas_user_id) for u in session.scalars(select(User))}
    assert ids == {"ann": ("A", "S-1", "101"), "bo": (None, "S 2", "202")}
    with pytest.raises(errors.RosterError) as e, session_scope(db) as session:
        import_roster(session, "name,canvas_user_id,sis_user_id\nann,12a,\nbo,3," + "x" * 101 + "\n")
    assert "line 2: Canvas user id '12a' must be a number" in str(e.value)
    assert "line 3: SIS user id 'xxxxxxxxxxxxxxxxxxxx' must be 1 to 100 printable characters" in str(e.value)
    with session_scope(db) as session:
        assert session.get(User, get_user(session, "ann").id).canvas_user_id == "101"      # nothing written
    with pytest.raises(errors.RosterError, match="line 1: unknown column login: use name, email, section, role, "
                                                 "sis_user_id, canvas_user_id$"), session_scope(db) as session:
        import_roster(session, ["name,login"])
    with pytest.raises(errors.RosterError, match="line 1: unknown columns login, sis_login_id: "), \
            session_scope(db) as session:
        import_roster(session, ["name,login,SIS Login ID"])


def test_tokens_are_shown_once_and_stored_as_sha256(db):
    with session_scope(db) as session:
        add_user(session, "alice")
        token = issue_token(session, "alice")
        second = issue_token(session, "alice")
    assert token != second and token.startswith("grd_") and len(token) > 40
    with session_scope(db) as session:
        rows = session.scalars(select(ApiToken)).all()
        assert {r.token_hash for r in rows} == {hashlib.sha256(t.encode()).hexdigest() for t in (token, second)}
        stored = session.execute(text("SELECT * FROM api_tokens")).all()
        assert not [value for row in stored for value in row if isinstance(value, str) and token in value]
        assert all(r.last_used_at is None for r in rows)
    with session_scope(db) as session:
        assert user_for_token(session, token).name == "alice"
        assert user_for_token(session, token + "x") is None
        assert user_for_token(session, "") is None and user_for_token(session, "grd_") is None
    with session_scope(db) as session:
        used = session.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        assert used.last_used_at is not None and used.last_used_at.tzinfo is not None
        with pytest.raises(errors.UnknownUser):
            issue_token(session, "nobody")


# ---------------------------------------------------------------- exercises and files

def test_sync_exercises_from_the_manifests(db, tmp_path):
    with session_scope(db) as session:
        toy = get_exercise(session, "toy")
        assert (toy.title, toy.points, toy.bonus_points) == ("Toy exercise for the harness tests", 6.0, 1.0)
        assert toy.limits["test_timeout_s"] == 3 and toy.due_at is None and not toy.closed_after_due
        with pytest.raises(errors.UnknownExercise, match="unknown exercise 'nope' \\(known: courseenv, probe"):
            get_exercise(session, "nope")
    exercises = tmp_path / "exercises"
    shutil.copytree(FIXTURES / "exercises", exercises)
    manifest = exercises / "toy" / "exercise.toml"
    manifest.write_text(manifest.read_text().replace(
        'title = "Toy exercise for the harness tests"',
        'title = "Toy, renamed"\ndue = 2025-03-01T23:59:00+01:00\n'
        "[late]\npenalty_per_day = 0.1\nmax_penalty = 0.5\nclosed_after_due = true\n", 1))
    config = Config(exercises_dir=exercises, instance_dir=tmp_path, database_url=db.database_url)
    with session_scope(config) as session:
        sync_exercises(session, config)
    with session_scope(config) as session:
        toy = get_exercise(session, "toy")
        assert toy.title == "Toy, renamed"
        assert toy.due_at == datetime(2025, 3, 1, 22, 59, tzinfo=timezone.utc)
        assert (toy.penalty_per_day, toy.max_penalty, toy.closed_after_due) == (0.1, 0.5, True)
    manifest.write_text(manifest.read_text().replace("penalty_per_day = 0.1", "penalty_per_day = 3"))
    with pytest.raises(errors.ManifestError, match="fractions of the score"), session_scope(config) as session:
        sync_exercises(session, config)


def test_file_store_is_content_addressed_atomic_and_checked(tmp_path):
    store = FileStore(tmp_path / "files")
    sha = store.put(b"print(1)\n")
    assert sha == hashlib.sha256(b"print(1)\n").hexdigest() and store.put(b"print(1)\n") == sha
    assert store.path(sha) == tmp_path / "files" / sha[:2] / sha and store.get(sha) == b"print(1)\n"
    assert [p.name for p in (tmp_path / "files").rglob("*")] == [sha[:2], sha]     # no temporary files left
    assert not stat.S_IMODE(store.path(sha).stat().st_mode) & 0o222                 # read-only
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")
    os.chmod(store.path(sha), 0o644)
    store.path(sha).write_bytes(b"print(2)\n")
    with pytest.raises(errors.StorageUnavailable, match="is damaged"):
        store.get(sha)
    with pytest.raises(errors.StorageUnavailable, match="cannot be read"):
        store.get("0" * 64)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(errors.StorageUnavailable, match="GRADER_STORAGE_DIR"):
        FileStore(blocker).put(b"x")


def test_create_submission_stores_the_file_once(db):
    with session_scope(db) as session:
        add_user(session, "alice")
        add_user(session, "bob")
        first = create_submission(session, db, "alice", "toy", "../../My Work/sol.py", b"x = 1\n")
        again = create_submission(session, db, "bob", "toy", "copy.py", b"x = 1\n")
        other = create_submission(session, db, "alice", "toy", "nb.ipynb", b'{"cells": []}')
        assert (first.status, first.attempts, first.filename, first.size) == ("received", 0, "sol.py", 6)
        assert first.sha256 == again.sha256 != other.sha256
        assert first.received_at.tzinfo is not None and first.queued_at is None
        assert submission_data(db, again) == b"x = 1\n"
    files = sorted(p.name for p in db.storage_dir.rglob("*") if p.is_file())
    assert files == sorted({first.sha256, other.sha256})
    assert (db.storage_dir / first.sha256[:2] / first.sha256).read_bytes() == b"x = 1\n"
    for args, error, words in [(("zed", "toy", "a.py", b"x"), errors.UnknownUser, "no user named 'zed'"),
                               (("alice", "nope", "a.py", b"x"), errors.UnknownExercise, "unknown exercise 'nope'")]:
        with pytest.raises(error, match=words), session_scope(db) as session:
            create_submission(session, db, *args)
    # the upload's type and size are checked once, before it is stored (ingest.validate_upload),
    # also for the operator's CLI, which leaves the reading of the file to the grading
    small = Config(exercises_dir=db.exercises_dir, instance_dir=db.instance_dir, database_url=db.database_url,
                   max_submission_mb=1)
    for name, data, words in [("a.txt", b"x", "unsupported file type"), ("a.py", b"x" * (1024 * 1024 + 1), "over the")]:
        for upload in (service.submit, service.submit_upload):
            with pytest.raises(errors.IngestError, match=words):
                upload(small, "alice", "toy", name, data)
    with session_scope(db) as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 3
    assert sorted(p.name for p in db.storage_dir.rglob("*") if p.is_file()) == files


# ---------------------------------------------------------------- lifecycle, runs, gradebook

def test_status_only_moves_forward(db):
    with session_scope(db) as session:
        add_user(session, "alice")
        submission = create_submission(session, db, "alice", "toy", "a.py", b"x = 1\n")
        with pytest.raises(errors.InvalidTransition, match="cannot move from received to running"):
            mark_status(session, submission, "running")
        with pytest.raises(errors.InvalidTransition, match="'done' is not a submission status"):
            mark_status(session, submission, "done")
        mark_status(session, submission, "queued")
        assert submission.status == "queued" and submission.queued_at is not None
        with pytest.raises(errors.InvalidTransition, match="cannot move from queued to received"):
            mark_status(session, submission, "received")
        sid = submission.id
    # a worker holding a stale copy cannot take a submission another one took already
    with session_scope(db) as first, session_scope(db) as second:
        mine, stale = first.get(Submission, sid), second.get(Submission, sid)
        assert mark_status(first, mine, "running").attempts == 1
        first.commit()
        with pytest.raises(errors.InvalidTransition, match="cannot move from running to running"):
            mark_status(second, stale, "running")
    with session_scope(db) as session:
        submission = session.get(Submission, sid)
        assert (submission.status, submission.attempts) == ("running", 1) and submission.started_at is not None
        assert begin_retry(session, submission, 2) and submission.attempts == 2   # a retry stays running
        assert not begin_retry(session, submission, 2)                            # ... once
        mark_status(session, submission, "failed", reason="the notebook is not valid JSON")
        assert submission.finished_at is not None and submission.reason == "the notebook is not valid JSON"
        for status in ("queued", "running", "graded", "error", "received"):
            with pytest.raises(errors.InvalidTransition, match=f"cannot move from failed to {status}"):
                mark_status(session, submission, status)
        assert not begin_retry(session, submission, 3)         # no attempt starts once it is final
    with session_scope(db) as session:
        assert get_submission(session, sid).status == "failed"
        with pytest.raises(errors.UnknownSubmission, match="no submission 999"):
            get_submission(session, 999)
    assert issubclass(errors.InvalidTransition, errors.GraderError) and errors.InvalidTransition.exit_code == 1


def test_record_run_writes_the_run_and_its_tests_and_keeps_history(db):
    started = datetime.now(timezone.utc) - timedelta(seconds=30)
    with session_scope(db) as session:
        add_user(session, "alice")
        submission = create_submission(session, db, "alice", "toy", "a.py", b"x = 1\n")
        with pytest.raises(errors.InvalidTransition, match="is received, not running"):
            record_run(session, submission, toy_result(4), backend="local")
        mark_status(session, submission, "queued")
        mark_status(session, submission, "running")
        failed = record_run(session, submission, None, backend="docker", error="engine stopped: docker.sock",
                                 infrastructure=True, started_at=started, finished_at=started + timedelta(seconds=2))
        assert (failed.attempt, failed.score, failed.result, failed.tests) == (1, None, None, [])
        assert failed.duration_s == 2.0
        begin_retry(session, submission, 2)
        run = record_run(session, submission, toy_result(4, 1).to_dict(), backend="local", device="cuda:0")
        assert (run.attempt, len(run.tests)) == (2, 4)
        with pytest.raises(errors.InvalidTransition, match="attempt 2 of submission 1 is recorded already"):
            record_run(session, submission, toy_result(5), backend="local")
        mark_status(session, submission, "graded")
        sid = submission.id
    with session_scope(db) as session:
        runs = session.scalars(select(GradingRun).where(GradingRun.submission_id == sid).order_by(GradingRun.attempt)).all()
        assert [(r.attempt, r.infrastructure, r.score, r.max_score, r.bonus) for r in runs] == \
            [(1, True, None, None, None), (2, False, 4.0, 6.0, 1.0)]
        assert runs[0].error == "engine stopped: docker.sock" and runs[1].error is None
        assert runs[1].device == "cuda:0" and runs[1].backend == "local" and runs[1].duration_s == pytest.approx(1.5)
        assert GradeResult.from_dict(runs[1].result) == toy_result(4, 1)        # the whole result, back
        outcomes = session.execute(select(TestOutcome.name, TestOutcome.status, TestOutcome.points,
                                          TestOutcome.max_points, TestOutcome.bonus)
                                   .where(TestOutcome.run_id == runs[1].id).order_by(TestOutcome.id)).all()
        assert [tuple(o) for o in outcomes] == [("test_add", "passed", 1.0, 1.0, False),
                                                ("test_scale", "passed", 2.0, 2.0, False),
                                                ("test_counter", "failed", 1.0, 3.0, False),
                                                ("test_counter_reset", "passed", 1.0, 1.0, True)]
        assert session.scalar(select(func.count()).select_from(TestOutcome)) == 4
        with pytest.raises(errors.InvalidTransition, match="is graded, not running"):
            record_run(session, session.get(Submission, sid), toy_result(6), backend="local")


def test_usual_duration_is_the_median_of_the_exercises_last_20_graded_runs(db):
    """Known rows: 25 graded toy runs of 1..25 s (finished in that order), an infrastructure run
    and an ungraded one of the toy, a probe run: the median of the newest 20 toy runs, 6..25 s."""
    from grader.storage.submissions import usual_duration_s
    now = datetime.now(timezone.utc)

    def run(session, exercise, seconds, finished, result, **kw):
        submission = create_submission(session, db, "alice", exercise, "a.py", f"x = {seconds}".encode())
        mark_status(session, submission, "queued")
        mark_status(session, submission, "running")
        record_run(session, submission, result, backend="local", started_at=finished - timedelta(seconds=seconds),
                   finished_at=finished, **kw)
    with session_scope(db) as session:
        add_user(session, "alice")
        assert usual_duration_s(session, "toy") is None                       # no history: no estimate
        for k in range(1, 26):
            run(session, "toy", float(k), now - timedelta(minutes=60 - k), toy_result(6))
        run(session, "toy", 900.0, now, None, error="engine stopped", infrastructure=True)
        run(session, "toy", 800.0, now, None, error="a bad notebook")     # failed: no score
        run(session, "probe", 700.0, now, toy_result(6))
        assert usual_duration_s(session, "toy") == pytest.approx(15.5)       # median of 6..25
        assert usual_duration_s(session, "toy", last=3) == pytest.approx(24.0)
        assert usual_duration_s(session, "probe") == pytest.approx(700.0)


def test_a_final_status_clears_the_running_attempts_progress(db):
    from grader.storage.submissions import set_progress
    with session_scope(db) as session:
        add_user(session, "alice")
        submission = create_submission(session, db, "alice", "toy", "a.py", b"x = 1\n")
        mark_status(session, submission, "queued")
        mark_status(session, submission, "running")
        quick = {"kind": "stage", "index": 3, "total": 4, "quick": [{"name": "test_add", "status": "passed"}]}
        assert set_progress(session, submission.id, 1, quick)
        session.refresh(submission)
        assert submission.progress == quick
        record_run(session, submission, toy_result(6), backend="local")
        mark_status(session, submission, "graded")
        assert submission.progress is None


def test_gradebook_best_and_latest(db):
    with session_scope(db) as session:
        add_user(session, "alice", section="A")
        add_user(session, "bob", section="B")
        add_user(session, "tara", "ta")
    best = graded(db, "alice", b"a = 1", 5.0, 1.0)         # 6 with the bonus
    graded(db, "alice", b"a = 2", 6.0, 0.0)                # 6 as well, later: best on a tie
    tie_winner = graded(db, "alice", b"a = 3", 6.0, 0.0)
    latest = graded(db, "alice", b"a = 4", 2.0)
    bobs = graded(db, "bob", b"b = 1", 3.0)
    graded(db, "tara", b"t = 1", 6.0)
    with session_scope(db) as session:                      # counted, never graded
        failed = create_submission(session, db, "alice", "toy", "late.py", b"a = 5")
        mark_status(session, failed, "failed", reason="not Python")
        create_submission(session, db, "bob", "probe", "p.py", b"p = 1")
    with session_scope(db) as session:
        by_best = {(r.user, r.exercise): r for r in gradebook(session, "best")}
        by_latest = {(r.user, r.exercise): r for r in gradebook(session, "latest")}
        with pytest.raises(errors.UsageError, match="policy 'worst'"):
            gradebook(session, "worst")
    assert best != tie_winner
    assert {u for u, _ in by_best} == {"alice", "bob"}                         # students only
    assert len(by_best) == 2 * 4                                               # x every exercise
    alice, bob = by_best[("alice", "toy")], by_best[("bob", "toy")]
    assert (alice.submission_id, alice.score, alice.bonus, alice.max_score, alice.submissions) == \
        (tie_winner, 6.0, 0.0, 6.0, 5)
    assert (bob.submission_id, bob.score, bob.section) == (bobs, 3.0, "B")
    assert (by_latest[("alice", "toy")].submission_id, by_latest[("alice", "toy")].score) == (latest, 2.0)
    assert by_latest[("alice", "toy")].received_at.tzinfo is not None
    probe = by_best[("bob", "probe")]
    assert (probe.submission_id, probe.score, probe.submissions) == (None, None, 1)
    assert by_best[("alice", "probe")].submissions == 0


def test_a_later_infrastructure_attempt_does_not_hide_the_score(db):
    with session_scope(db) as session:
        add_user(session, "alice")
        submission = create_submission(session, db, "alice", "toy", "a.py", b"x = 1\n")
        mark_status(session, submission, "queued")
        mark_status(session, submission, "running")
        record_run(session, submission, toy_result(3), backend="local")
        begin_retry(session, submission, 2)
        record_run(session, submission, None, backend="local", error="lost", infrastructure=True)
        mark_status(session, submission, "graded")
    with session_scope(db) as session:
        assert gradebook(session)[-2].score == 3.0      # alice x toy (the rows are sorted)


def test_a_database_without_tables_says_to_upgrade(tmp_path):
    config = Config(database_url=f"sqlite:///{tmp_path / 'empty.db'}", instance_dir=tmp_path)
    with pytest.raises(errors.DatabaseUnavailable, match="has no tables yet: run `grader db upgrade`"):
        with session_scope(config) as session:
            get_user(session, "alice")
    dispose_engines()


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("key, value, words", [
    ("GRADER_DATABASE_URL", "mysql://db/grader", "GRADER_DATABASE_URL='mysql://db/grader' is not a database URL"),
    ("GRADER_DATABASE_URL", "postgresql://u:hunter2@db/x y", None),
    ("GRADER_BROKER_URL", "localhost:6379", "GRADER_BROKER_URL='localhost:6379' is not a broker URL"),
    ("GRADER_SECRET_KEY", "short", "GRADER_SECRET_KEY is too short"),
    ("GRADER_WORKER_CONCURRENCY", "two", "GRADER_WORKER_CONCURRENCY='two' is not a whole number"),
    ("GRADER_WORKER_CONCURRENCY", "0", "GRADER_WORKER_CONCURRENCY=0 must be a whole number from 1 to 256"),
    ("GRADER_GPU_SLOTS", "0;$(rm -rf /)", "GRADER_GPU_SLOTS: '0;$(rm -rf /)' is not a GPU slot"),
])
def test_service_settings_are_validated_by_name(key, value, words):
    if words is None:                 # a valid URL: accepted, and its password never shown
        config = Config.from_env({key: value})
        assert config.database_url == value and "hunter2" not in repr(config)
        return
    with pytest.raises(errors.ConfigError) as e:
        Config.from_env({key: value})
    assert words in str(e.value)


def test_service_setting_defaults_follow_the_instance_dir(tmp_path):
    config = Config.from_env({"GRADER_INSTANCE_DIR": str(tmp_path)})
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/grader.db"
    assert config.broker_url == f"sqla+sqlite:///{tmp_path.resolve()}/broker.db"
    assert config.storage_dir == tmp_path.resolve() / "submissions"
    assert (config.secret_key, config.worker_concurrency, config.gpu_slots) == (None, 2, "")
    assert config.storage_dir not in config.sandbox_hidden_paths                # covered by instance_dir
    elsewhere = Config.from_env({"GRADER_STORAGE_DIR": str(tmp_path / "files"), "GRADER_WORKER_CONCURRENCY": "4",
                                 "GRADER_GPU_SLOTS": "0,1"})
    assert elsewhere.storage_dir in elsewhere.sandbox_hidden_paths               # other students' files
    assert (elsewhere.worker_concurrency, elsewhere.gpu_slots) == (4, "0,1")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(errors.ConfigError, match="GRADER_STORAGE_DIR=.* is not a folder"):
        Config.from_env({"GRADER_STORAGE_DIR": str(blocker)})
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "secret_key").exists()   # building writes nothing


def test_the_web_secret_key_is_made_once_private(tmp_path):
    config = Config(instance_dir=tmp_path / "instance")
    key = config.web_secret_key()
    path = tmp_path / "instance" / "secret_key"
    assert len(key) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Config(instance_dir=tmp_path / "instance").web_secret_key() == key
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]
    assert Config(secret_key="s" * 32, instance_dir=tmp_path).web_secret_key() == "s" * 32
    path.chmod(0o644)
    with pytest.raises(errors.ConfigError, match="readable by other users: chmod 600"):
        config.web_secret_key()


def test_the_core_does_not_import_sqlalchemy():
    code = ("import sys, grader.cli, grader.grading, grader.config, grader.errors, grader.results, grader.report; "
            "grader.cli.build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'alembic', 'psycopg')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the CLI

def test_cli_users_add_import_token(tmp_path):
    env = {"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
           "GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}
    assert grader("db", "upgrade", env=env).code == 0
    run = grader("users", "add", "alice", "--role", "instructor", "--email", "alice@uni.example", env=env)
    assert (run.code, run.stdout.strip(), run.stderr) == (0, "added alice (instructor)", "")
    for args, words in [(("users", "add", "alice", "--role", "ta"), "a user named 'alice' exists already"),
                        (("users", "add", "bob", "--role", "prof"), "role 'prof' is not one of student, ta, "
                                                                    "instructor"),
                        (("users", "token", "nobody"), "no user named 'nobody'"),
                        (("users", "import", str(tmp_path / "missing.csv")), "no such file"),
                        (("users", "add", "bob"), "the following arguments are required: --role")]:
        run = grader(*args, env=env)
        assert run.code == 2 and words in run.stderr and run.stdout == "", (args, run.stderr)
        assert "Traceback" not in run.stderr
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email,section,role\nann,ann@uni.example,A,student\ncid,,B,wizard\n")
    run = grader("users", "import", str(roster), env=env)
    assert run.code == 2 and "roster.csv: nothing imported; line 3: role 'wizard'" in run.stderr
    roster.write_text("name,email,section,role\nann,ann@uni.example,A,student\ncid,,B,ta\n")
    run = grader("users", "import", str(roster), env=env)
    assert run.code == 0 and run.stdout.strip() == "roster.csv: 2 users added, 0 updated"
    run = grader("users", "token", "ann", env=env)
    token = run.stdout.strip()
    assert run.code == 0 and token.startswith("grd_") and len(run.stdout.splitlines()) == 1
    config = Config(database_url=env["GRADER_DATABASE_URL"], instance_dir=tmp_path)
    with session_scope(config) as session:
        assert user_for_token(session, token).name == "ann"
    dispose_engines()


def test_cli_password_from_stdin(tmp_path):
    env = {**os.environ, "GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    assert grader("db", "upgrade", env=env).code == 0
    cmd = [sys.executable, "-m", "grader", "users", "add", "tina", "--role", "ta", "--password-stdin"]
    proc = subprocess.run(cmd, input="s3cret pass\nignored\n", capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(cmd[:5] + ["tom"] + cmd[6:], input="\n", capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 2 and "first line of stdin is empty" in proc.stderr
    config = Config(database_url=env["GRADER_DATABASE_URL"], instance_dir=tmp_path)
    with session_scope(config) as session:
        assert verify_password(get_user(session, "tina"), "s3cret pass")
    dispose_engines()


@pytest.mark.parametrize("args", [("users", "token", "alice"), ("db", "upgrade"),
                                  ("users", "add", "bob", "--role", "ta")])
def test_cli_database_down_is_one_line_and_exit_1(tmp_path, args):
    url = "postgresql+psycopg://postgres:pw@127.0.0.1:1/x"
    run = grader(*args, env={"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": url})
    assert run.code == 1 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("grader: cannot use the database at GRADER_DATABASE_URL="
                                 "postgresql+psycopg://postgres:***@127.0.0.1:1/x")


def test_cli_tables_missing_says_to_upgrade(tmp_path):
    run = grader("users", "token", "alice", env={"GRADER_INSTANCE_DIR": str(tmp_path),
                                                  "GRADER_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    assert run.code == 1 and "has no tables yet: run `grader db upgrade`" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
