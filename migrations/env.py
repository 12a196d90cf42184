"""Alembic environment: runs against a connection handed in by Casefile (tests, `casefile
init`), or against the URL from alembic.ini or the Casefile settings (the `alembic` CLI)."""

from __future__ import annotations

from alembic import context

import casefile.model  # noqa: F401 - registers every table on Base.metadata
from casefile.db import Base, make_engine
from casefile.settings import load_settings

config = context.config
target_metadata = Base.metadata

# What the search index keeps outside the models, per engine (migrations/versions/*_search_index):
# SQLite's FTS5 table (and the shadow tables FTS5 makes for it); PostgreSQL's generated tsvector
# column and its index.
ENGINE_SEARCH_OBJECTS = ("search_fts", "ix_search_bodies_body_tsv", "body_tsv")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    del obj, reflected, compare_to
    if type_ in ("table", "index", "column") and name is not None:
        return not name.startswith(ENGINE_SEARCH_OBJECTS)
    return True


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
        include_object=include_object,
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
