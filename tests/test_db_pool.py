"""Pooled PostgreSQL connections: one that sat idle is tested before use, and a dead one is
replaced instead of failing the request that drew it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from casefile import db
from casefile.db import Database, make_engine
from casefile.logic.custody import log as custody_log
from casefile.model import CustodyAction


@pytest.fixture
def postgres_url(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite opens its file in process: there is no server to lose")
    return database_url


def backend_pid(connection):
    return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(url, pid):
    killer = make_engine(url)
    try:
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            connection.commit()
    finally:
        killer.dispose()


def test_an_idle_connection_lost_by_the_server_is_replaced(postgres_url, monkeypatch):
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            lost = backend_pid(connection)
        terminate(postgres_url, lost)  # as a server restart or a network timeout would
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle "long"
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 41 + 1")).scalar_one() == 42
            assert backend_pid(connection) != lost
    finally:
        engine.dispose()


def test_a_connection_reused_at_once_is_not_pinged(postgres_url, monkeypatch):
    # No round trip when a connection comes straight back: so a connection lost meanwhile
    # fails its first statement (nothing was written), and the pool then replaces every
    # connection it held before that moment.
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            pid = backend_pid(connection)
        terminate(postgres_url, pid)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
        with pytest.raises(DBAPIError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        with engine.connect() as connection:
            assert backend_pid(connection) != pid
    finally:
        engine.dispose()


def test_a_custody_append_on_a_lost_connection_fails_cleanly_and_the_next_works(
    fresh_database_url, monkeypatch
):
    # The append's first statements go to the driver directly: a lost connection must still
    # surface as SQLAlchemy's error, be invalidated (not handed out again), and the session
    # must close without a second error.
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("SQLite opens its file in process: there is no server to lose")
    postgres_url = fresh_database_url
    database = Database.from_url(postgres_url)
    try:
        with database.session() as session:
            pid = backend_pid(session.connection())
            session.commit()
        terminate(postgres_url, pid)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no ping to catch it
        with database.session() as session:
            with pytest.raises(DBAPIError) as caught:
                custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED)
            assert caught.value.connection_invalidated
        with database.session() as session:
            entry = custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED)
            session.commit()
            assert backend_pid(session.connection()) != pid
        assert entry.seq == 0
    finally:
        database.engine.dispose()
