"""A busy database: the error a statement raises when another transaction holds what it needs
for longer than it may wait. Such a request did nothing wrong and may simply be sent again, so
it is answered 503 with Retry-After (JSON code `busy`), never 500.

SQLite: SQLITE_BUSY ("database is locked", after the busy timeout) or SQLITE_LOCKED.
PostgreSQL: lock_not_available (55P03, lock_timeout), serialization_failure (40001),
deadlock_detected (40P01)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

RETRY_AFTER_SECONDS = 2
POSTGRES_BUSY = frozenset({"55P03", "40001", "40P01"})
SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
MESSAGE = "the database is busy; send the request again in a moment"


def is_busy(error: BaseException) -> bool:
    """Whether `error` (as SQLAlchemy raises it) means "busy, try again"."""
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    driver_error = error.orig
    sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in SQLITE_BUSY  # extended codes keep the primary in the low byte
    return getattr(driver_error, "sqlstate", None) in POSTGRES_BUSY
