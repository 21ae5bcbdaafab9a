"""The web tests' sites: a fresh app and database per test (SQLite; `any_site` also on PostgreSQL)."""
from __future__ import annotations

import pytest

from grader.storage.db import dispose_engines
from support import Site, scratch_database


@pytest.fixture
def site(tmp_path):
    yield Site(tmp_path)
    dispose_engines()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_site(request, tmp_path):
    if request.param == "sqlite":
        yield Site(tmp_path)
    else:
        with scratch_database() as url:
            yield Site(tmp_path, url)
    dispose_engines()
