"""Declarative base, shared column types, and the engine/session pair kept on the app."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, String, TypeDecorator, Uuid, create_engine
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker

from casefile.driver_statements import sqlalchemy_errors

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


UUIDPK = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=uuid.uuid4)]
Timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime, default=utcnow)]
OptionalTimestamp = Annotated[dt.datetime | None, mapped_column(UTCDateTime, nullable=True)]
ShortText = Annotated[str, mapped_column(String(200))]
JSONValue = Annotated[Any, mapped_column(JSON)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SNAPSHOT = "casefile_snapshot"  # execution option: a read-only snapshot transaction
# Execution option: SQLite begins the transaction DEFERRED (no write lock until it writes).
# Request sessions of GET and HEAD requests use it (Database.reads_first).
DEFERRED = "casefile_deferred"
_BINDS = "casefile.binds"  # session.info of a reads-first session: (reader, writer) engines


LOCK_TIMEOUT_MS = 30_000  # how long a statement waits for a lock another transaction holds


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Make pysqlite honour BEGIN/SAVEPOINT and foreign keys (SQLAlchemy's documented recipe)."""

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        # Freed pages are overwritten with zeros, so that deleted rows (a restricted item's
        # terms, a deleted item's metadata) do not linger in the file's free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reader (SNAPSHOT, or DEFERRED: a GET request's) begins deferred: its first read
        # fixes a snapshot of the write-ahead log for the whole transaction, and writers go
        # on meanwhile (and it does not wait for them). Others begin
        # IMMEDIATE, taking the write lock up front, so concurrent writers queue instead of
        # failing half-way; SQLite allows one writer at a time anyway. Straight to the driver:
        # every transaction pays for this, and SQLAlchemy's statement machinery would double
        # its cost (isolation_level=None: pysqlite adds no BEGIN of its own).
        options = connection.get_execution_options()
        deferred = options.get(SNAPSHOT) or options.get(DEFERRED)
        begin = "BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE"
        with sqlalchemy_errors(connection, begin):  # "database is locked" as SQLAlchemy's
            connection.connection.driver_connection.execute(begin)


def make_engine(url: str, *, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> Engine:
    """`lock_timeout_ms`: past it, a statement waiting for a lock fails (SQLite's busy
    timeout: "database is locked"; PostgreSQL's lock_timeout: lock_not_available), and a
    request is answered 503 (logic/retry.is_busy) instead of waiting on."""
    if url.startswith("sqlite"):
        # A small pool of long-lived connections: opening one per transaction re-reads the
        # schema and checkpoints the WAL each time (about as costly as the work itself).
        engine = create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=False)
        _configure_sqlite(engine, lock_timeout_ms)
        return engine
    engine = create_engine(url, connect_args={"options": f"-c lock_timeout={int(lock_timeout_ms)}"})
    _ping_idle_connections(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 5.0


def _ping_idle_connections(engine: Engine) -> None:
    """Test a pooled connection before use if it sat idle in the pool for a while.

    A connection idle for longer may have been closed by a database restart or a network
    timeout; a failed ping discards it and the pool hands out a fresh one (SQLAlchemy's
    "pessimistic" disconnect handling, as with pool_pre_ping). One reused within seconds is
    not pinged: pool_pre_ping's round trip on every checkout was a fifth of a custody append.
    If the server goes away between two quick uses, the statement fails, and SQLAlchemy
    replaces every connection the pool held before that moment.
    """

    @sa_event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa_event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()  # the ping began a transaction; leave none open
        except Exception as error:  # any failure means the connection is unusable
            raise sa_exc.DisconnectionError(f"a pooled connection was lost: {error}") from error


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_url(cls, url: str, *, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> Database:
        engine = make_engine(url, lock_timeout_ms=lock_timeout_ms)
        return cls(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))

    def reads_first(self, session: Session) -> Session:
        """Make `session` (new, bound to this database's engine) begin its transactions
        deferred on SQLite: a request that only reads (GET, HEAD) then never waits for, nor
        holds up, the write lock. Code that writes in such a session calls `begin_writing`
        first, so that its transaction takes the lock at BEGIN as every writer does.
        PostgreSQL takes no lock at BEGIN: nothing changes there."""
        if self.engine.dialect.name == "sqlite" and session.bind is self.engine:
            reader = self.engine.execution_options(**{DEFERRED: True})
            session.info[_BINDS] = (reader, self.engine)
            session.bind = reader
        return session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one unit of work outside a request (CLI commands, workers)."""
        with self.sessions() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only session that sees one consistent state of the database throughout,
        without holding up writers: PostgreSQL REPEATABLE READ READ ONLY; SQLite a deferred
        transaction (a snapshot of its write-ahead log) instead of BEGIN IMMEDIATE. For long
        reads that must not see half of a concurrent write, such as `custody verify`."""
        if self.engine.dialect.name == "postgresql":
            options: dict[str, Any] = {
                "isolation_level": "REPEATABLE READ",
                "postgresql_readonly": True,
            }
        else:
            options = {SNAPSHOT: True}
        with (
            self.engine.connect().execution_options(**options) as connection,
            self.sessions(bind=connection) as session,
        ):
            yield session
            session.rollback()


def begin_writing(session: Session) -> None:
    """The session's transactions take SQLite's write lock at BEGIN (BEGIN IMMEDIATE) from
    now on, until `end_writing`.

    For a reads-first session (Database.reads_first): the deferred transaction open now,
    which has read only, is ended first, so call this before changing anything. A deferred
    transaction can take the write lock later only if no other writer holds it and none
    committed since its first read; under load that fails at once ("database is locked"),
    where a transaction that began IMMEDIATE waits its turn. Any other session: nothing to do.
    """
    binds = session.info.get(_BINDS)
    if binds is None or session.bind is not binds[0]:
        return
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_writing must come before the changes it is for")
    if session.in_transaction():
        session.commit()  # a read: nothing to write, its loaded objects stay usable
    session.bind = binds[1]


def end_writing(session: Session) -> None:
    """A reads-first session that `begin_writing` made a writer reads first again, once its
    writing transaction has ended (committed or rolled back); otherwise nothing changes."""
    binds = session.info.get(_BINDS)
    if binds is not None and session.bind is binds[1] and not session.in_transaction():
        session.bind = binds[0]
