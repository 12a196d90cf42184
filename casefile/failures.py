"""What an unexpected exception means for the client: a dependency that failed, not a bug.

A request can fail because something outside Casefile is down or full: the database server
went away (restarted, a connection cut), the blob store's file system is full, the S3
endpoint cannot be reached. None of these is the client's fault or a bug, and none of them
stored anything: the transaction was rolled back, the blob writer aborted. The client gets a
clear answer it can act on instead of a 500:

- the database unreachable, the S3 endpoint unreachable, or the shared store of sign-in
  attempt counters (Redis) unreachable: send the same request again later (HTTP 503
  `unavailable` with Retry-After). Sign-in fails closed: with no counter to check, nobody is
  let in unthrottled;
- the blob store's file system full (ENOSPC, or a quota, EDQUOT): an operator must free
  space first; sending it again right away will not help (HTTP 507 `storage_full`).

Here a failure is only named and explained; its HTTP answer is in casefile/errors.py
(`FAILURE_ANSWERS`), its CLI line is its message.

`classify` walks the exception's chain (`raise ... from`, and the exception being handled
when it was raised), so a driver error wrapped by SQLAlchemy or a botocore error wrapped in
`BlobStoreError` is still recognised. HTTP and the CLI both use it (casefile/errors.py,
casefile/cli.py)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# PostgreSQL SQLSTATE classes of a lost server: 08 connection exception, 57P operator
# intervention (admin_shutdown 57P01, crash_shutdown 57P02, cannot_connect_now 57P03).
LOST_SQLSTATE_PREFIXES = ("08", "57P")


@dataclass(frozen=True)
class Failure:
    """A dependency that failed: `name` for logs, `message` for the person who sent it."""

    name: str
    message: str


DATABASE_UNAVAILABLE = Failure(
    "database_unavailable",
    "the database cannot be reached right now; nothing was changed; try again in a moment",
)
STORAGE_UNAVAILABLE = Failure(
    "storage_unavailable",
    "the evidence store cannot be reached right now; nothing was stored; try again later",
)
THROTTLE_UNAVAILABLE = Failure(
    "throttle_unavailable",
    "the counter of sign-in attempts cannot be reached right now; nobody was signed in; "
    "try again in a moment",
)
STORAGE_FULL = Failure(
    "storage_full",
    "the evidence store is out of space; nothing was stored; an administrator must free space",
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _database_lost(error: BaseException) -> bool:
    if isinstance(error, DisconnectionError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    import psycopg  # noqa: PLC0415 - the PostgreSQL driver, loaded only when it is used

    driver_error = error.orig
    if not isinstance(driver_error, psycopg.OperationalError):
        return False  # SQLite has no server to lose: its errors are busy, or bugs
    sqlstate = getattr(driver_error, "sqlstate", None)
    # No SQLSTATE: the client library itself lost the server (connection refused, closed).
    return sqlstate is None or sqlstate.startswith(LOST_SQLSTATE_PREFIXES)


def classify(error: BaseException) -> Failure | None:
    """The failure `error` stands for, or None if it is not one of these (a bug: 500)."""
    for link in _chain(error):
        if isinstance(link, OSError) and link.errno in FULL_ERRNOS:
            return STORAGE_FULL
        if isinstance(link, BotoConnectionError | HTTPClientError):
            return STORAGE_UNAVAILABLE
        if _database_lost(link):
            return DATABASE_UNAVAILABLE
        if isinstance(link, RedisConnectionError | RedisTimeoutError):
            return THROTTLE_UNAVAILABLE
    return None
