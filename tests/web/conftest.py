"""The web tests' sites: a fresh app and database per test (SQLite; `any_site` also on PostgreSQL)."""
from __future__ import annotations

import contextlib
import os
import shutil

import pytest

from grader.storage.db import dispose_engines
from support import Site, require, scratch_database

CHROMIUM = os.environ.get("TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Debian's chromium driven by Playwright (the browser tests)."""
    require(None if os.path.exists(CHROMIUM) else f"no chromium at {CHROMIUM}",
            "apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


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


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def walk_site(request, tmp_path_factory):
    """One site for a module's many requests: LTI configured for a platform that is not running
    (its routes then answer as in production), login limits out of the way (every try reaches
    the password check), a graded submission of alice's for the routes that take an id."""
    from support import PERCEPTRON, perceptron_result, stored_graded, write_lti_tool
    folder = tmp_path_factory.mktemp("walk")
    lti_config, _ = write_lti_tool(folder, "https://lms.example", "http://127.0.0.1:9", "http://127.0.0.1:9/token",
                                   "client-1", "deployment-1")
    with scratch_database() if request.param == "postgresql" else contextlib.nullcontext() as url:
        site = Site(folder, url, settings={"lti_config": lti_config}, LOGIN_ATTEMPTS=10 ** 6,
                    LOGIN_ATTEMPTS_PER_ADDRESS=10 ** 6)
        site.submission_id = stored_graded(site.config, "alice", PERCEPTRON, perceptron_result(),
                                           exercise="perceptron")
        yield site
        dispose_engines()
