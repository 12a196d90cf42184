"""Statements run on the driver's cursor store and read exactly what SQLAlchemy would."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import uuid

import pytest
from sqlalchemy import Enum, String, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from casefile import driver_statements
from casefile.logic.custody import log as custody_log
from casefile.logic.evidence import registration
from casefile.logic.search import index
from casefile.model import CustodyAction, CustodyEntry

ENTRIES = CustodyEntry.__table__


def row(seq, moment):
    return {
        "seq": seq,
        "time": moment,
        "actor_id": None,
        "actor_label": "operator ✓ ဗမာ",
        "action": CustodyAction.VIEWED,
        "case_id": None,
        "item_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "details": '{"n":1}',
        "leaf_hash": bytes(range(32)),
    }


def raw(connection, seq):
    return connection.execute(  # text() without column types: the values as stored
        text("SELECT seq, time, actor_id, actor_label, action, case_id, item_id, details, "
             "leaf_hash FROM custody_entries WHERE seq = :seq"), {"seq": seq}
    ).one()


@pytest.mark.parametrize("microsecond", [0, 123456])  # the driver's own adapter drops .000000
def test_written_bytes_equal_sqlalchemys(connection, microsecond):
    moment = dt.datetime(2026, 11, 27, 23, 5, 9, microsecond, tzinfo=dt.UTC)
    statement = insert(ENTRIES)
    connection.execute(statement, row(9_000_001, moment))
    driver_statements.execute(connection, statement, row(9_000_002, moment))
    assert raw(connection, 9_000_002)[1:] == raw(connection, 9_000_001)[1:]
    read = connection.execute(
        select(ENTRIES).where(ENTRIES.c.seq == 9_000_002)
    ).one()
    assert read.time == moment and read.action is CustodyAction.VIEWED


def test_results_are_converted_by_column_type(connection):
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    driver_statements.execute_many(
        connection, insert(ENTRIES), [row(9_000_003, moment), row(9_000_004, moment)]
    )
    rows = driver_statements.fetch_all(
        connection,
        "SELECT seq, time FROM custody_entries WHERE seq >= 9000003 ORDER BY seq",  # no params
        (None, ENTRIES.c.time.type),
    )
    assert rows == [(9_000_003, moment), (9_000_004, moment)]


def test_driver_errors_are_sqlalchemy_errors(connection):
    moment = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    driver_statements.execute(connection, insert(ENTRIES), row(9_000_005, moment))
    with pytest.raises(IntegrityError):  # as Connection.execute raises it
        driver_statements.execute(connection, insert(ENTRIES), row(9_000_005, moment))


class _Recording:
    """The driver's connection, handing out cursors that the test can look at afterwards."""

    def __init__(self, driver):
        self.driver = driver
        self.cursors = []

    def cursor(self):
        cursor = self.driver.cursor()
        self.cursors.append(cursor)
        return cursor


def closed(cursor):
    if hasattr(cursor, "closed"):  # psycopg
        return cursor.closed
    try:  # pysqlite has no flag: a closed cursor refuses to fetch
        cursor.fetchall()
    except sqlite3.ProgrammingError as error:
        return "closed cursor" in str(error)
    return False


def test_cursors_are_closed_after_use(connection, monkeypatch):
    moment = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    recording = _Recording(connection.connection.driver_connection)
    fairy = type(connection.connection)
    monkeypatch.setattr(fairy, "driver_connection", property(lambda _: recording))
    driver_statements.execute(connection, insert(ENTRIES), row(9_000_006, moment))
    driver_statements.execute_many(connection, insert(ENTRIES), [row(9_000_007, moment)])
    rows = driver_statements.fetch_all(
        connection, "SELECT seq FROM custody_entries WHERE seq >= 9000006 ORDER BY seq", (None,)
    )
    with pytest.raises(IntegrityError):
        driver_statements.execute(connection, insert(ENTRIES), row(9_000_006, moment))
    monkeypatch.undo()
    assert rows == [(9_000_006,), (9_000_007,)]
    assert len(recording.cursors) == 4
    assert [closed(cursor) for cursor in recording.cursors] == [True] * 4


def test_batched_postgresql_inserts_never_cast_text_to_a_bounded_width():
    """PostgreSQL's explicit cast to varchar(n) cuts a longer text without an error, where the
    INSERT into the column refuses it: the batched statements (one array parameter per
    column, rendered with a cast) send bounded strings as unbounded arrays, so a value too
    long for its column is refused, never stored cut (an Enum keeps its type: its bind step
    refuses any value not among its names)."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    enum_widths = {
        column.type.length
        for table in (ENTRIES, registration._ITEMS)
        for column in table.c
        if isinstance(column.type, Enum)
    }
    statements = (
        custody_log._PG_INSERT_ENTRIES_AND_NODES,
        registration._PG_INSERT_ITEMS,
        index._pg_put_new(),
    )
    for statement in statements:
        sql = str(statement.compile(dialect=dialect))
        widths = {int(width) for width in re.findall(r"::VARCHAR\((\d+)\)\[\]", sql)}
        assert widths <= enum_widths, sql
    assert str(driver_statements.array_of(String(400)).compile(dialect)) == "VARCHAR[]"
