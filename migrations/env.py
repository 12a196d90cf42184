"""Alembic environment: runs against a connection handed in by Casefile (tests, `casefile
init`), or against the URL from alembic.ini or the Casefile settings (the `alembic` CLI)."""

from __future__ import annotations

from alembic import context

import casefile.model  # noqa: F401 - registers every table on Base.metadata
from casefile.db import Base, make_engine
from casefile.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
