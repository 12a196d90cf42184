"""Transparent retries of a transaction the database aborted for a lock conflict.

Every writing transaction follows one lock order (docs/custody.md, "Lock order"), so
Casefile's own transactions do not deadlock each other. What can still abort one (a
deadlock with something outside that order, a serialization failure, SQLite's write lock
not coming free in time) is replayed from its start a bounded number of times, with a
jittered pause; if it still fails, the caller gets `Busy` (HTTP 503 with Retry-After, or a
one-line CLI message). A replay is safe because the aborted attempt left nothing behind: the
database rolled it back, and a custody entry is written inside the transaction it records.

Wrap only a unit that starts and ends one transaction and does nothing outside the database
before its commit that a replay would repeat wrongly: never a function that reads a request
body (the bytes are gone) or one that calls other wrapped functions (retries would multiply).
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casefile import db
from casefile.logic.errors import Busy

log = logging.getLogger("casefile")

P = ParamSpec("P")
T = TypeVar("T")

ATTEMPTS = 3  # the first and two replays
PAUSE_SECONDS = 0.05  # before the first replay, at most; doubled before each next one
# PostgreSQL SQLSTATEs of a transaction aborted for a conflict with another: deadlock_detected
# and serialization_failure (class 40, "transaction rollback": safe to run again).
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


# A busy database: another transaction held what a statement needed for longer than it may
# wait, or aborted it. The request did nothing wrong and may be sent again: 503, never 500.
# PostgreSQL: lock_not_available (55P03, lock_timeout) and the two above; SQLite: SQLITE_BUSY
# ("database is locked", after the busy timeout) or SQLITE_LOCKED.
BUSY_SQLSTATES = TRANSIENT_SQLSTATES | {"55P03"}
SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def is_busy(error: BaseException) -> bool:
    """Whether `error` (as SQLAlchemy raises it) means "busy, try again later"."""
    if not isinstance(error, DBAPIError):
        return False
    if is_transient(error):
        return True
    driver_error = error.orig
    sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in SQLITE_BUSY  # extended codes keep the primary in the low byte
    return getattr(driver_error, "sqlstate", None) in BUSY_SQLSTATES


def is_transient(error: BaseException) -> bool:
    """Whether the database aborted the transaction for a conflict that a replay may not
    meet again (not a lost connection, a constraint or a bug)."""
    if not isinstance(error, DBAPIError) or error.connection_invalidated:
        return False
    cause = error.orig
    if getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return isinstance(cause, sqlite3.OperationalError) and "database is locked" in str(cause)


def run(session: Session, work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """`work()`, replayed after a rollback if the database aborts it for a conflict."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as error:
            if not is_transient(error):
                raise
            session.rollback()
            # A reads-first session (a GET request's, on SQLite) that failed to take the write
            # lock part-way: the replay takes it at BEGIN, and waits its turn for it.
            db.begin_writing(session)
            reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
            if attempt == attempts:
                log.warning("transaction aborted %d times, giving up: %s", attempts, reason)
                raise Busy from error
            log.info(
                "transaction aborted (attempt %d of %d), replaying: %s", attempt, attempts, reason
            )
            time.sleep(random.uniform(0, PAUSE_SECONDS * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")  # the loop returns or raises


def transaction(
    function: Callable[Concatenate[Session, P], T],
) -> Callable[Concatenate[Session, P], T]:
    """A logic function taking its session first, run with `run`."""

    @functools.wraps(function)
    def replayed(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return run(session, lambda: function(session, *args, **kwargs))

    return replayed
