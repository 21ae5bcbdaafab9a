"""Engine and sessions from the config (GRADER_DATABASE_URL): SQLite or PostgreSQL.

`session_scope(config)` is the one way in for the CLI, the worker and the web: one transaction,
committed on success and rolled back on any error; a database that cannot be reached, or has no
tables yet, comes out as `DatabaseUnavailable` (a SetupError naming GRADER_DATABASE_URL).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from ..config import Config, redact_url
from ..errors import ConfigError, DatabaseUnavailable
from ..private_paths import make_private, private_dir, private_file

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def database_url(config: Config) -> str:
    """The configured URL with the installed driver: plain postgresql:// (as compose writes it)
    means psycopg 3 here, not SQLAlchemy's default psycopg2."""
    url = config.database_url
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def make_engine(config: Config) -> Engine:
    """A new engine for the configured database (the caller disposes of it). SQLite gets foreign
    keys enforced, a busy timeout and WAL (a web and workers share the file); its folder is made
    (0700) and its files are private (0600)."""
    url_text = database_url(config)
    try:
        url = make_url(url_text)
        if url.get_backend_name() == "sqlite":
            path = None
            if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
                # password hashes and grades: private to the service's user (see _private_sqlite)
                path = Path(url.database).expanduser()
                private_dir(path.parent)
                private_file(path)
            engine = create_engine(url, connect_args={"timeout": 30})
            if path is not None:
                event.listen(engine, "connect", lambda *_: _private_sqlite(path))
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise ConfigError(f"GRADER_DATABASE_URL={redact_url(config.database_url)!r} cannot be used: {e}") from None
    except OSError as e:
        raise DatabaseUnavailable(f"cannot create the SQLite database (or its folder) at GRADER_DATABASE_URL="
                                  f"{redact_url(config.database_url)} ({e.strerror or e})") from None
    return engine


def _private_sqlite(path: Path) -> None:
    """On each new connection: the database file and its -wal, -shm and -journal files 0600.
    SQLite gives those the database file's mode when it makes them (the file is made 0600 before
    the first connection); this takes back what an older version left readable by others."""
    for name in ("", "-wal", "-shm", "-journal"):
        make_private(f"{path}{name}")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def get_engine(config: Config) -> Engine:
    """The process's shared engine for this URL (one connection pool per database)."""
    url = database_url(config)
    with _lock:
        if url not in _engines:
            _engines[url] = make_engine(config)
        return _engines[url]


def _forget_after_fork() -> None:
    """In a forked child (the worker's prefork pool): new lock, no inherited engines. The parent's
    pooled connections are dropped without closing them (closing would end the parent's sessions)."""
    global _lock
    _lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def dispose_engines() -> None:
    """Close every pooled connection (tests, or a worker after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(config: Config) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back when it raises."""
    session = sessionmaker(get_engine(config), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except DBAPIError as e:
        session.rollback()
        raise unavailable(config, e) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def unavailable(config: Config, error: DBAPIError) -> Exception:
    """A driver error as the operator's problem, in one line that names GRADER_DATABASE_URL; an
    error that is not about reaching or setting up the database comes back as it was."""
    url = redact_url(config.database_url)
    reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    if _missing_tables(error):
        return DatabaseUnavailable(f"the database at GRADER_DATABASE_URL={url} has no tables yet: "
                                   f"run `grader db upgrade` ({reason})")
    if isinstance(error, OperationalError) or error.connection_invalidated:
        return DatabaseUnavailable(f"cannot use the database at GRADER_DATABASE_URL={url}: {reason}")
    return error


def _missing_tables(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    return (isinstance(error, (OperationalError, ProgrammingError))
            and ("no such table" in text or ("relation" in text and "does not exist" in text)))
