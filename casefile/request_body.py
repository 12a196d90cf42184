"""A request's body is read only outside a database transaction.

A client decides how fast its body arrives: a slow or stalled upload must not hold the SQLite
write lock (every SQLite transaction here begins IMMEDIATE) or PostgreSQL row locks while the
server waits for it. Every read from the body therefore first ends the request's open
transaction (a commit: the objects already loaded, such as the actor, stay usable; they are
reloaded only when touched again in a later transaction)."""

from __future__ import annotations

from typing import IO, Any, cast

from werkzeug.exceptions import RequestTimeout

from casefile import request_scope


class TransactionFreeBody:
    """The request's input stream; every read happens with no transaction open."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        request_scope.end_transaction()
        try:
            return self._stream.read(size)
        except TimeoutError:  # the server's idle limit on a body read (casefile.server)
            raise RequestTimeout("the request body stopped arriving") from None

    def readline(self, size: int = -1, /) -> bytes:
        request_scope.end_transaction()
        try:
            return self._stream.readline(size)
        except TimeoutError:
            raise RequestTimeout("the request body stopped arriving") from None

    def readinto(self, buffer: Any, /) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __iter__(self) -> TransactionFreeBody:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def wrap(stream: IO[bytes]) -> IO[bytes]:
    return cast(IO[bytes], TransactionFreeBody(stream))
