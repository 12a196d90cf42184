"""`casefile serve`: gunicorn with threaded workers, embedded.

Gunicorn hands the application the request body as it arrives on the socket, so an upload
streams straight into the intake pipeline. (Waitress, tried first, reads a whole body before
the application sees it and spills anything over its buffer to a temporary file: plaintext
evidence on disk, and memory or disk the size of the upload.)

Slow clients. Gunicorn's threaded worker gives a connection a thread once its first bytes
arrive and then reads the request headers on that thread with no time limit: ten clients
sending headers a byte at a time would hold ten threads for as long as they like. The worker
here (`CasefileWorker`) bounds that: the whole request line and headers must arrive within
`header_timeout` seconds, or the connection is closed; once the headers are in, each read of
the body may wait at most `body_idle_timeout` seconds for the next bytes (a stalled upload is
answered 408 and its partial blob dropped, however large the upload), and each write to the
client at most `send_timeout` seconds. With more threads than a handful of slow clients, the
server keeps answering everyone else. It cannot stop a flood of slow connections on its own:
production runs behind a buffering reverse proxy (docs/deploy.md)."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

HEADER_TIMEOUT = 10.0  # seconds for the request line and all headers
BODY_IDLE_TIMEOUT = 60.0  # seconds a body read may wait for the next bytes
SEND_TIMEOUT = 300.0  # seconds one write to the client may take (1 MiB: ≥ 3.5 KB/s)
KEEPALIVE = 5  # seconds an idle kept-alive connection stays open (no thread held meanwhile)
DEFAULT_THREADS = 32

OPTIONAL_SETTINGS = frozenset({"control_socket_disable"})  # newer gunicorn only

log = logging.getLogger("casefile.server")


class DeadlineSocket:
    """A client socket whose reads are bounded in time while a request is read: a deadline for
    the whole of its headers, then an idle timeout per read of its body. Past the header
    deadline a read returns b"" (to gunicorn's parser: the client went away), so the
    connection closes. Between requests it is a plain socket (gunicorn's own timeouts)."""

    def __init__(
        self, sock: socket.socket, header_timeout: float, body_idle_timeout: float
    ) -> None:
        self._sock = sock
        self._header_timeout = header_timeout
        self._body_idle_timeout = body_idle_timeout
        self._deadline: float | None = None
        self.phase = "off"  # off | headers | body

    def start_request(self) -> None:
        self._deadline = time.monotonic() + self._header_timeout
        self.phase = "headers"

    def start_body(self) -> None:
        self.phase = "body"

    def stop(self) -> None:
        self.phase = "off"

    def recv(self, size: int, *flags: int) -> bytes:
        if self.phase == "headers" and self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return self._too_slow()
            self._sock.settimeout(remaining)
            try:
                return self._sock.recv(size, *flags)
            except TimeoutError:
                return self._too_slow()
        if self.phase == "body":
            self._sock.settimeout(self._body_idle_timeout)
        return self._sock.recv(size, *flags)

    def _too_slow(self) -> bytes:
        log.warning(
            "closing a connection whose request headers took over %ss", self._header_timeout
        )
        self.stop()
        # Shut both ways now: gunicorn's graceful close would otherwise linger on the
        # worker's main loop, reading whatever the client still trickles in.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        return b""

    def sendall(self, data: Any, *flags: int) -> None:
        if self.phase != "off":
            self._sock.settimeout(SEND_TIMEOUT)
        self._sock.sendall(data, *flags)

    def send(self, data: Any, *flags: int) -> int:
        if self.phase != "off":
            self._sock.settimeout(SEND_TIMEOUT)
        return self._sock.send(data, *flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class CasefileWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker with time limits on reading requests (see the module)."""

    header_timeout = HEADER_TIMEOUT
    body_idle_timeout = BODY_IDLE_TIMEOUT

    def handle(self, conn: Any) -> Any:
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket(conn.sock, self.header_timeout, self.body_idle_timeout)
        # Each call reads one request (a new connection's first, a kept-alive one's next, or
        # a deferred one's once its first bytes arrive): its headers get the full allowance.
        conn.sock.start_request()
        try:
            return super().handle(conn)
        finally:
            conn.sock.stop()

    def handle_request(self, req: Any, conn: Any) -> Any:
        conn.sock.start_body()
        try:
            return super().handle_request(req, conn)
        finally:
            conn.sock.stop()  # draining an unread body after it is gunicorn's (time-bounded)


def bodies_end_at_content_length(app: Any) -> Any:
    """A WSGI app, told to hold a request body to its Content-Length (create_app applies it).

    gunicorn marks every request's input as terminated (`wsgi.input_terminated`), and Werkzeug
    then reads a body until the stream ends, whatever its Content-Length said: a body cut off
    by a client that went away reads as a complete, shorter one (a tus PATCH stored the part
    received as a chunk). Without the mark, a body with a Content-Length that ends early is a
    client that disconnected (Werkzeug's ClientDisconnected): nothing of it is kept. A chunked
    body (no Content-Length) keeps the mark: gunicorn ends it at its last chunk."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("CONTENT_LENGTH"):
            environ.pop("wsgi.input_terminated", None)
        return app(environ, start_response)

    return application


class CasefileServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in OPTIONAL_SETTINGS and key not in self.cfg.settings:
                continue  # an older gunicorn without the feature
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _jobs_hooks(app: Flask) -> dict[str, Any]:
    """Each worker process runs background jobs (filing exports) on a thread of its own when
    `queue.embedded_consumer` (casefile.jobs); a worker that stops leaves its job to
    `recover` (the next consumer's start, or the queue's minutely check)."""

    def post_worker_init(_worker: Any) -> None:
        from casefile import jobs  # noqa: PLC0415 - the app is built; jobs need it

        jobs.start_embedded(app)

    def worker_exit(_server: Any, _worker: Any) -> None:
        from casefile import jobs  # noqa: PLC0415

        jobs.stop_embedded(app)

    return {"post_worker_init": post_worker_init, "worker_exit": worker_exit}


def worker_class(header_timeout: float, body_idle_timeout: float) -> type[CasefileWorker]:
    limits = {"header_timeout": header_timeout, "body_idle_timeout": body_idle_timeout}
    return type("CasefileWorker", (CasefileWorker,), limits)


def serve(
    app: Flask,
    *,
    host: str,
    port: int,
    workers: int = 1,
    threads: int = DEFAULT_THREADS,
    header_timeout: float = HEADER_TIMEOUT,
    body_idle_timeout: float = BODY_IDLE_TIMEOUT,
) -> None:
    CasefileServer(
        app,
        {
            "bind": f"{host}:{port}",
            # One process by default (SQLite has a single writer anyway); with PostgreSQL,
            # several use more cores. The master restarts a worker that dies.
            "workers": workers,
            "worker_class": worker_class(header_timeout, body_idle_timeout),
            "threads": threads,
            "worker_connections": 1000,  # open connections; idle ones hold no thread
            "keepalive": KEEPALIVE,
            # The arbiter restarts a worker only if its main loop stops answering
            # altogether; slow requests are bounded by the socket limits above instead.
            "timeout": 120,
            "graceful_timeout": 30,
            "limit_request_line": 8190,
            "limit_request_fields": 100,
            "limit_request_field_size": 8190,
            "accesslog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "forwarded_allow_ips": "127.0.0.1",
            # No control socket ($HOME/.gunicorn/gunicorn.ctl): nothing but the process's
            # signals may reload or stop it, and two instances on one host do not collide.
            "control_socket_disable": True,
            **_jobs_hooks(app),
        },
    ).run()
