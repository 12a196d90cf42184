"""Background jobs through huey, a maintained task queue with both backends Casefile needs:
SqliteHuey, a file in the instance folder, for the default single-server instance (no other
service to run), and RedisHuey for several servers and `casefile worker` processes. The
job's state that people see (status, progress, result) is a row of the database
(logic/export/jobs.py); the queue only carries "run export X", so a job enqueued twice runs
once, and one lost (a crash between the row's commit and the enqueue) is enqueued again by
`recover` (when a consumer starts and every minute) once it has waited 2 minutes in `queued`
(export_jobs.REQUEUE_AFTER; the row's `enqueued_at` records each re-enqueue).

Consumers: a thread in each server process when `queue.embedded_consumer` (started by
`casefile serve` in each gunicorn worker, `start_embedded`), and `casefile worker`. Under
the test suite (settings.testing) jobs run at once, inside `enqueue` (huey's immediate mode);
tests of the real consumer build a `Jobs` with `immediate=False`."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, cast

from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from huey.serializer import SignedSerializer

from casefile import request_scope
from casefile.logic.export import jobs as export_jobs
from casefile.settings import Settings

log = logging.getLogger("casefile.jobs")
EXPORT_TASK = "casefile.export"
RECOVER_TASK = "casefile.exports.recover"


def _serializer(secret: str | bytes) -> SignedSerializer:
    """huey unpickles what it reads from the queue: every message is signed (HMAC) with a
    key derived from the app's secret key, so whoever can write to Redis (or the queue file)
    but does not hold that key cannot make a consumer unpickle their bytes."""
    key = secret.encode() if isinstance(secret, str) else secret
    derived = hmac.new(key, b"casefile: huey queue messages", hashlib.sha256).hexdigest()
    return SignedSerializer(secret=derived, salt="casefile-queue")


def make_huey(
    settings: Settings, *, secret: str | bytes, immediate: bool | None = None
) -> Huey:
    if immediate is None:
        immediate = settings.testing
    serializer = _serializer(secret)
    if settings.queue_backend == "redis":
        return RedisHuey("casefile", url=settings.queue_redis_url, immediate=immediate,
                         results=False, serializer=serializer)
    return SqliteHuey("casefile", filename=str(settings.queue_path), immediate=immediate,
                      results=False, serializer=serializer)


class _ThreadConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer, run from a thread that is not the main one: the server's process
    keeps its own signal handlers (gunicorn's)."""

    def _set_signal_handlers(self) -> None:
        pass


class Jobs:
    """The app's queue: enqueue an export, recover stopped ones, make consumers."""

    def __init__(self, app: Flask, make: Callable[[], Huey]) -> None:
        self.app = app
        self._make = make
        self._huey: Huey | None = None
        self._export: Any = None
        self._lock = threading.Lock()

    @property
    def huey(self) -> Huey:
        """Made on first use (SqliteHuey opens its file at once: commands that run no job
        never touch it)."""
        with self._lock:
            if self._huey is None:
                huey = self._make()
                self._export = huey.task(name=EXPORT_TASK)(self._run_export)
                huey.periodic_task(crontab(minute="*"), name=RECOVER_TASK)(self._recover_task)
                self._huey = huey
            return self._huey

    def enqueue_export(self, export_id: uuid.UUID) -> None:
        _ = self.huey  # the queue and its tasks, made on first use
        self._export(str(export_id))

    def _recover_task(self) -> None:
        self.recover()

    def _run_export(self, export_id: str) -> None:
        app = self.app
        with app.app_context():
            session = request_scope.database(app).sessions()
            try:
                export_jobs.run_export(
                    session,
                    uuid.UUID(export_id),
                    keys=request_scope.custody_keys(app),
                    keyring=request_scope.keyring(app),
                    store=request_scope.blobs(app),
                )
            finally:
                session.close()

    def recover(self, stale: dt.timedelta | None = None) -> list[uuid.UUID]:
        """Queue again the exports whose run stopped (`stale` of silence: by default the
        setting), and enqueue those and the queued ones that have waited
        export_jobs.REQUEUE_AFTER without running (a lost message), not every queued one
        every minute."""
        app = self.app
        settings = request_scope.settings(app)
        if stale is None:
            stale = dt.timedelta(minutes=settings.queue_stale_minutes)
        with app.app_context():
            session = request_scope.database(app).sessions()
            try:
                queued = export_jobs.recover(session, request_scope.blobs(app), stale=stale)
            finally:
                session.close()
        for export_id in queued:
            self.enqueue_export(export_id)
        return queued

    def queued_count(self) -> int:
        """How many exports are queued (waiting for a consumer) now."""
        app = self.app
        with app.app_context():
            session = request_scope.database(app).sessions()
            try:
                return export_jobs.queued_count(session)
            finally:
                session.close()

    def consumer(self, *, workers: int = 1, in_thread: bool = False) -> Consumer:
        kind = _ThreadConsumer if in_thread else Consumer
        return kind(self.huey, workers=workers, worker_type="thread", periodic=True,
                    initial_delay=0.1, max_delay=2.0)


def init_app(app: Flask, settings: Settings, *, immediate: bool | None = None) -> Jobs:
    def make() -> Huey:
        secret = app.secret_key or settings.secret_key
        if not secret:
            raise RuntimeError("the job queue needs the app's secret key: run `casefile init`")
        return make_huey(settings, secret=secret, immediate=immediate)

    jobs = Jobs(app, make)
    app.extensions["casefile.jobs"] = jobs
    return jobs


def jobs(app: Flask | None = None) -> Jobs:
    from flask import current_app  # noqa: PLC0415

    return cast(Jobs, (app or current_app).extensions["casefile.jobs"])


_embedded: dict[int, Any] = {}
_embedded_lock = threading.Lock()


def start_embedded(app: Flask, *, stale: dt.timedelta | None = None) -> Consumer | None:
    """In a server process (once): recover what a previous process left, then run a consumer
    thread, if the settings ask for one."""
    settings = request_scope.settings(app)
    if not settings.queue_embedded_consumer:
        return None
    with _embedded_lock:
        if id(app) in _embedded:
            return cast(Consumer, _embedded[id(app)])
        queue = jobs(app)
        consumer = queue.consumer(in_thread=True)
        consumer.start()
        _embedded[id(app)] = consumer
    try:
        queue.recover(stale)
    except Exception:
        log.exception("exports left by a stopped process could not be recovered now")
    return consumer


def stop_embedded(app: Flask) -> None:
    """The server process stops: its consumer takes no new job (one in hand ends with the
    process, and is found and run again by `recover`)."""
    with _embedded_lock:
        consumer = _embedded.pop(id(app), None)
    if consumer is not None:
        consumer.stop(graceful=False)
