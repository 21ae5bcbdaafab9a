"""Shared helpers: grade a file through the real CLI (a separate trusted process), as users do.

The developer's own GRADER_* settings are dropped before any test runs (a test sets what it needs);
GRADER_DATA_DIR is only read to find the datasets. Tests that read MNIST / Fashion-MNIST carry the
`datasets` marker: they find the files in GRADER_DATA_DIR, ../shared/datasets or the user's data
cache, fetch them into that cache with the project's downloader when the network allows, and
otherwise fail with one line that says how to provide them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOY_SOLUTION = (FIXTURES / "toy_solution.py").read_text()

_DEVELOPER_DATA_DIR = os.environ.get("GRADER_DATA_DIR")
for _key in [k for k in os.environ if k.startswith("GRADER_")]:
    del os.environ[_key]

from grader.config import user_data_dir  # noqa: E402 - after the environment is clean


def dataset_candidates() -> list[Path]:
    found = [Path(_DEVELOPER_DATA_DIR)] if _DEVELOPER_DATA_DIR else []
    return found + [ROOT.parent / "shared" / "datasets", user_data_dir()]


def _usable(folder: Path) -> bool:
    from grader.datasets import check
    try:
        return all(line.ok for line in check(folder) if line.needed)
    except Exception:  # noqa: BLE001 - a missing folder, say
        return False


@lru_cache(maxsize=1)
def local_datasets() -> Path | None:
    """The first candidate folder that has every file grading reads (no download)."""
    return next((folder for folder in dataset_candidates() if folder.is_dir() and _usable(folder)), None)


@lru_cache(maxsize=1)
def datasets_or_reason() -> tuple[Path | None, str]:
    folder = local_datasets()
    if folder is not None:
        return folder, ""
    target = user_data_dir()
    fetch = subprocess.run([sys.executable, "-m", "grader", "datasets", "fetch", str(target)],
                           capture_output=True, text=True, timeout=900)
    if fetch.returncode == 0 and _usable(target):
        return target, ""
    searched = ", ".join(str(c) for c in dataset_candidates())
    return None, (f"MNIST/Fashion-MNIST IDX files not found (searched {searched}) and the download failed: "
                  f"set GRADER_DATA_DIR to a folder with them, or run `grader datasets fetch` where there is internet")


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


@dataclass
class Run:
    code: int
    result: dict | None
    stdout: str
    stderr: str
    seconds: float

    def test(self, name: str) -> dict:
        return next(t for t in self.result["tests"] if t["name"] == name)


def grader(*args: str, env: dict | None = None, timeout: float = 300) -> Run:
    data = local_datasets()
    full_env = {**os.environ, **({"GRADER_DATA_DIR": str(data)} if data else {}), **(env or {})}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)
    result = None
    fmt = args[args.index("--format") + 1] if "--format" in args[:-1] else None
    if proc.returncode == 0 and ("--json" in args or fmt in ("json", "gradescope")):
        result = json.loads(proc.stdout)
    return Run(proc.returncode, result, proc.stdout, proc.stderr, time.monotonic() - started)


def docker_problem() -> str | None:
    """Why the docker backend cannot be tested here, or None when the engine and image are ready."""
    try:
        from grader.config import Config
        from grader.sandbox.base import runner_digest
        from grader.sandbox.container import RUNNER_LABEL, engine
        image = engine(timeout=5).images.get(Config.from_env().docker_image)
    except Exception as e:  # noqa: BLE001
        return f"docker backend unavailable: {e}"
    if (image.labels or {}).get(RUNNER_LABEL) != runner_digest():
        return "the sandbox image holds another version of the student runner: run `grader sandbox build`"
    return None


def require(problem: str | None, ci_setup: str) -> None:
    """Skip when a server the test needs is missing, except in CI (CI=true), where `ci_setup`
    provides it: there the test fails."""
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"{ci_setup}, yet: {problem}", pytrace=False)
    if problem:
        pytest.skip(problem)


def require_docker() -> None:
    require(docker_problem(), "CI starts dockerd and builds the image")


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request):
    if request.param == "docker":
        require_docker()
    return request.param


@pytest.fixture
def grade_toy(tmp_path, backend):
    """Grade the toy solution with `extra` appended (later definitions replace earlier ones),
    once per sandbox backend."""
    def run(extra: str = "", *, base: str = TOY_SOLUTION, env: dict | None = None) -> Run:
        path = tmp_path / "submission.py"
        path.write_text(base + "\n\n" + extra)
        return grader("run", "toy", str(path), "--json", "--backend", backend,
                      env={"GRADER_EXERCISES_DIR": str(FIXTURES / "exercises"), **(env or {})})
    run.backend = backend
    return run
