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
| database_url         | GRADER_DATABASE_URL      | sqlite:///<instance_dir>/grader.db (sqlite or postgresql) |
| broker_url           | GRADER_BROKER_URL        | sqla+sqlite:///<instance_dir>/broker.db (no server) |
| secret_key           | GRADER_SECRET_KEY        | None: `web_secret_key()` makes <instance_dir>/secret_key (mode 600) on first use |
| storage_dir          | GRADER_STORAGE_DIR       | <instance_dir>/submissions       |
| worker_concurrency   | GRADER_WORKER_CONCURRENCY | 2 (grading processes per worker) |
| gpu_slots            | GRADER_GPU_SLOTS         | "" (none; grader/gpus.py: 0,1 or MIG-.. or 0*4=20000) |
| sweep_after_s        | GRADER_SWEEP_AFTER_S     | None: derived from the manifests' suite_timeout_s (grader/queue/settings.py) |
| lti_config           | GRADER_LTI_CONFIG        | None (no LMS): a pylti1p3 tool configuration JSON file (grader/web/lti.py) |
| trusted_proxies      | GRADER_TRUSTED_PROXIES   | 0 (clients connect directly); N: the web reads the client's address from N proxies' X-Forwarded-For |
| share_broker         | GRADER_SHARE_BROKER      | false: a worker refuses a broker another deployment uses (grader/queue/deployments.py) |
| warm_pool            | GRADER_WARM_POOL         | None: 1 warm sandbox per exercise in `grader worker`, 0 (off) elsewhere (grader/harness/pool.py) |

The service settings (database_url and those after it) are only read by the storage, the queue
and the web; the default broker is kombu's SQLAlchemy transport on a SQLite file: unlike
`memory://` (one process only) it lets a web process and worker processes share a queue without a
server, and unlike `filesystem://` it needs no transport options beyond the URL. Production uses
redis://.

Every value is checked here, once: a bad one raises `ConfigError` naming the variable.
"""
from __future__ import annotations

import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .private_paths import private_dir

CHECKOUT = Path(__file__).resolve().parent.parent
BACKENDS = ("local", "docker")
MAX_SUBMISSION_MB = 20.0       # the one submission size limit (ingest, the CLI and the web use it)
MAX_WARM_POOL = 4              # warm sandboxes per exercise and process: each torch one holds hundreds of MB


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
    # the service (storage, queue, web); None: derived from instance_dir in __post_init__
    database_url: str | None = field(default=None, repr=False)      # may hold a password
    broker_url: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)        # None: web_secret_key() makes one
    storage_dir: Path | None = None         # content-addressed submission files
    worker_concurrency: int = 2
    gpu_slots: str = ""
    # the queue's sweep: a submission queued or running this long without news is sent again
    # (None: derived from the longest suite_timeout_s, see grader/queue/settings.py); tests shorten it
    sweep_after_s: float | None = None
    # LTI 1.3 (an LMS opens exercises and receives scores): pylti1p3's ToolConfJsonFile format
    lti_config: Path | None = None
    # reverse proxies in front of the web app: it reads the client's address (and scheme) from
    # the last N X-Forwarded-For (-Proto) entries; without, every client has the proxy's address
    trusted_proxies: int = 0
    # another deployment (another database) on the same broker is a mistake unless said so here
    # (`grader worker --share-broker`); each deployment has its own queues there either way
    share_broker: bool = False
    # sandboxes started ahead of time per exercise in each grading process (grader/harness/pool.py);
    # None: the caller's default (1 in `grader worker`, 0 in `grader run`)
    warm_pool: int | None = None

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
            database_url=env.get("GRADER_DATABASE_URL") or None,
            broker_url=env.get("GRADER_BROKER_URL") or None,
            secret_key=env.get("GRADER_SECRET_KEY") or None,
            storage_dir=path("GRADER_STORAGE_DIR", None),
            worker_concurrency=_integer(env, "GRADER_WORKER_CONCURRENCY", cls.worker_concurrency),
            gpu_slots=env.get("GRADER_GPU_SLOTS", cls.gpu_slots),
            sweep_after_s=_number(env, "GRADER_SWEEP_AFTER_S", None),
            lti_config=path("GRADER_LTI_CONFIG", None),
            trusted_proxies=_integer(env, "GRADER_TRUSTED_PROXIES", cls.trusted_proxies),
            share_broker=_flag(env, "GRADER_SHARE_BROKER", cls.share_broker),
            warm_pool=_integer(env, "GRADER_WARM_POOL", None),
        )

    def __post_init__(self):
        # cache_dir follows instance_dir, also when only that is overridden
        cache_dir = Path(self.instance_dir) / "cache" if self.cache_dir is None else Path(self.cache_dir)
        object.__setattr__(self, "cache_dir", cache_dir)
        # so do the service's files, unless set
        instance = Path(self.instance_dir)
        storage_dir = instance / "submissions" if self.storage_dir is None else Path(self.storage_dir)
        object.__setattr__(self, "storage_dir", storage_dir)
        object.__setattr__(self, "database_url", self.database_url or f"sqlite:///{instance / 'grader.db'}")
        object.__setattr__(self, "broker_url", self.broker_url or f"sqla+sqlite:///{instance / 'broker.db'}")
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
        if self.lti_config is not None:          # its keys and issuers: grader/lti_passback.py
            import json
            try:
                json.loads(Path(self.lti_config).read_text(encoding="utf-8"))
            except OSError as e:
                raise ConfigError(f"GRADER_LTI_CONFIG={self.lti_config} cannot be read ({e.strerror})") from None
            except ValueError as e:
                raise ConfigError(f"GRADER_LTI_CONFIG={self.lti_config} is not a JSON file ({e})") from None
        if self.warm_pool is not None and (isinstance(self.warm_pool, bool) or not isinstance(self.warm_pool, int)
                                           or not 0 <= self.warm_pool <= MAX_WARM_POOL):
            raise ConfigError(f"GRADER_WARM_POOL={self.warm_pool!r} must be the number of warm sandboxes per "
                              f"exercise, from 0 (off) to {MAX_WARM_POOL}")
        self._validate_service()

    def _validate_service(self) -> None:
        if not re.match(r"(sqlite|postgresql|postgres)(\+\w+)?://", self.database_url):
            raise ConfigError(f"GRADER_DATABASE_URL={redact_url(self.database_url)!r} is not a database URL: use "
                              "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME")
        if not re.match(r"[a-z][a-z0-9+.-]*://", self.broker_url):
            raise ConfigError(f"GRADER_BROKER_URL={redact_url(self.broker_url)!r} is not a broker URL such as "
                              "redis://HOST:6379/0 or sqla+sqlite:///PATH")
        if self.secret_key is not None and len(self.secret_key) < 16:
            raise ConfigError("GRADER_SECRET_KEY is too short: use at least 16 random characters "
                              "(python3 -c 'import secrets; print(secrets.token_hex(32))')")
        if self.storage_dir.exists() and not self.storage_dir.is_dir():
            raise ConfigError(f"GRADER_STORAGE_DIR={self.storage_dir} is not a folder")
        if isinstance(self.worker_concurrency, bool) or not isinstance(self.worker_concurrency, int) \
                or not 1 <= self.worker_concurrency <= 256:
            raise ConfigError(f"GRADER_WORKER_CONCURRENCY={self.worker_concurrency!r} must be a whole number "
                              "from 1 to 256")
        if isinstance(self.trusted_proxies, bool) or not isinstance(self.trusted_proxies, int) \
                or not 0 <= self.trusted_proxies <= 10:
            raise ConfigError(f"GRADER_TRUSTED_PROXIES={self.trusted_proxies!r} must be the number of proxies in front "
                              "of the web app, from 0 (none) to 10")
        if not isinstance(self.share_broker, bool):
            raise ConfigError(f"GRADER_SHARE_BROKER={self.share_broker!r} must be true or false")
        from .gpus import parse_slots
        parse_slots(self.gpu_slots)          # a ConfigError naming the bad entry
        if self.sweep_after_s is not None and not 0 < self.sweep_after_s <= 7 * 24 * 3600:
            raise ConfigError(f"GRADER_SWEEP_AFTER_S={self.sweep_after_s:g} must be a number of seconds "
                              "between 0 and a week")

    def web_secret_key(self) -> str:
        """The web app's signing key: GRADER_SECRET_KEY, or else one generated on first use into
        <instance_dir>/secret_key (mode 600; a folder made on the way is 700) and read from there
        afterwards, so sessions survive restarts and every process on this machine signs with the
        same key. Nothing is written until the web asks (the CLI and the tests never do)."""
        if self.secret_key:
            return self.secret_key
        path = Path(self.instance_dir) / "secret_key"
        if not path.exists():
            # written whole to a temporary file, then linked into place: a process that loses the
            # race reads the winner's key, never a half-written file
            try:
                private_dir(path.parent)          # the web may be the first to make the instance folder
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")   # mode 600
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
                finally:
                    os.unlink(tmp)
            except OSError as e:
                raise ConfigError(f"cannot create {path} for the web's secret key ({e.strerror}): "
                                  "set GRADER_SECRET_KEY or fix GRADER_INSTANCE_DIR") from None
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by other users: chmod 600 {path} (or set GRADER_SECRET_KEY)")
        key = path.read_text().strip()
        if len(key) < 16:
            raise ConfigError(f"{path} holds no usable key: delete it to generate a new one")
        return key

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
        # Other students' submissions, likewise.
        if not any(self.storage_dir.is_relative_to(p) for p in paths):
            paths.append(self.storage_dir)
        return paths


def _number(env, key: str, default: float) -> float:
    value = env.get(key)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a number") from None


def _flag(env, key: str, default: bool) -> bool:
    value = (env.get(key) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}={env.get(key)!r} must be 1 or 0 (true or false)")


def _integer(env, key: str, default: int) -> int:
    value = env.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a whole number") from None


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^/:@]*):[^/]*@", r"\1:***@", url)
