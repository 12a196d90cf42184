"""The load benchmark of issue 9: `casefile serve` (gunicorn, --workers N) on a fresh
PostgreSQL database or SQLite file, many API clients for a while, each looping over a mix of
uploads of 1-20 MiB (some duplicates of earlier ones), downloads of earlier uploads, evidence
listings and custody reads (the case's log a page of 50 entries at a time, each client
paging from its start to its end and again; one item's first page of entries, with proofs).

Prints requests per second and p50/p95/p99 latency per kind of request, answers by status
(any 5xx but a retryable 503, or a connection error, fails the run), the load average, and
then checks that nothing was lost: every upload the server acknowledged (201) is downloaded
again and its SHA-256 compared with what was sent, and `casefile custody verify` and
`casefile scrub` are run as subprocesses. Prints PASS or FAIL; exits 1 on FAIL.

    .venv/bin/python bench/load.py --backend postgresql --clients 50 --seconds 300 --workers 4
    .venv/bin/python bench/load.py --backend sqlite --clients 50 --seconds 300 --workers 1
    .venv/bin/python bench/load.py --backend postgresql --clients 10 --seconds 20   # a quick look

PostgreSQL: --postgres URL or $CASEFILE_TEST_POSTGRES_URL (a server where a database may be
created; it is dropped afterwards). Sent bytes are random with a random 32-byte head, so no two
uploads collide unless they are meant to (duplicates: 15 % of uploads resend an earlier one).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import http.client
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchdb import fresh_database, postgres_server_url
from vault_http import EMAIL, PASSWORD, ROOT, VENV_BIN, children, free_port, load

MIB = 1 << 20
KINDS = ("upload", "duplicate upload", "download", "listing", "case custody", "item custody")


@dataclass
class Stats:
    statuses: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    latency: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    acknowledged: dict[str, str] = field(default_factory=dict)  # item id -> SHA-256 sent
    lock: threading.Lock = field(default_factory=threading.Lock)


class Instance:
    def __init__(self, folder: Path, database_url: str) -> None:
        (folder / "server-tmp").mkdir(mode=0o700)
        self.folder = folder
        self.env = dict(os.environ)
        self.env.update(
            CASEFILE_INSTANCE=str(folder / "instance"),
            CASEFILE_DATABASE_URL=database_url,
            CASEFILE_STORAGE_URL=(folder / "storage").as_uri(),
            CASEFILE_ENV="development",
            TMPDIR=str(folder / "server-tmp"),
        )
        for name in ("CASEFILE_CONFIG", "CASEFILE_KEK", "CASEFILE_KEK_FILE"):
            self.env.pop(name, None)
        self.cli("init")
        self.cli("users", "create", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
        out = self.cli("cases", "create", "--as", EMAIL, "--title", "Load", "--forum", "icc")
        self.case_id = out.split("created case ", 1)[1].split()[0]
        self.token = self.cli("users", "token", EMAIL).strip().splitlines()[-1]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "casefile"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )

    def cli(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        if result.returncode != 0:
            raise SystemExit(f"casefile {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


class Server:
    """`casefile serve --workers N` as a process group of its own; stop() ends only it."""

    def __init__(self, instance: Instance, workers: int) -> None:
        self.port = free_port()
        self.log_path = instance.folder / "serve.log"
        self.log = self.log_path.open("w")
        command = [str(VENV_BIN / "casefile"), "serve", "--port", str(self.port),
                   "--workers", str(workers)]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=instance.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        deadline = time.monotonic() + 60
        while len(children(self.process.pid)) < workers or not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {self.log_path}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
        except OSError:
            return False
        return ok

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Client:
    def __init__(self, number: int, port: int, instance: Instance, stats: Stats,  # noqa: PLR0917 - one per thread, built in one place
                 sizes: tuple[int, int], noise: bytes) -> None:  # fmt: skip
        self.rng = random.Random(number)
        self.port = port
        self.instance = instance
        self.stats = stats
        self.sizes = sizes
        self.noise = noise
        self.sent: list[bytes] = []  # this client's last few uploads, to send again
        self.custody_cursor: str | None = None  # where this client is in the case's log

    def request(self, kind: str, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        began = time.monotonic()
        try:
            status, data = self._exchange(method, path, body, headers or {})
        except OSError as error:
            status, data = f"connection error ({type(error).__name__})", b""
        elapsed = time.monotonic() - began
        with self.stats.lock:
            self.stats.statuses[kind][status] += 1
            self.stats.latency[kind].append(elapsed)
        return (int(status[:3]) if status[:3].isdigit() else 0), data

    def _exchange(self, method: str, path: str, body: bytes | None,
                  headers: dict[str, str]) -> tuple[str, bytes]:  # fmt: skip
        """One request on a new connection. A server may answer before it has read the whole
        body (a refusal, a 503) and close: the send then fails, but the answer is read."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            headers = {"Authorization": f"Bearer {self.instance.token}", **headers}
            headers["Content-Length"] = str(len(body or b""))
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            try:
                if body:
                    connection.send(body)
            except (BrokenPipeError, ConnectionResetError):
                early = http.client.HTTPResponse(connection.sock, method=method)
                early.begin()  # raises if the server sent nothing
                return f"{early.status} (before the body was read)", early.read()
            response = connection.getresponse()
            return str(response.status), response.read()
        finally:
            connection.close()

    def upload(self) -> None:
        again = bool(self.sent) and self.rng.random() < 0.15
        if again:
            content, kind = self.rng.choice(self.sent), "duplicate upload"
        else:
            size = self.rng.randint(self.sizes[0] * MIB, self.sizes[1] * MIB)
            start = self.rng.randrange(0, len(self.noise) - size + 1)
            content = secrets.token_bytes(32) + self.noise[start : start + size - 32]
            kind = "upload"
        boundary = secrets.token_hex(16)
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, data = self.request(
            kind, "POST", f"/api/v1/cases/{self.instance.case_id}/evidence", body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        if status in (200, 201):
            item_id = json.loads(data)["id"]
            with self.stats.lock:
                self.stats.acknowledged[item_id] = hashlib.sha256(content).hexdigest()
            if kind == "upload":
                self.sent = [*self.sent[-3:], content]

    def case_custody_page(self, case: str) -> None:
        """The next page of the case's custody report (50 entries with their proofs): each
        client reads the log from its start, page after page, then starts again."""
        query = f"?cursor={self.custody_cursor}" if self.custody_cursor else ""
        status, data = self.request("case custody", "GET", f"/api/v1/cases/{case}/custody{query}")
        self.custody_cursor = json.loads(data).get("next") if status == 200 else None

    def some_item(self) -> str | None:
        with self.stats.lock:
            if not self.stats.acknowledged:
                return None
            return self.rng.choice(list(self.stats.acknowledged))

    def run(self, deadline: float) -> None:
        case = self.instance.case_id
        while time.monotonic() < deadline:
            pick = self.rng.random()
            item = self.some_item()
            if pick < 0.3 or item is None:
                self.upload()
            elif pick < 0.55:
                self.request("download", "GET", f"/api/v1/evidence/{item}/content")
            elif pick < 0.8:
                self.request("listing", "GET", f"/api/v1/cases/{case}/evidence")
            elif pick < 0.9:
                self.case_custody_page(case)
            else:
                self.request("item custody", "GET", f"/api/v1/evidence/{item}/custody")


def percentile(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def is_bad(status: str) -> bool:
    """A connection error, or a 5xx other than 503 (busy or unavailable: retry later)."""
    code = status[:3]
    return not code.isdigit() or (code.startswith("5") and code != "503")


def report(stats: Stats, seconds: float) -> int:
    """Print the table; return the number of 5xx (other than 503) and connection errors."""
    bad = total = 0
    print(f"{'kind':17} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  "
          "statuses")  # fmt: skip
    for kind in KINDS:
        counter, times = stats.statuses.get(kind), stats.latency.get(kind)
        if not counter or not times:
            continue
        count = sum(counter.values())
        total += count
        print(f"{kind:17} {count:6} {count / seconds:7.2f} {percentile(times, 0.5) * 1e3:8.0f} "
              f"{percentile(times, 0.95) * 1e3:8.0f} {percentile(times, 0.99) * 1e3:8.0f}  "
              f"{dict(sorted(counter.items()))}")  # fmt: skip
        bad += sum(n for status, n in counter.items() if is_bad(status))
    errors: collections.Counter[str] = collections.Counter()
    for counter in stats.statuses.values():
        errors.update({s: n for s, n in counter.items() if s not in ("200", "201")})
    print(f"all: {total} requests, {total / seconds:.2f} req/s; errors by status: "
          f"{dict(sorted(errors.items())) or 'none'}")  # fmt: skip
    return bad


def check_nothing_lost(instance: Instance, port: int, stats: Stats) -> list[str]:
    problems = []
    for item_id, sha256 in stats.acknowledged.items():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        connection.request("GET", f"/api/v1/evidence/{item_id}/content",
                           headers={"Authorization": f"Bearer {instance.token}"})  # fmt: skip
        response = connection.getresponse()
        digest = hashlib.sha256()
        while chunk := response.read(MIB):
            digest.update(chunk)
        connection.close()
        if response.status != 200 or digest.hexdigest() != sha256:
            problems.append(f"item {item_id}: status {response.status}, SHA-256 differs "
                            f"or missing")  # fmt: skip
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres", help="server URL (default: $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn processes (4 on PostgreSQL, 1 on SQLite)")  # fmt: skip
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--min-mib", type=int, default=1)
    parser.add_argument("--max-mib", type=int, default=20)
    args = parser.parse_args()
    workers = args.workers or (4 if args.backend == "postgresql" else 1)
    server_url = postgres_server_url(args.postgres)
    with (
        tempfile.TemporaryDirectory(prefix="casefile-load-") as folder,
        fresh_database(args.backend, Path(folder), server_url) as database_url,
    ):
        instance = Instance(Path(folder), database_url)
        server = Server(instance, workers)
        stats = Stats()
        noise = os.urandom(args.max_mib * MIB)
        try:
            print(f"{args.backend}, {workers} worker(s), {args.clients} clients for "
                  f"{args.seconds:.0f} s, uploads of {args.min_mib}-{args.max_mib} MiB; "
                  f"{os.cpu_count()} CPUs; load average before: {load()}", flush=True)  # fmt: skip
            began = time.monotonic()
            deadline = began + args.seconds
            clients = [Client(n, server.port, instance, stats, (args.min_mib, args.max_mib),
                              noise) for n in range(args.clients)]  # fmt: skip
            threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            print(f"ran {elapsed:.0f} s; load average after: {load()}")
            bad = report(stats, elapsed)
            lost = check_nothing_lost(instance, server.port, stats)
        finally:
            server.stop()
        verify = instance.run("custody", "verify")
        scrub = instance.run("scrub")
        print(f"acknowledged uploads: {len(stats.acknowledged)}, "
              "all downloaded with their SHA-256: "
              f"{'yes' if not lost else 'NO: ' + '; '.join(lost[:5])}")  # fmt: skip
        for name, result in (("custody verify", verify), ("scrub", scrub)):
            last = (result.stdout.strip() or result.stderr.strip()).splitlines() or [""]
            print(f"{name}: exit {result.returncode}: {last[-1]}")
        failed = bad or lost or verify.returncode or scrub.returncode
        kept = Path(tempfile.gettempdir()) / f"casefile-load-{args.backend}-{int(time.time())}.log"
        kept.write_bytes(server.log_path.read_bytes())
        print(f"server log (access log, errors): {kept}")
        print("FAIL" if failed else "PASS", f"(5xx other than 503, or connection errors: {bad})")
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
