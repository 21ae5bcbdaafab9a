"""Alembic environment: the models' metadata, and the database of the grader's config.

`grader db upgrade` (grader/storage/migrate.py) hands over an open connection; the `alembic`
command line (`alembic -c alembic.ini upgrade head`, `alembic revision --autogenerate -m ...`)
connects to GRADER_DATABASE_URL (or the config's default) itself.
"""
from __future__ import annotations

from alembic import context

from grader.config import Config
from grader.storage.db import make_engine
from grader.storage.models import Base, UTCDateTime

target_metadata = Base.metadata


def render_item(kind, item, autogen_context):
    """Autogenerate writes the models' own column types as plain SQLAlchemy types, so a migration
    never imports the models (it must keep working when they change)."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",   # SQLite alters by copying
                      compare_type=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=Config.from_env().database_url, target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := context.config.attributes.get("connection")) is not None:
    run_migrations(connection)
else:
    engine = make_engine(Config.from_env())
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()
