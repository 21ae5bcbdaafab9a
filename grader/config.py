"""The one configuration object. Embedded defaults work from a checkout; env vars override.

| setting              | env var                  | default                          |
|----------------------|--------------------------|----------------------------------|
| exercises_dir        | GRADER_EXERCISES_DIR     | <checkout>/exercises             |
| reference_dir        | GRADER_REFERENCE_DIR     | <checkout>/reference             |
| data_dir             | GRADER_DATA_DIR          | the user's data cache (`user_data_dir()`) when it exists |
| instance_dir         | GRADER_INSTANCE_DIR      | <checkout>/instance              |
| cache_dir            | GRADER_CACHE_DIR         | <instance_dir>/cache             |
| backend              | GRADER_BACKEND           | local                            |
| max_submission_mb    | GRADER_MAX_SUBMISSION_MB | 20 (MiB)                         |
| sandbox_root         | GRADER_SANDBOX_ROOT      | system temp dir                  |
| sandbox_python       | GRADER_SANDBOX_PYTHON    | this interpreter                 |
| docker_image         | GRADER_DOCKER_IMAGE      | grader-sandbox:latest            |
| docker_gpus          | GRADER_DOCKER_GPUS       | auto (all GPUs if the engine has the nvidia runtime) |

Every value is checked here, once: a bad one raises `ConfigError` naming the variable.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

CHECKOUT = Path(__file__).resolve().parent.parent
BACKENDS = ("local", "docker")
MAX_SUBMISSION_MB = 20.0       # the one submission size limit (ingest, the CLI and the web use it)


def user_data_dir(environ=None) -> Path:
    """Where `grader datasets fetch` puts the IDX files by default: the user's cache folder."""
    env = os.environ if environ is None else environ
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nn-grader" / "datasets"


@dataclass(frozen=True)
class Config:
    exercises_dir: Path = CHECKOUT / "exercises"
    reference_dir: Path = CHECKOUT / "reference"
    data_dir: Path | None = None
    instance_dir: Path = CHECKOUT / "instance"
    cache_dir: Path | None = None           # None: <instance_dir>/cache (decoded datasets live there)
    backend: str = "local"
    max_submission_mb: float = MAX_SUBMISSION_MB
    sandbox_root: str | None = None
    sandbox_python: str = sys.executable    # runs student code: needs the student environment
    docker_image: str = "grader-sandbox:latest"
    docker_gpus: str = "auto"               # "", "auto", "all", a count, or device ids "0,1"

    @classmethod
    def from_env(cls, environ=None) -> "Config":
        env = os.environ if environ is None else environ

        def path(key, default):
            value = env.get(key)
            if not value:
                return default
            if "\0" in value:
                raise ConfigError(f"{key}={value!r} is not a usable path")
            return Path(value).expanduser().resolve()

        default_data = user_data_dir(env)
        return cls(
            exercises_dir=path("GRADER_EXERCISES_DIR", cls.exercises_dir),
            reference_dir=path("GRADER_REFERENCE_DIR", cls.reference_dir),
            data_dir=path("GRADER_DATA_DIR", default_data if default_data.is_dir() else None),
            instance_dir=path("GRADER_INSTANCE_DIR", cls.instance_dir),
            cache_dir=path("GRADER_CACHE_DIR", None),
            backend=env.get("GRADER_BACKEND") or cls.backend,
            max_submission_mb=_number(env, "GRADER_MAX_SUBMISSION_MB", cls.max_submission_mb),
            sandbox_root=env.get("GRADER_SANDBOX_ROOT") or None,
            sandbox_python=env.get("GRADER_SANDBOX_PYTHON") or sys.executable,
            docker_image=env.get("GRADER_DOCKER_IMAGE") or cls.docker_image,
            docker_gpus=env.get("GRADER_DOCKER_GPUS", cls.docker_gpus),
        )

    def __post_init__(self):
        # cache_dir follows instance_dir, also when only that is overridden
        cache_dir = Path(self.instance_dir) / "cache" if self.cache_dir is None else Path(self.cache_dir)
        object.__setattr__(self, "cache_dir", cache_dir)
        self._validate()

    def _validate(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"GRADER_BACKEND={self.backend!r} is not a sandbox backend: use "
                              + " or ".join(BACKENDS))
        if not 0 < self.max_submission_mb <= 1024:
            raise ConfigError(f"GRADER_MAX_SUBMISSION_MB={self.max_submission_mb:g} must be a number of MB "
                              "between 0 and 1024")
        if not Path(self.exercises_dir).is_dir():
            raise ConfigError(f"GRADER_EXERCISES_DIR={self.exercises_dir} is not a folder")
        if self.sandbox_root is not None and not os.path.isdir(self.sandbox_root):
            raise ConfigError(f"GRADER_SANDBOX_ROOT={self.sandbox_root} is not a folder")
        if not (os.path.isfile(self.sandbox_python) and os.access(self.sandbox_python, os.X_OK)):
            raise ConfigError(f"GRADER_SANDBOX_PYTHON={self.sandbox_python} is not an executable file")
        gpus = self.docker_gpus.strip().lower()
        if gpus not in ("", "auto", "all", "none") and not re.fullmatch(r"[\w:-]+(,[\w:-]+)*", gpus):
            raise ConfigError(f"GRADER_DOCKER_GPUS={self.docker_gpus!r} must be auto, all, none, a count or "
                              "device ids such as 0,1")
        if not re.fullmatch(r"[\w][\w.:/@-]*", self.docker_image):
            raise ConfigError(f"GRADER_DOCKER_IMAGE={self.docker_image!r} is not an image name")

    @property
    def max_submission_bytes(self) -> int:
        return int(self.max_submission_mb * 1024 * 1024)

    @property
    def sandbox_hidden_paths(self) -> list[Path]:
        """Folders student code must never read: suites, solutions, held-out data, instance secrets.
        (The local sandbox is an allowlist; these keep an interpreter folder that holds one of
        them from being shown, and the docker backend mounts none of them.)"""
        paths = [self.exercises_dir, self.reference_dir, self.instance_dir]
        paths += [self.data_dir] if self.data_dir else []
        # The cache holds decoded held-out labels; hide it too unless an outer hidden folder covers it.
        if not any(self.cache_dir.is_relative_to(p) for p in paths):
            paths.append(self.cache_dir)
        return paths


def _number(env, key: str, default: float) -> float:
    value = env.get(key)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a number") from None
