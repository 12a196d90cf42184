"""Migrations upgrade instances that hold data, not only empty ones."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic import command
from sqlalchemy import MetaData, create_engine, func, inspect, select

import casefile.model  # noqa: F401 - registers every table
from casefile import schema
from casefile.db import Base
from tests.conftest import create_database

BEFORE_SHARED_CONTENT = "1e75cb9b9107"  # the last revision of 2026-11-27


@pytest.fixture
def old_database(database_url, tmp_path):
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    yield from create_database_at(backend, tmp_path, BEFORE_SHARED_CONTENT)


def create_database_at(backend, folder, revision):
    """A fresh database (conftest's), taken back to `revision`: empty, so it can go back."""
    for url in create_database(backend, folder):
        engine = create_engine(url)
        with engine.begin() as connection:
            command.downgrade(schema.alembic_config(connection=connection), revision)
        engine.dispose()
        yield url


def python_type(column_type) -> type:
    for candidate in (column_type, getattr(column_type, "impl", None)):
        try:
            if candidate.python_type is not object:  # a TypeDecorator's is object
                return candidate.python_type
        except (NotImplementedError, AttributeError):
            continue
    return object


def insert(connection, old: MetaData, name: str, **given):
    """A row as the old schema holds it: the given values, and a plausible one for every
    other required column; bound through today's model (its column types), old columns only."""
    now = dt.datetime.now(dt.UTC)
    model = Base.metadata.tables[name]
    row = dict(given)
    for column in old.tables[name].columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if any(key.column.table.name == "users" for key in column.foreign_keys):
            row[column.name] = given["by"]
            continue
        kind = python_type(model.columns[column.name].type)
        row[column.name] = {uuid.UUID: uuid.uuid4(), str: "x", int: 1, bool: False,
                            dt.datetime: now, bytes: b"x", dict: {}, list: []}.get(kind, "x")
    row.pop("by")
    connection.execute(model.insert().values(
        {key: value for key, value in row.items() if key in old.tables[name].columns}))


def test_an_instance_with_restricted_items_and_grants_upgrades(old_database):
    engine = create_engine(old_database)
    old = MetaData()
    old.reflect(engine)
    user, case, item = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        insert(connection, old, "users", id=user, email="lead@example.org", by=None)
        insert(connection, old, "cases", id=case, forum="icc", ern_pattern="X-{seq:04d}",
               languages=["en"], by=user)
        insert(connection, old, "case_members", case_id=case, user_id=user, role="lead", by=user)
        insert(connection, old, "evidence", id=item, case_id=case, sensitivity="restricted",
               status="active", by=user)
        insert(connection, old, "evidence_grants", evidence_id=item, user_id=user, by=user)
    with engine.begin() as connection:
        schema.upgrade(connection)
    with engine.connect() as connection:
        assert "content_id" in {c["name"] for c in inspect(connection).get_columns("evidence")}
        grants = connection.scalar(
            select(func.count()).select_from(Base.metadata.tables["evidence_grants"]))
        assert grants == 1
        schema.check(connection)
    engine.dispose()


BEFORE_PURGED_EXPORTS = "f3b8d6a2c1e9"  # exports with age recipients, before `purged`


@pytest.fixture
def database_before_purged(database_url, tmp_path):
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    yield from create_database_at(backend, tmp_path, BEFORE_PURGED_EXPORTS)


def test_stored_exports_keep_their_rows_when_the_purged_status_arrives(database_before_purged):
    """The revision that allows `purged` copies the exports table on SQLite (a CHECK
    constraint cannot be altered there): every export, its blob and its key must survive."""
    engine = create_engine(database_before_purged)
    old = MetaData()
    old.reflect(engine)
    user, case, filing, export = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        insert(connection, old, "users", id=user, email="lead@example.org", by=None)
        insert(connection, old, "cases", id=case, forum="icc", ern_pattern="X-{seq:04d}",
               languages=["en"], by=user)
        insert(connection, old, "filings", id=filing, case_id=case, type="list_of_evidence",
               status="draft", classification="public", by=user)
        insert(connection, old, "exports", id=export, filing_id=filing, case_id=case,
               status="done", blob_id="b" * 64, wrapped_key=b"wrapped data key",
               age_recipients='["age1example"]', by=user)
    with engine.begin() as connection:
        schema.upgrade(connection)
    exports = Base.metadata.tables["exports"]
    with engine.connect() as connection:
        row = connection.execute(select(exports).where(exports.c.id == export)).one()
        assert (row.status, row.blob_id, row.wrapped_key, row.age_recipients) == (
            "done", "b" * 64, b"wrapped data key", '["age1example"]')
        schema.check(connection)
    engine.dispose()
