"""Slow clients against the real embedded server (`casefile serve`, gunicorn): clients that
send their headers a byte at a time do not stop the server answering others, and a slow
upload body holds no database transaction (so no SQLite write lock) while it trickles in."""

from __future__ import annotations

import contextlib
import secrets
import socket
import sqlite3
import threading
import time

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.server.live import casefile_serve, multipart, read_response

HEADER_TIMEOUT = 3.0
BUSY_TIMEOUT_MS = 1000  # the served app's SQLite busy timeout; the slow body takes longer


@pytest.fixture
def live(tmp_path, fresh_database_url):
    config = f"[database]\nlock_timeout_ms = {BUSY_TIMEOUT_MS}\n"
    with casefile_serve(
        tmp_path, fresh_database_url, "--header-timeout", str(HEADER_TIMEOUT), config=config
    ) as live:
        yield live


class Trickle:
    """Sockets that send a request's headers a byte at a time, round robin, never finishing
    them, until stopped. Records when the server closed each."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.opened = time.monotonic()
        self.closed_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        line = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
        position = 0
        while not self._stop.is_set():
            for number, sock in enumerate(self.sockets):
                if number in self.closed_at:
                    continue
                try:
                    sock.sendall(line[position % len(line) : position % len(line) + 1])
                except OSError:
                    self.closed_at[number] = time.monotonic()
            position += 1
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def test_slow_header_clients_do_not_stop_the_server_answering_others(live):
    trickle = Trickle(live.port, 12)
    try:
        time.sleep(0.5)  # every slow socket has sent bytes: each holds a worker thread
        for _ in range(5):
            started = time.monotonic()
            response = requests.get(f"{live.url}/api/v1/openapi.json", timeout=10)
            assert response.status_code == 200
            assert time.monotonic() - started < 2.0
            me = requests.get(f"{live.url}/api/v1/me", headers=live.token, timeout=10)
            assert me.status_code == 200
        # Still sending a byte every 50 ms, yet cut off: the limit is on the whole header.
        deadline = trickle.opened + HEADER_TIMEOUT + 6
        for number, sock in enumerate(trickle.sockets):
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ConnectionResetError):  # closed with data unread: RST
                assert sock.recv(1024) == b"", "a slow header got an answer instead of a close"
            trickle.closed_at.setdefault(number, time.monotonic())
        assert max(trickle.closed_at.values()) - trickle.opened < HEADER_TIMEOUT + 6
    finally:
        trickle.stop()


def _open_transactions(database_url: str) -> int:
    """PostgreSQL: sessions of this database (other than ours) inside a transaction."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _write_lock_is_free(database_url: str) -> bool:
    """SQLite: can another connection take the write lock right now (without waiting)?"""
    connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return False
    else:
        return True
    finally:
        connection.close()


def _nothing_held(live) -> bool:
    if live.database_url.startswith("sqlite"):
        return _write_lock_is_free(live.database_url)
    return _open_transactions(live.database_url) == 0


def test_a_slow_upload_body_holds_no_transaction_while_others_upload(live):
    content = secrets.token_bytes(64 * 1024)
    head, tail, content_type = multipart(
        {"title": "Slow satellite upload", "collected_by": "Field team 2"}, "slow.bin"
    )
    body_length = len(head) + len(content) + len(tail)
    slow = socket.create_connection(("127.0.0.1", live.port))
    path = f"/api/v1/cases/{live.case_id}/evidence"
    slow.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {live.token['Authorization']}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {body_length}\r\n\r\n"
        ).encode()
        + head
    )
    pieces = [content[i : i + 2048] for i in range(0, len(content), 2048)]
    started = time.monotonic()
    others: list[int] = []
    held: list[bool] = []
    for number, piece in enumerate(pieces):  # 32 pieces, 0.1 s apart: > the busy timeout
        slow.sendall(piece)
        time.sleep(0.1)
        if number % 8 == 4:
            held.append(not _nothing_held(live))
            response = requests.post(
                f"{live.url}{path}",
                headers=live.token,
                files={"file": (f"other-{number}.txt", secrets.token_bytes(1000))},
                timeout=30,
            )
            others.append(response.status_code)
    assert time.monotonic() - started > 2 * BUSY_TIMEOUT_MS / 1000
    slow.sendall(tail)
    status, body = read_response(slow)
    slow.close()

    assert others == [201, 201, 201, 201]
    assert held == [False] * 4, "a transaction stayed open while the body streamed in"
    assert status == 201, body
    item = requests.get(f"{live.url}{path}", headers=live.token, timeout=10).json()["items"]
    assert "Slow satellite upload" in [entry["title"] for entry in item]


def test_a_stalled_tus_chunk_holds_no_transaction(live):
    created = requests.post(
        f"{live.url}/api/v1/cases/{live.case_id}/uploads",
        headers={**live.token, "Tus-Resumable": "1.0.0", "Upload-Length": "4096"},
        timeout=10,
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    slow = socket.create_connection(("127.0.0.1", live.port))
    slow.sendall(
        (
            f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {live.token['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
            "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
            "Content-Length: 4096\r\n\r\n"
        ).encode()
        + b"x" * 1024
    )
    time.sleep(1.5)
    assert _nothing_held(live)
    other = requests.post(
        f"{live.url}/api/v1/cases/{live.case_id}/evidence",
        headers=live.token,
        files={"file": ("meanwhile.txt", b"uploaded while a chunk stalls")},
        timeout=30,
    )
    assert other.status_code == 201
    slow.sendall(b"x" * 3072)
    status, _ = read_response(slow)
    slow.close()
    assert status == 204


@pytest.fixture
def impatient(tmp_path, fresh_database_url):
    with casefile_serve(tmp_path, fresh_database_url, "--body-idle-timeout", "2") as live:
        yield live, tmp_path / "storage"


def test_a_stalled_upload_body_is_answered_408_and_nothing_is_kept(impatient):
    live, storage = impatient
    head, _, content_type = multipart({"title": "Stalled"}, "stalled.bin")
    stalled = socket.create_connection(("127.0.0.1", live.port))
    stalled.sendall(
        (
            f"POST /api/v1/cases/{live.case_id}/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {live.token['Authorization']}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(head) + 2_000_000}\r\n\r\n"
        ).encode()
        + head
        + secrets.token_bytes(100_000)
    )
    started = time.monotonic()
    status, body = read_response(stalled, timeout=30)  # then nothing more is sent
    stalled.close()
    assert status == 408, body
    assert b'"request_timeout"' in body
    assert 1.5 < time.monotonic() - started < 15
    items = requests.get(
        f"{live.url}/api/v1/cases/{live.case_id}/evidence", headers=live.token, timeout=10
    ).json()["items"]
    assert items == []
    assert not [path for path in storage.rglob("*") if path.is_file()]  # no partial blob
