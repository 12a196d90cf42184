"""PostgreSQL restarted while clients upload and list: every answer is a success or a clear
503 (never a 500 for a lost connection), uploads succeed again once it is back (the pool
drops its dead connections instead of failing request after request), and nothing
acknowledged was lost.

The shared PostgreSQL other tests use is never restarted: the test runs a private cluster
of its own (initdb into a temporary folder, on a free port, as the `postgres` system user
because initdb refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from tests.faults.vault_checks import MIB, Ledger
from tests.server.live import casefile_serve, free_port

pytestmark = pytest.mark.slow

WORKERS = 2
BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class PrivateCluster:
    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.bin_dir = bin_dir
        self.port = free_port()
        self.log = folder / "postgres.log"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stderr}{done.stdout}{tail}")

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", action, *extra,
        )  # fmt: skip

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "-A", "trust", "--no-sync",
        )  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    if not BIN_DIRS or not (BIN_DIRS[0] / "initdb").exists():
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed here")
    folder = Path(tempfile.mkdtemp(prefix="casefile-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = PrivateCluster(folder, BIN_DIRS[0])
    try:
        cluster.init()
        cluster.pg_ctl("start")
        try:
            yield cluster
        finally:
            cluster.pg_ctl("stop", "-m", "immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ledger(tmp_path: Path, cluster: PrivateCluster) -> Iterator[Ledger]:
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:
        connection.execute("CREATE DATABASE casefile")
    url = cluster.url("casefile").replace("postgresql://", "postgresql+psycopg://", 1)
    with casefile_serve(tmp_path, url, "--workers", str(WORKERS)) as live:
        yield Ledger(live)


class Clients:
    """A few threads uploading and listing until stopped; every answer counted."""

    def __init__(self, ledger: Ledger, count: int) -> None:
        self.ledger = ledger
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(count)]
        for thread in self.threads:
            thread.start()

    def _run(self, number: int) -> None:
        live = self.ledger.live
        while not self.stop.is_set():
            if number % 2:
                response = self.ledger.upload(MIB)
            else:
                response = requests.get(
                    f"{live.url}/api/v1/cases/{live.case_id}/evidence",
                    headers=live.token,
                    timeout=60,
                )
            with self.lock:
                self.statuses[response.status_code] += 1
                if response.status_code >= 500:
                    self.codes[response.json()["error"]["code"]] += 1

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)


def test_a_postgresql_restart_gives_503_not_500_and_loses_nothing(ledger, cluster):
    assert ledger.upload(2 * MIB).status_code == 201
    clients = Clients(ledger, 4)
    try:
        time.sleep(1.0)
        cluster.pg_ctl("restart", "-m", "fast")
        time.sleep(2.0)
    finally:
        clients.finish()
    assert set(clients.statuses) <= {200, 201, 503}, clients.statuses
    assert set(clients.codes) <= {"unavailable"}, clients.codes

    # Restarted while idle: each worker's pooled connections are dead, and may be reused
    # without a ping (they were used less than 5 s ago). A request meeting one gets 503 and
    # that worker's whole pool is renewed: at most one 503 per worker, every other answer 201.
    cluster.pg_ctl("restart", "-m", "fast")
    statuses = [ledger.upload(MIB).status_code for _ in range(10)]
    assert set(statuses) <= {201, 503}, statuses
    assert statuses.count(503) <= WORKERS, statuses
    ledger.assert_intact()
