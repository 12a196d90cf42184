"""A worker process killed (SIGKILL) in the middle of an upload: the client sees the
connection drop (never a 201), gunicorn's master starts a new worker, uploads work again;
`scrub --repair` removes what the dead worker left half-written, and nothing acknowledged
was lost."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.faults.vault_checks import MIB, Ledger
from tests.server.live import casefile_serve, multipart, read_response

pytestmark = pytest.mark.slow

DECLARED = 20 * MIB  # what the upload says it will send; it sends a fraction, slowly


def workers(master: int) -> set[int]:
    """The master's child processes (its workers)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def wait_for_new_worker(master: int, dead: int, url: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = workers(master) - {dead}
        if alive:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return alive.pop()
            except requests.ConnectionError:
                pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not start a new worker")


@pytest.fixture
def ledger(tmp_path: Path, fresh_database_url: str) -> Iterator[Ledger]:
    with casefile_serve(tmp_path, fresh_database_url, "--workers", "1") as live:
        yield Ledger(live)


def test_a_worker_killed_mid_upload_acknowledges_nothing_and_leaves_nothing(ledger):
    live = ledger.live
    assert ledger.upload(2 * MIB).status_code == 201
    (worker,) = workers(live.pid)

    head, tail, content_type = multipart({}, "interrupted.bin")
    sock = socket.create_connection(("127.0.0.1", live.port))
    try:
        sock.sendall(
            (
                f"POST /api/v1/cases/{live.case_id}/evidence HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: {live.token['Authorization']}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(head) + DECLARED + len(tail)}\r\n\r\n"
            ).encode()
            + head
        )
        for _ in range(12):  # 3 MiB over about a second: the blob is being written
            sock.sendall(os.urandom(MIB // 4))
            time.sleep(0.08)
        os.kill(worker, signal.SIGKILL)
        try:
            status, _ = read_response(sock, timeout=20)
        except ConnectionResetError:
            status = 0
    finally:
        sock.close()
    assert status == 0  # the connection dropped: no answer at all, certainly no 201

    replacement = wait_for_new_worker(live.pid, worker, live.url)
    assert replacement != worker
    assert ledger.upload(3 * MIB).status_code == 201
    # The dead worker's half-written blob is a leftover: scrub reports it, --repair removes it.
    found = ledger.cli("scrub", "--grace-minutes", "0")
    assert found.exit_code == 1, found.output
    ledger.assert_intact()
