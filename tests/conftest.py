"""Shared helpers: grade a file through the real CLI (a separate trusted process), as users do."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOY_SOLUTION = (FIXTURES / "toy_solution.py").read_text()
# The course's IDX files: GRADER_DATA_DIR if set, else the workplace's shared folder next to the checkout.
DATASETS = Path(os.environ.get("GRADER_DATA_DIR") or ROOT.parent / "shared" / "datasets")


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
    full_env = {**os.environ, "GRADER_DATA_DIR": str(DATASETS), **(env or {})}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)
    result = None
    if proc.returncode == 0 and "--json" in args:
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


def require_docker() -> None:
    """Skip without an engine, except in CI, where the engine is part of the setup: there it fails."""
    problem = docker_problem()
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"CI starts dockerd and builds the image, yet: {problem}")
    if problem:
        pytest.skip(problem)


@pytest.fixture(params=["local", "docker"])
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
