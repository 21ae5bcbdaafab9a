"""Fixtures used in more than one folder; the helpers they use are in `support` (imported first:
it drops the developer's GRADER_* settings before anything reads them).

Tests that read MNIST / Fashion-MNIST carry the `datasets` marker: they find the files in
GRADER_DATA_DIR, ../shared/datasets or the user's data cache, fetch them into that cache with the
project's downloader when the network allows, and otherwise fail with one line that says how to
provide them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support import EXERCISES, TOY_SOLUTION, datasets_or_reason, grader, require_docker


def pytest_runtest_setup(item):
    if item.get_closest_marker("datasets"):
        folder, reason = datasets_or_reason()
        if folder is None:
            pytest.fail(reason, pytrace=False)


@pytest.fixture
def data_dir() -> Path:
    folder, reason = datasets_or_reason()
    if folder is None:
        pytest.fail(reason, pytrace=False)
    return folder


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request):
    if request.param == "docker":
        require_docker()
    return request.param


@pytest.fixture
def grade_toy(tmp_path, backend):
    """Grade the toy solution with `extra` appended (later definitions replace earlier ones),
    once per sandbox backend."""
    def run(extra: str = "", *, base: str = TOY_SOLUTION, env: dict | None = None):
        path = tmp_path / "submission.py"
        path.write_text(base + "\n\n" + extra)
        return grader("run", "toy", str(path), "--json", "--backend", backend,
                      env={"GRADER_EXERCISES_DIR": str(EXERCISES), **(env or {})})
    run.backend = backend
    return run


@pytest.fixture(scope="session")
def postgres_url():
    """One upgraded scratch database for this test run's storage tests (emptied by `db`)."""
    from grader.config import Config
    from grader.storage import migrate
    from support import scratch_database
    with scratch_database() as url:
        migrate.upgrade(Config(database_url=url))
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    """A config on an upgraded, empty database (the fixture exercises synced), files in tmp_path."""
    from grader.config import Config
    from grader.storage import migrate
    from grader.storage.exercises import sync_exercises
    from grader.storage.db import dispose_engines, session_scope
    from support import empty_tables
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'grader.db'}"
        config = Config(exercises_dir=EXERCISES, instance_dir=tmp_path, database_url=url)
        migrate.upgrade(config)
    else:
        url = request.getfixturevalue("postgres_url")
        config = Config(exercises_dir=EXERCISES, instance_dir=tmp_path, database_url=url)
        empty_tables(config)
    with session_scope(config) as session:
        sync_exercises(session, config)
    yield config
    dispose_engines()
