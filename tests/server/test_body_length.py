"""A body that ends before its Content-Length is a client that went away, on the server that
ships: gunicorn marks every body terminated, and Werkzeug then reads to the end of the stream
whatever Content-Length said (casefile.server.bodies_end_at_content_length). End to end: a tus
PATCH cut off mid-body stores nothing (tests/api/test_tus.py)."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, request
from werkzeug.test import EnvironBuilder

from casefile.server import bodies_end_at_content_length


def echo_app() -> Flask:
    app = Flask(__name__)

    @app.post("/")
    def echo() -> str:
        return f"read {len(request.get_data())} bytes"

    return app


def call(app: Any, body: bytes, headers: dict[str, str]) -> tuple[str, bytes]:
    """Call `app` as gunicorn would: the body stream marked terminated."""
    environ = EnvironBuilder(method="POST", path="/", headers=headers).get_environ()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True
    environ.pop("CONTENT_LENGTH", None)
    if "Content-Length" in headers:
        environ["CONTENT_LENGTH"] = headers["Content-Length"]
    answered: list[str] = []
    chunks = app(environ, lambda status, _headers, *_: answered.append(status))
    return answered[0], b"".join(chunks)


def test_a_body_shorter_than_its_content_length_is_a_client_that_went_away():
    app = echo_app()
    # What gunicorn alone hands Werkzeug: the 3 bytes that came read as the whole body.
    assert call(app, b"abc", {"Content-Length": "10"}) == ("200 OK", b"read 3 bytes")
    status, _ = call(bodies_end_at_content_length(app), b"abc", {"Content-Length": "10"})
    assert status.startswith("400")  # Werkzeug's ClientDisconnected: nothing to keep


def test_whole_and_chunked_bodies_read_as_before():
    app = bodies_end_at_content_length(echo_app())
    assert call(app, b"0123456789", {"Content-Length": "10"}) == ("200 OK", b"read 10 bytes")
    # No Content-Length (chunked: gunicorn ends the stream at the last chunk): read to its end.
    chunked = {"Transfer-Encoding": "chunked"}
    assert call(app, b"0123456789", chunked) == ("200 OK", b"read 10 bytes")
