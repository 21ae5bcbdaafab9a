"""Alembic migrations against real databases: from empty to head on SQLite and PostgreSQL (a fresh
scratch database per test, dropped after), no drift between the models and the migrations, down
and up again, and `grader db upgrade` through the real CLI."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from grader.config import Config
from grader.storage import migrate
from grader.storage.db import make_engine
from grader.storage.models import Base
from support import FIXTURES, ROOT, grader, scratch_database

# the newest revision file's name starts with its id (0001_initial.py, 0002_...): read, not hard-coded
LATEST = max(p.name.split("_")[0] for p in (ROOT / "migrations" / "versions").glob("[0-9]*_*.py"))
TABLES = {"alembic_version", *Base.metadata.tables}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request, tmp_path):
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'grader.db'}"
    else:
        with scratch_database() as url:
            yield url


def drift(config: Config) -> list:
    engine = make_engine(config)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables(config: Config) -> set[str]:
    engine = make_engine(config)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_to_head_matches_the_models(empty_db, tmp_path):
    config = Config(database_url=empty_db, instance_dir=tmp_path)
    assert migrate.current(config) is None and tables(config) == set()
    assert migrate.upgrade(config) == migrate.head() == LATEST
    assert tables(config) == TABLES
    assert drift(config) == []                      # the models and the migrations agree
    assert migrate.upgrade(config) == LATEST        # again: nothing to do


def test_downgrade_to_base_and_up_again(empty_db, tmp_path):
    from alembic import command
    config = Config(database_url=empty_db, instance_dir=tmp_path)
    migrate.upgrade(config)
    engine = make_engine(config)
    try:
        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "base")
    finally:
        engine.dispose()
    assert tables(config) <= {"alembic_version"} and migrate.current(config) is None
    assert migrate.upgrade(config) == LATEST and drift(config) == []


def test_0011_adds_the_runs_usage_columns_and_takes_them_away_again(empty_db, tmp_path):
    """Runs from before keep their rows with nothing measured; down again, the columns go and the
    rows stay."""
    from datetime import datetime, timezone

    from alembic import command
    from sqlalchemy import text
    config = Config(database_url=empty_db, instance_dir=tmp_path)
    assert migrate.upgrade(config, "0009") == "0009"
    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    engine = make_engine(config)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO users (id, name, name_key, role, created_at) VALUES (1, 'a', 'a', 'student', :t)"),
                      {"t": now})
            c.execute(text("INSERT INTO exercises (id, title, points, bonus_points, penalty_per_day, max_penalty, "
                           "closed_after_due, limits, gpu, synced_at, tests, cooloff_minutes, show_hidden_points) "
                           "VALUES ('toy', 'Toy', 6, 1, 0, 0, false, '{}', false, :t, '[]', 0, false)"), {"t": now})
            c.execute(text("INSERT INTO submissions (id, user_id, exercise_id, filename, sha256, size, received_at, "
                           "status, attempts, gpu_alone) VALUES (1, 1, 'toy', 'a.py', 'x', 1, :t, 'graded', 1, false)"),
                      {"t": now})
            c.execute(text("INSERT INTO grading_runs (id, submission_id, attempt, backend, started_at, finished_at, "
                           "duration_s, infrastructure) VALUES (1, 1, 1, 'local', :t, :t, 2.5, false)"), {"t": now})
        assert migrate.upgrade(config, "0011") == "0011"
        with engine.connect() as c:
            assert c.execute(text("SELECT duration_s, cpu_s, gpu_s, gpu_peak_mb FROM grading_runs")).one() == \
                (2.5, None, None, None)
        with engine.begin() as c:
            c.execute(text("UPDATE grading_runs SET cpu_s = 1.5, gpu_s = 0.5, gpu_peak_mb = 900"))
            command.downgrade(migrate.alembic_config(c), "0009")
        columns = {col["name"] for col in inspect(engine).get_columns("grading_runs")}
        assert {"cpu_s", "gpu_s", "gpu_peak_mb"}.isdisjoint(columns) and "duration_s" in columns
        with engine.connect() as c:
            assert c.execute(text("SELECT id, duration_s FROM grading_runs")).one() == (1, 2.5)
    finally:
        engine.dispose()
    assert migrate.upgrade(config) == LATEST and drift(config) == []


def test_one_head_and_migrations_never_import_the_models():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    assert migrate.migrations_dir() == ROOT / "migrations"
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        assert "grader" not in path.read_text(), f"{path.name} must not depend on today's models"


def test_cli_db_upgrade(empty_db, tmp_path):
    env = {"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_DATABASE_URL": empty_db,
           "GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")}
    run = grader("db", "upgrade", env=env)
    assert run.code == 0, run.stderr
    synced = len([p for p in (FIXTURES / "exercises").iterdir() if (p / "exercise.toml").is_file()])
    assert run.stdout.strip() == f"database at revision {LATEST}; {synced} exercises synced"
    config = Config(database_url=empty_db, instance_dir=tmp_path)
    assert tables(config) == TABLES and drift(config) == []
    assert grader("db", "upgrade", env=env).code == 0


def test_cli_db_upgrade_default_database_is_in_the_instance_dir(tmp_path):
    run = grader("db", "upgrade", env={"GRADER_INSTANCE_DIR": str(tmp_path / "instance"),
                                       "GRADER_EXERCISES_DIR": str(FIXTURES / "exercises")})
    assert run.code == 0, run.stderr
    assert (tmp_path / "instance" / "grader.db").is_file()
    assert (tmp_path / "instance").stat().st_mode & 0o777 == 0o700      # hashes and grades: not for others


def test_cli_db_bad_url_names_the_variable(tmp_path):
    run = grader("db", "upgrade", env={"GRADER_INSTANCE_DIR": str(tmp_path),
                                       "GRADER_DATABASE_URL": "postgresql+nodriver://u@h/x"})
    assert run.code == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("grader: GRADER_DATABASE_URL='postgresql+nodriver://u@h/x' cannot be used")
