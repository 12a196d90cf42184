"""`casefile serve`: gunicorn with threaded workers, embedded.

Gunicorn hands the application the request body as it arrives on the socket, so an upload
streams straight into the intake pipeline. (Waitress, tried first, reads a whole body before
the application sees it and spills anything over its buffer to a temporary file: plaintext
evidence on disk, and memory or disk the size of the upload.)"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class CasefileServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve(app: Flask, *, host: str, port: int, threads: int) -> None:
    CasefileServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": 1,  # one process: SQLite's single writer; scale out with PostgreSQL
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 300,  # a worker is only restarted if it stops answering altogether
            "graceful_timeout": 30,
            "accesslog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "forwarded_allow_ips": "127.0.0.1",
        },
    ).run()
