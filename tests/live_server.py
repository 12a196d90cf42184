"""The server that ships, for tests that need a real socket (tus clients, the browser, slow
clients, faults): `casefile serve` — gunicorn with Casefile's worker, configured by
casefile.server as in production — run as a subprocess on 127.0.0.1 on a free port.

The instance (keys, database, blob store) is the test's own, so the test reads the database
and the store directly afterwards. The server gets a TMPDIR of its own and is seen through
/proc while it runs: its processes' open files and what they hold, for the no-plaintext-on-
disk checks.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')
START_SECONDS = 60
STOP_SECONDS = 40
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def instance_env(settings: Any, database_url: str, folder: Path) -> dict[str, str]:
    """The environment (and a config file in `folder`) under which `casefile serve` runs the
    instance `settings` describes (tests.factories.make_settings), on `database_url`: the same
    keys, the same blob store, the limits tests vary."""
    config = folder / "casefile-serve.toml"
    config.write_text(
        f"[web]\nmax_request_mb = {settings.max_request_mb}\n"
        f"[vault]\nevidence_max_mb = {settings.evidence_max_mb}\n"
        f"tus_threshold_mb = {settings.tus_threshold_mb}\n"
        f"[storage]\ns3_part_mb = {settings.s3_part_mb}\n"
        f"object_lock_days = {settings.object_lock_days}\n"
        + (f's3_region = "{settings.s3_region}"\n' if settings.s3_region else "")
        + f"[map]\ntile_url = {json.dumps(settings.map_tile_url)}\n"
        f"attribution = {json.dumps(settings.map_attribution)}\n"
    )
    env = {
        "CASEFILE_INSTANCE": str(settings.instance_path),
        "CASEFILE_DATABASE_URL": database_url,
        "CASEFILE_STORAGE_URL": settings.storage_url,
        "CASEFILE_CONFIG": str(config),
        "CASEFILE_ENV": settings.env,
        "CASEFILE_SECRET_KEY": settings.secret_key,
    }
    if settings.s3_endpoint_url:
        env["CASEFILE_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


@dataclass
class Live:
    url: str
    port: int
    pid: int  # of `casefile serve`: the gunicorn master
    log: Path  # its output: the start-up line, gunicorn's log and access log
    env: dict[str, str]  # the CASEFILE_* settings it (and a CLI run beside it) reads
    tmpdir: Path  # its TMPDIR, a folder of its own

    def workers(self) -> list[int]:
        """The worker processes the master forked (they handle the requests)."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def pids(self) -> list[int]:
        return [self.pid, *self.workers()]

    def unread(self, client: socket.socket) -> int:
        """Bytes a client sent on `client` that the server has not read from its socket yet
        (still in the client's send queue or the server's receive queue: /proc/net/tcp)."""
        ours = _tcp_address(client.getsockname())
        server = _tcp_address(("127.0.0.1", self.port))
        queued = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            send_queue, receive_queue = (int(part, 16) for part in fields[4].split(":"))
            if (local, remote) == (ours, server):
                queued += send_queue
            elif (local, remote) == (server, ours):
                queued += receive_queue
        return queued

    def open_files(self) -> list[tuple[Path, str]]:
        """Every regular file the server's processes hold open: (the /proc path that still
        reads it, where it is or was: "(deleted)" at the end once unlinked)."""
        found = []
        for pid in self.pids():
            try:
                descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue  # a worker that just exited
            for descriptor in descriptors:
                try:
                    target = str(descriptor.readlink())
                except OSError:
                    continue
                if target.startswith("/") and not target.startswith("/dev/"):
                    found.append((descriptor, target))
        return found

    def open_files_holding(self, marker: bytes) -> list[str]:
        """The files the server holds open (unlinked ones too) that contain `marker`."""
        return [target for descriptor, target in self.open_files() if contains(descriptor, marker)]

    def open_under_tmpdir(self) -> list[tuple[str, int]]:
        """(name, size) of each file the server holds open under its TMPDIR. gunicorn keeps
        one per worker there (the master holds it too), unlinked and empty: the worker's
        heartbeat (it only changes the file's mode); a spooled request body would show here
        with its size."""
        opened = []
        for descriptor, target in self.open_files():
            if target.startswith(f"{self.tmpdir}/"):
                try:
                    opened.append((target, descriptor.stat().st_size))
                except OSError:
                    continue
        return opened

    def logged(self, method: str, *, at_least: int = 0) -> list[tuple[str, int]]:
        """(path, status) of the requests with `method` in the access log, in order; waits a
        little for `at_least` of them (a line is written just after its response is sent)."""
        deadline = time.monotonic() + 5
        while True:
            lines = [
                (match["path"], int(match["status"]))
                for match in ACCESS_LINE.finditer(self.log.read_text(errors="replace"))
                if match["method"] == method
            ]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def _tcp_address(address: tuple[str, int]) -> str:
    """An IPv4 address as /proc/net/tcp writes it (the address in host byte order, hex)."""
    host, port = address[0], address[1]
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def contains(path: Path, marker: bytes) -> bool:
    """Whether the file at `path` holds `marker`, read in overlapping pieces."""
    try:
        with path.open("rb") as handle:
            tail = b""
            while piece := handle.read(MIB):
                if marker in tail + piece:
                    return True
                tail = piece[-len(marker) :]
    except OSError:
        return False
    return False


def child_env(env: dict[str, str], tmpdir: Path) -> dict[str, str]:
    """This process's environment without its own CASEFILE_* variables (the test runner's,
    e.g. CASEFILE_TEST_POSTGRES_URL, are not the instance's settings), plus `env`."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("CASEFILE_")}
    return {**inherited, **env, "TMPDIR": str(tmpdir)}


@contextmanager
def serving(env: dict[str, str], folder: Path, *args: str) -> Iterator[Live]:
    """`casefile serve --port <free> *args` with the instance settings in `env`, until the
    block ends (SIGTERM: gunicorn's graceful stop). Its log and TMPDIR go under `folder`."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    tmpdir = folder / f"serve-{port}-tmp"
    tmpdir.mkdir(mode=0o700)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from casefile.cli import main; sys.exit(main())",
                "serve",
                "--port",
                str(port),
                *args,
            ],
            env=child_env(env, tmpdir),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Live(url, port, process.pid, log, env, tmpdir)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"casefile serve exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"casefile serve did not come up: {log.read_text()[-3000:]}")
