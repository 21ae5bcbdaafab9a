"""`grader db upgrade`: Alembic's upgrade, run programmatically against GRADER_DATABASE_URL.

The migration scripts live in `migrations/` at the top of the checkout (next to `alembic.ini`,
for `alembic revision --autogenerate` while developing); an installed copy finds them next to
the `grader` package (an editable install, or an image that copies `migrations/` beside it) or
in the current folder.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import DBAPIError

from ..config import Config
from ..errors import SetupError
from .db import make_engine, unavailable


def migrations_dir() -> Path:
    package_parent = Path(__file__).resolve().parent.parent.parent
    candidates = [package_parent / "migrations", Path.cwd() / "migrations"]
    for folder in candidates:
        env = folder / "env.py"
        if env.is_file() and (folder / "versions").is_dir() and "grader.storage" in env.read_text():
            return folder
    raise SetupError("the database migrations are missing (looked in "
                     + ", ".join(str(c) for c in candidates)
                     + "): run from a checkout, or copy its migrations/ folder next to the grader package")


def alembic_config(connection=None):
    from alembic.config import Config as AlembicConfig
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection     # migrations/env.py runs on this connection
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(config: Config) -> str | None:
    """The database's revision (None: no migrations applied yet)."""
    engine = make_engine(config)
    try:
        with engine.connect() as connection:
            return _revision(connection)
    except DBAPIError as e:
        raise unavailable(config, e) from None
    finally:
        engine.dispose()


def _revision(connection) -> str | None:
    from alembic.runtime.migration import MigrationContext
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(config: Config, revision: str = "head") -> str | None:
    """Upgrade the configured database to `revision`, in one transaction where the database
    allows (PostgreSQL); returns the revision it is at afterwards."""
    from alembic import command
    engine = make_engine(config)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
        with engine.connect() as connection:
            return _revision(connection)
    except DBAPIError as e:
        raise unavailable(config, e) from None
    finally:
        engine.dispose()
