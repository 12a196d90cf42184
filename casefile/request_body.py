"""A request's body is read only outside a database transaction.

A client decides how fast its body arrives: a slow or stalled upload must not hold the SQLite
write lock (a writing SQLite transaction begins IMMEDIATE) or PostgreSQL row locks while the
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
        return self._stream.read(size)

    def readline(self, size: int = -1, /) -> bytes:
        request_scope.end_transaction()
        return self._stream.readline(size)

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


STALLED = "the request body stopped arriving"


class StallAware:
    """The server's raw input stream (WSGI `wsgi.input`), with a read that times out (the
    embedded server's idle limit on a body, casefile.server) raised as 408 Request Timeout.
    It sits below Werkzeug's LimitedStream, which would report any OSError as a client that
    disconnected (400)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, *size: int) -> bytes:
        try:
            return bytes(self._stream.read(*size))
        except TimeoutError:
            raise RequestTimeout(STALLED) from None

    def readline(self, *size: int) -> bytes:
        try:
            return bytes(self._stream.readline(*size))
        except TimeoutError:
            raise RequestTimeout(STALLED) from None

    def __iter__(self) -> StallAware:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> Any:  # anything else, e.g. readinto when it exists
        if name == "readinto":
            readinto = self._stream.readinto

            def guarded(buffer: Any) -> Any:
                try:
                    return readinto(buffer)
                except TimeoutError:
                    raise RequestTimeout(STALLED) from None

            return guarded
        return getattr(self._stream, name)
