"""The operator's test of issue 9: `casefile serve` against a fresh PostgreSQL database, one
case, many concurrent API clients for a while, mixing uploads of 1-5 MiB (some of them
duplicates of earlier ones), downloads of earlier uploads and evidence listings.

Prints the answers by status for each kind of request (the target: no 5xx but 503, which a
client may retry, and no connection errors), latency percentiles, and the result of
`casefile custody verify` afterwards. The database is created for the run and dropped after.

    .venv/bin/python bench/mixed_load.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/mixed_load.py --postgres URL --clients 50 --seconds 60   # the issue's
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from vault_http import EMAIL, PASSWORD, VENV_BIN, Instance, Server, load

MIB = 1 << 20


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"casefile_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return name, base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_instance(folder: Path, database_url: str) -> Instance:
    (folder / "server-tmp").mkdir(mode=0o700)
    env = dict(os.environ)
    env.update(
        CASEFILE_INSTANCE=str(folder / "instance"),
        CASEFILE_DATABASE_URL=database_url,
        CASEFILE_STORAGE_URL=(folder / "storage").as_uri(),
        CASEFILE_ENV="development",
        TMPDIR=str(folder / "server-tmp"),
    )
    for name in ("CASEFILE_CONFIG", "CASEFILE_KEK", "CASEFILE_KEK_FILE"):
        env.pop(name, None)
    instance = Instance(folder, env)
    instance.cli("init")
    instance.cli("users", "create", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    out = instance.cli("cases", "create", "--as", EMAIL, "--title", "Load", "--forum", "icc")
    instance.case_id = out.split("created case ", 1)[1].split()[0]
    instance.token = instance.cli("users", "token", EMAIL).strip().splitlines()[-1]
    return instance


class Load:
    def __init__(self, port: int, instance: Instance, sizes: tuple[int, int]) -> None:
        self.port = port
        self.instance = instance
        self.sizes = sizes
        self.noise = os.urandom(sizes[1] * MIB)
        self.items: list[str] = []
        self.sent: list[bytes] = []  # prefixes of uploads, for duplicates
        self.lock = threading.Lock()
        self.statuses: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.latency: dict[str, list[float]] = collections.defaultdict(list)

    def _request(self, kind: str, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        began = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            connection.request(method, path, body=body, headers={
                "Authorization": f"Bearer {self.instance.token}", **(headers or {})})
            response = connection.getresponse()
            data = response.read()
            connection.close()
            status = str(response.status)
        except OSError as error:
            status, data = f"connection error ({type(error).__name__})", b""
        with self.lock:
            self.statuses[kind][status] += 1
            self.latency[kind].append(time.monotonic() - began)
        return (int(status) if status.isdigit() else 0), data

    def upload(self, rng: random.Random) -> None:
        with self.lock:
            again = self.sent and rng.random() < 0.15
            content = rng.choice(self.sent) if again else None
        kind = "duplicate upload" if content is not None else "upload"
        if content is None:
            size = rng.randint(self.sizes[0] * MIB, self.sizes[1] * MIB)
            content = secrets.token_bytes(32) + self.noise[: size - 32]
        boundary = secrets.token_hex(16)
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, data = self._request(
            kind, "POST", f"/api/v1/cases/{self.instance.case_id}/evidence", body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        if status in (200, 201):
            with self.lock:
                self.items.append(json.loads(data)["id"])
                if kind == "upload":
                    self.sent.append(content)
                    del self.sent[:-20]  # keep a few, not every upload, in memory

    def download(self, rng: random.Random) -> None:
        with self.lock:
            item = rng.choice(self.items) if self.items else None
        if item is None:
            self.listing()
            return
        self._request("download", "GET", f"/api/v1/evidence/{item}/content")

    def listing(self, rng: random.Random | None = None) -> None:
        del rng
        self._request("listing", "GET", f"/api/v1/cases/{self.instance.case_id}/evidence")

    def client(self, number: int, deadline: float) -> None:
        rng = random.Random(number)
        while time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.4:
                self.upload(rng)
            elif pick < 0.8:
                self.download(rng)
            else:
                self.listing()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="an admin URL: postgresql://...")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--min-mib", type=int, default=1)
    parser.add_argument("--max-mib", type=int, default=5)
    args = parser.parse_args()
    name, url = create_database(args.postgres)
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="casefile-load-") as folder:
            instance = make_instance(Path(folder), url)
            server = Server(instance, "cli")
            load_test = Load(server.port, instance, (args.min_mib, args.max_mib))
            print(f"{args.clients} clients for {args.seconds:.0f} s, uploads of "
                  f"{args.min_mib}-{args.max_mib} MiB; load before: {load()}")
            deadline = time.monotonic() + args.seconds
            threads = [threading.Thread(target=load_test.client, args=(n, deadline))
                       for n in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            server.stop()
            server = None
            total = failures = 0
            for kind, counter in sorted(load_test.statuses.items()):
                times = sorted(load_test.latency[kind])
                p50 = statistics.median(times)
                p95 = times[int(len(times) * 0.95) - 1] if len(times) > 1 else times[0]
                print(f"{kind:17} {sum(counter.values()):5}  {dict(sorted(counter.items()))}  "
                      f"p50 {p50:.2f} s  p95 {p95:.2f} s")
                total += sum(counter.values())
                failures += sum(n for status, n in counter.items()
                                if not status.isdigit() or status.startswith("5"))
            print(f"requests {total}, 5xx or connection errors {failures}")
            verify = subprocess.run([str(VENV_BIN / "casefile"), "custody", "verify"],
                                    env=instance.env, capture_output=True, text=True,
                                    check=False)
            print(f"custody verify: exit {verify.returncode}: "
                  f"{(verify.stdout or verify.stderr).strip().splitlines()[-1]}")
            sys.exit(1 if failures or verify.returncode else 0)
    finally:
        if server is not None:
            server.stop()
        drop_database(args.postgres, name)


if __name__ == "__main__":
    main()
