"""No request holds a database transaction (SQLite's write lock, PostgreSQL locks) while it
reads its body from the client: checked on every read of the body, for the API's upload, the
web upload form (whose CSRF token is read before the view) and a tus chunk."""

from __future__ import annotations

import io
import sqlite3

import pytest
from sqlalchemy import create_engine, text

from casefile import create_app
from casefile.db import Database
from tests.api.test_evidence_api import multipart
from tests.factories import bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, csrf_token, sign_in


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


def transactions_open(database_url: str) -> bool:
    """Does any other connection hold a transaction (PostgreSQL) or the write lock (SQLite)?"""
    if database_url.startswith("sqlite"):
        probe = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
        return False
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return bool(count)


class Probe(io.RawIOBase):
    """A request body that, before handing out each piece, notes whether a transaction was
    open meanwhile (as if the client were slow just then)."""

    def __init__(self, body: bytes, database_url: str, piece: int = 4096) -> None:
        super().__init__()
        self._body = io.BytesIO(body)
        self._url = database_url
        self._piece = piece
        self.held: list[bool] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # Werkzeug's test client measures the body by seeking
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._body.seek(offset, whence)

    def tell(self) -> int:
        return self._body.tell()

    def readinto(self, buffer) -> int:
        data = self._body.read(min(len(buffer), self._piece))
        if data:
            self.held.append(transactions_open(self._url))
        buffer[: len(data)] = data
        return len(data)


@pytest.fixture
def live(settings, fresh_database_url):
    database = Database.from_url(fresh_database_url)
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        token = bearer(session, lead)
        case_id = case.id
    app = create_app(settings, database=database)
    yield app, case_id, token, fresh_database_url
    database.engine.dispose()


def post(client, path, probe: Probe, content_type: str, method: str = "POST", **headers):
    return client.open(
        path, method=method, input_stream=probe, content_type=content_type, headers=headers
    )


def test_the_api_upload_reads_its_body_outside_any_transaction(live):
    app, case_id, token, url = live
    body, content_type = multipart(
        {"title": "T"}, [("file", b"a.bin", b"x" * 40_000, "application/octet-stream")]
    )
    probe = Probe(body, url)
    response = post(
        app.test_client(),
        f"/api/v1/cases/{case_id}/evidence",
        probe,
        content_type,
        **token,
    )
    assert response.status_code == 201
    assert len(probe.held) >= 10
    assert not any(probe.held)


def test_the_web_upload_form_reads_its_body_outside_any_transaction(live):
    app, case_id, _, url = live
    client = app.test_client()
    sign_in(client, "lead@example.org")
    token = csrf_token(client, f"/cases/{case_id}/evidence")
    body, content_type = multipart(
        {"csrf_token": token, "collected_by": "K."},
        [("file", b"b.bin", b"y" * 40_000, "application/octet-stream")],
    )
    probe = Probe(body, url)
    response = post(client, f"/cases/{case_id}/evidence", probe, content_type)
    assert response.status_code == 303
    assert len(probe.held) >= 10
    assert not any(probe.held)


def test_a_tus_chunk_is_read_outside_any_transaction(live):
    app, case_id, token, url = live
    client = app.test_client()
    tus = {"Tus-Resumable": "1.0.0"}
    created = client.post(
        f"/api/v1/cases/{case_id}/uploads", headers={**token, **tus, "Upload-Length": "40000"}
    )
    assert created.status_code == 201
    probe = Probe(b"z" * 40_000, url)
    response = post(
        client,
        created.headers["Location"],
        probe,
        "application/offset+octet-stream",
        "PATCH",
        **token,
        **tus,
        **{"Upload-Offset": "0"},
    )
    assert response.status_code == 204
    assert not any(probe.held)
