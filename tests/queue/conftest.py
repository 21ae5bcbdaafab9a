"""The queue's fixtures: a production-like service (PostgreSQL + Redis) and an exercises folder
that mixes the toy exercise with three of the course's."""
from __future__ import annotations

from pathlib import Path

import pytest

from support import EXERCISES, ROOT, Service, free_redis_db, scratch_database


@pytest.fixture
def production(tmp_path):
    """PostgreSQL (scratch database) + Redis (a free database number)."""
    with scratch_database() as database_url, free_redis_db() as broker_url:
        service = Service(tmp_path, database_url, broker_url, GRADER_SWEEP_AFTER_S="15")
        try:
            yield service
        finally:
            service.close()


@pytest.fixture
def mixed_exercises(tmp_path) -> Path:
    folder = tmp_path / "exercises"
    folder.mkdir()
    (folder / "toy").symlink_to(EXERCISES / "toy")
    for ex in ("perceptron", "backprop", "feedforward"):
        (folder / ex).symlink_to(ROOT / "exercises" / ex)
    return folder
