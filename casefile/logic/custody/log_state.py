"""The custody log's lock and the state an append starts from.

Appends are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: every
transaction is BEGIN IMMEDIATE), so sequence numbers are gapless and the Merkle tree is well
defined. Taking the lock reads the log's size, its latest checkpoint and its frontier in one
round trip; the transaction that holds the lock keeps that state up to date (`LogState`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    column,
    func,
    literal_column,
    select,
    values,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session, SessionTransaction

from casefile import driver_statements
from casefile.db import Base
from casefile.model import CustodyCheckpoint, CustodyEntry, CustodyNode
from casefile.verifier import merkle

ADVISORY_LOCK_KEY = 0x63617365_66696C65  # "casefile"


def _lock_and_read_head(connection: Connection) -> list[Any]:
    """PostgreSQL: take the log's lock, then read its head, in one round trip.

    The two statements are pipelined on the psycopg connection (with the BEGIN psycopg sends
    first, if the transaction has not begun): the server still runs them one after the
    other, and under READ COMMITTED the head read takes its snapshot once the lock is held,
    so it sees every append committed before. Its results are converted as SQLAlchemy would.
    """
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"custody appends on PostgreSQL need psycopg 3, not {type(driver)!r}")
    with driver_statements.sqlalchemy_errors(connection, _LOCK_SQL), driver.cursor() as cursor:
        with driver.pipeline():
            cursor.execute(_LOCK_SQL, (ADVISORY_LOCK_KEY,))
            cursor.execute(_head_sql(connection.dialect))
        rows = cursor.fetchall()
    return [
        (
            size,
            checkpoint_size,
            None if time is None else time.astimezone(dt.UTC),  # as UTCDateTime gives it
            level,
            digest if digest is None else bytes(digest),
        )
        for size, checkpoint_size, time, level, digest in rows
    ]


# The head is read once per transaction, so its statement is built once, in Core.
_ENTRIES = Base.metadata.tables[CustodyEntry.__tablename__]
_NODES = Base.metadata.tables[CustodyNode.__tablename__]
_CHECKPOINTS = Base.metadata.tables[CustodyCheckpoint.__tablename__]
_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
_ONE = literal_column("1", BigInteger)  # constants written into the statement: no parameters
_MAX_LEVEL = 63  # sequence numbers are BIGINT: a log never has 2**63 entries
_HEAD = select(
    # max() alone in its own SELECT: both databases answer it from the end of the index
    func.coalesce(
        select(func.max(_ENTRIES.c.seq)).scalar_subquery() + _ONE, literal_column("0")
    ).label("size")
).cte("head")
_LEVELS = (
    values(column("level", Integer), name="levels", literal_binds=True)
    .data([(level,) for level in range(_MAX_LEVEL)])
    .cte("levels")
)  # a named WITH clause: SQLite has no column list on a VALUES alias


def _shifted(size: Any, level: Any) -> Any:
    return size.op(">>", return_type=BigInteger)(level)


# The log's size, its latest checkpoint and the frontier (one perfect subtree per bit set in
# the size: at `level`, the node `(size >> level) - 1`) in one statement: an append reads its
# whole starting state in one round trip. Each node is a correlated lookup by primary key.
_HEAD_STATE = (
    select(
        _HEAD.c.size,
        *(
            select(column).order_by(_CHECKPOINTS.c.size.desc()).limit(_ONE).scalar_subquery()
            for column in (_CHECKPOINTS.c.size, _CHECKPOINTS.c.time)
        ),
        _LEVELS.c.level,
        select(_NODES.c.hash)
        .where(
            _NODES.c.level == _LEVELS.c.level,
            _NODES.c.index == _shifted(_HEAD.c.size, _LEVELS.c.level) - _ONE,
        )
        .scalar_subquery(),
    )
    .select_from(
        _HEAD.outerjoin(
            _LEVELS,
            _shifted(_HEAD.c.size, _LEVELS.c.level).op("&", return_type=BigInteger)(_ONE) == _ONE,
        )
    )
    .order_by(_LEVELS.c.level.desc())
)


@functools.cache
def _head_sql(dialect: Dialect) -> str:
    """_HEAD_STATE compiled once per dialect: SQLAlchemy cannot cache a statement with a
    literal VALUES list, and compiling it again costs 40 times what running it does."""
    return str(_HEAD_STATE.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


_HEAD_TYPES = (BigInteger(), BigInteger(), _CHECKPOINTS.c.time.type, Integer(), LargeBinary())


_STATE = "casefile.custody_state"


@dataclass
class LogState:
    """The log's size, frontier and latest checkpoint as the current transaction sees them.

    Appends and checkpoints hold the log's lock until their transaction ends, so only this
    transaction changes these meanwhile, and it keeps them up to date. The state is kept in
    session.info for as long as the transaction (or savepoint) that read it is the session's
    innermost one: a new transaction, or any savepoint begun, released or rolled back since,
    reads it again.
    """

    transaction: SessionTransaction
    tree: merkle.CompactRange
    checkpoint: tuple[int, dt.datetime] | None  # (size, time) of the latest one


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def held(session: Session) -> LogState | None:
    """The log's state if this transaction holds its lock already (pending rows flushed)."""
    state = session.info.get(_STATE)
    if isinstance(state, LogState) and state.transaction is _innermost(session):
        session.flush()
        return state
    return None


def take_lock(session: Session) -> LogState:
    """Take the log's lock (if this transaction does not hold it yet) and return its state."""
    state = held(session)
    if state is not None:
        return state
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = _lock_and_read_head(connection)
    else:  # BEGIN IMMEDIATE holds the database's one write lock already
        rows = driver_statements.fetch_all(connection, _head_sql(connection.dialect), _HEAD_TYPES)
    session.flush()  # the action's own pending rows; the head read touches custody tables only
    size, checkpoint_size, checkpoint_time = rows[0][:3]
    frontier = [digest for *_, level, digest in rows if level is not None]
    if len(frontier) != size.bit_count() or None in frontier:
        missing = [level for *_, level, digest in rows if level is not None and digest is None]
        raise RuntimeError(
            f"custody tree nodes missing at levels {missing}; run `casefile custody verify`"
        )
    tree = merkle.CompactRange.from_frontier(size, frontier)
    checkpoint = None if checkpoint_size is None else (checkpoint_size, checkpoint_time)
    transaction = _innermost(session)
    if transaction is None:  # the queries above began one
        raise RuntimeError("no transaction after querying the custody log")
    state = LogState(transaction, tree, checkpoint)
    session.info[_STATE] = state
    return state


def forget(session: Session) -> None:
    """Drop the kept state: the next append reads it again (after a failed append)."""
    session.info.pop(_STATE, None)
