"""The one configuration object. Embedded defaults work from a checkout; env vars override.

| setting              | env var                  | default                          |
|----------------------|--------------------------|----------------------------------|
| exercises_dir        | GRADER_EXERCISES_DIR     | <checkout>/exercises             |
| reference_dir        | GRADER_REFERENCE_DIR     | <checkout>/reference             |
| data_dir             | GRADER_DATA_DIR          | unset (datasets for exercises 4-6)|
| instance_dir         | GRADER_INSTANCE_DIR      | <checkout>/instance              |
| cache_dir            | GRADER_CACHE_DIR         | <instance_dir>/cache             |
| backend              | GRADER_BACKEND           | local                            |
| max_submission_mb    | GRADER_MAX_SUBMISSION_MB | 20                               |
| sandbox_root         | GRADER_SANDBOX_ROOT      | system temp dir                  |
| sandbox_python       | GRADER_SANDBOX_PYTHON    | this interpreter                 |
| docker_image         | GRADER_DOCKER_IMAGE      | grader-sandbox:latest            |
| docker_gpus          | GRADER_DOCKER_GPUS       | auto (all GPUs if the engine has the nvidia runtime) |
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    exercises_dir: Path = CHECKOUT / "exercises"
    reference_dir: Path = CHECKOUT / "reference"
    data_dir: Path | None = None
    instance_dir: Path = CHECKOUT / "instance"
    cache_dir: Path | None = None           # None: <instance_dir>/cache (decoded datasets live there)
    backend: str = "local"
    max_submission_mb: float = 20.0
    sandbox_root: str | None = None
    sandbox_python: str = sys.executable    # runs student code: needs numpy, torch, matplotlib
    docker_image: str = "grader-sandbox:latest"
    docker_gpus: str = "auto"               # "", "auto", "all", a count, or device ids "0,1"

    @classmethod
    def from_env(cls, environ=None) -> "Config":
        env = os.environ if environ is None else environ
        path = lambda key, default: Path(env[key]).resolve() if env.get(key) else default  # noqa: E731
        return cls(
            exercises_dir=path("GRADER_EXERCISES_DIR", cls.exercises_dir),
            reference_dir=path("GRADER_REFERENCE_DIR", cls.reference_dir),
            data_dir=path("GRADER_DATA_DIR", None),
            instance_dir=path("GRADER_INSTANCE_DIR", cls.instance_dir),
            cache_dir=path("GRADER_CACHE_DIR", None),
            backend=env.get("GRADER_BACKEND", cls.backend),
            max_submission_mb=float(env.get("GRADER_MAX_SUBMISSION_MB", cls.max_submission_mb)),
            sandbox_root=env.get("GRADER_SANDBOX_ROOT") or None,
            sandbox_python=env.get("GRADER_SANDBOX_PYTHON") or sys.executable,
            docker_image=env.get("GRADER_DOCKER_IMAGE") or cls.docker_image,
            docker_gpus=env.get("GRADER_DOCKER_GPUS", cls.docker_gpus),
        )

    def __post_init__(self):
        # cache_dir follows instance_dir, also when only that is overridden
        cache_dir = Path(self.instance_dir) / "cache" if self.cache_dir is None else Path(self.cache_dir)
        object.__setattr__(self, "cache_dir", cache_dir)

    @property
    def max_submission_bytes(self) -> int:
        return int(self.max_submission_mb * 1024 * 1024)

    @property
    def sandbox_hidden_paths(self) -> list[Path]:
        """Folders student code must never read: suites, solutions, held-out data, instance secrets."""
        paths = [self.exercises_dir, self.reference_dir, self.instance_dir]
        paths += [self.data_dir] if self.data_dir else []
        # The cache holds decoded held-out labels; hide it too unless an outer hidden folder covers it
        # (a mount over a path inside an already hidden folder would fail).
        if not any(self.cache_dir.is_relative_to(p) for p in paths):
            paths.append(self.cache_dir)
        return paths
