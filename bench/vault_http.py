"""Evidence upload and download through the HTTP API, against the same machine's in-process loop.

A fresh instance is made with the CLI (`casefile init`, `users create --password-stdin`,
`cases create --as`, `users token`) in a temporary folder, and the server is started as a
separate process, so that its memory can be read alone from /proc/<pid>/status (VmHWM, VmRSS,
sampled every 50 ms). A test file of --size-mib MiB (os.urandom blocks, repeated with a
counter so no two MiB are equal; test data, not evidence) is written to the temporary folder.

Upload: POST /api/v1/cases/{id}/evidence, the multipart body streamed by a generator over
http.client with a Content-Length (the client never holds the file), 1 MiB sends.
In process, in the same run: read the file in 1 MiB chunks → SHA-256 (and, as intake does,
MD5 + SHA-1 + SHA-256) → Tink streaming AEAD (Keyring.new_data_key) → LocalBlobStore writer,
commit. Download: GET /api/v1/evidence/{id}/content read in 1 MiB chunks, against the in-process
unwrap → decrypt → SHA-256 loop over the blob the in-process upload wrote.

The server: `.venv/bin/casefile serve --port P` exactly as shipped: gunicorn, one gthread
worker forked from a master; the worker, which handles every request, is the process measured
(the master's RSS is printed beside it).

While a request is in flight the sampler also watches the files the server's processes hold
open under their TMPDIR (a folder of the benchmark's own): a server that spooled a request or
response body to an (unlinked) temporary file there would put plaintext evidence on disk.

    .venv/bin/python bench/vault_http.py                              # 1 GiB, casefile serve
    .venv/bin/python bench/vault_http.py --size-mib 64                # quick
    .venv/bin/python bench/vault_http.py --size-mib 1024 --keep       # keep the files

Targets (issue; printed, not asserted): HTTP ingest >= 60% of the in-process loop; HTTP
download >= 60% of the in-process decrypt → SHA-256 loop. Memory: see bench/vault_memory.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
MIB = 1 << 20
CHUNK = MIB
TARGET_RATIO = 0.60
EMAIL = "bench@example.org"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway instance
SAMPLE_SECONDS = 0.05

def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def mib_s(size: int, seconds: float) -> float:
    return size / MIB / seconds if seconds > 0 else float("inf")


# --- the test file ----------------------------------------------------------------------------


def make_test_file(path: Path, size: int) -> str:
    """os.urandom blocks, each MiB made distinct by its index; returns the SHA-256."""
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    written = 0
    with path.open("wb") as out:
        index = 0
        while written < size:
            piece = (index.to_bytes(8, "big") + block[8:])[: size - written]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
            index += 1
    return digest.hexdigest()


WARM_MEMORY = 3 * 1024 * MIB


def warm_memory() -> None:
    """Touch and free WARM_MEMORY of memory. This VM's host backs guest memory lazily and
    takes it back when the guest frees it: a write into the page cache that lands on pages
    the host does not back at that moment costs 2-3 s of system time per GiB instead of 0.2.
    Which process met such pages decided single runs (see the README)."""
    buffer = bytearray(WARM_MEMORY)  # zero-filled: every page is touched
    del buffer


def settle_disk() -> None:
    """Before every timed phase, HTTP or in process alike: write every dirty page out, so no
    phase pays for the writes of the one before it, then warm the memory (warm_memory)."""
    os.sync()
    warm_memory()


def warm_page_cache(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(8 * MIB):
            pass


# --- the instance and the server ----------------------------------------------------------------


@dataclasses.dataclass
class Instance:
    folder: Path
    env: dict[str, str]
    token: str = ""
    case_id: str = ""

    @classmethod
    def create(cls, folder: Path) -> Instance:
        (folder / "server-tmp").mkdir(mode=0o700)
        env = dict(os.environ)
        env.update(
            CASEFILE_INSTANCE=str(folder / "instance"),
            CASEFILE_DATABASE_URL=f"sqlite:///{folder / 'casefile.sqlite3'}",
            CASEFILE_STORAGE_URL=(folder / "storage").as_uri(),
            CASEFILE_ENV="development",
            TMPDIR=str(folder / "server-tmp"),  # watched: nothing may be spooled there
        )
        env.pop("CASEFILE_CONFIG", None)
        env.pop("CASEFILE_KEK", None)
        env.pop("CASEFILE_KEK_FILE", None)
        instance = cls(folder, env)
        instance.cli("init")
        instance.cli("users", "create", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
        out = instance.cli(
            "cases", "create", "--as", EMAIL, "--title", "Bench case", "--forum", "icc"
        )
        match = re.search(r"created case ([0-9a-f-]{36})", out)
        if not match:
            raise SystemExit(f"cannot read the case id from: {out!r}")
        instance.case_id = match.group(1)
        instance.token = instance.cli("users", "token", EMAIL).strip().splitlines()[-1]
        return instance

    def cli(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "casefile"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"casefile {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    @property
    def spool_dir(self) -> Path:
        return self.folder / "server-tmp"

    @property
    def storage(self) -> Path:
        return self.folder / "storage"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values


class Server:
    """The server as processes of their own; stop() ends exactly the process it started.

    `casefile serve` runs gunicorn: a master (arbiter) process and one gthread worker forked
    from it, which handles every request. `pid` is the process that handles requests (the
    worker; the master itself should it have no child); `master` the process started."""

    def __init__(self, instance: Instance) -> None:
        self.port = free_port()
        command = [str(VENV_BIN / "casefile"), "serve", "--port", str(self.port)]
        self.log = (instance.folder / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            command, env=instance.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.master = self.process.pid
        self._wait_ready()
        workers = children(self.master)
        self.pid = workers[0] if len(workers) == 1 else self.master
        self.workers = workers

    @property
    def pids(self) -> list[int]:
        return sorted({self.master, self.pid})

    def describe(self) -> str:
        if self.pid == self.master:
            return f"server pid {self.pid}"
        return f"worker pid {self.pid} (of master {self.master})"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}; see its log")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/login")
                conn.getresponse().read()
                conn.close()
            except OSError:
                time.sleep(0.1)
            else:
                return
        raise SystemExit("the server did not start within 60 s")

    def status(self, pid: int | None = None) -> dict[str, int]:
        """VmHWM / VmRSS in KiB of the request-handling process (or of `pid`)."""
        return proc_status(pid or self.pid)

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
        try:
            for pid in self.pids:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def cpu_seconds(self) -> float:
        """utime + stime of the server's processes (master and worker)."""
        return sum(self.user_system())

    def user_system(self) -> tuple[float, float]:
        """utime and stime of the server's processes: on this VM the system part swings
        with the state of the page cache (see the README), the user part does not."""
        user = system = 0.0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11]) / os.sysconf("SC_CLK_TCK")
            system += int(fields[12]) / os.sysconf("SC_CLK_TCK")
        return user, system

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Sampler:
    """Every 50 ms: the server's VmHWM/VmRSS, and the largest file it holds open under its
    TMPDIR (a spooled request body would be unlinked, so only visible through /proc).

    On entry the server's VmHWM since start is kept (`hwm_before`: it includes start-up) and
    then reset, so `max_hwm_kib` is the exact peak of what runs inside the block."""

    def __init__(self, server: Server, spool_dir: Path) -> None:
        self.server = server
        self.hwm_before_kib = 0
        self.reset = False
        self.spool_prefix = str(spool_dir)
        self.max_rss_kib = 0
        self.max_hwm_kib = 0
        self.max_master_rss_kib = 0
        self.max_spool = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.hwm_before_kib = self.server.status().get("VmHWM", 0)
        self.reset = self.server.reset_peak()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _spooled(self) -> int:
        largest = 0
        links: list[Path] = []
        for pid in self.server.pids:
            try:
                links += Path(f"/proc/{pid}/fd").iterdir()
            except OSError:
                continue
        for link in links:
            try:
                if str(link.readlink()).startswith(self.spool_prefix):
                    largest = max(largest, link.stat().st_size)  # follows: works when unlinked
            except OSError:
                continue
        return largest

    def _sample(self) -> None:
        try:
            values = self.server.status()
            master = self.server.status(self.server.master)
        except OSError:
            return
        self.max_master_rss_kib = max(self.max_master_rss_kib, master.get("VmRSS", 0))
        self.max_rss_kib = max(self.max_rss_kib, values.get("VmRSS", 0))
        self.max_hwm_kib = max(self.max_hwm_kib, values.get("VmHWM", 0))
        self.max_spool = max(self.max_spool, self._spooled())
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()


# --- HTTP client ------------------------------------------------------------------------------


@dataclasses.dataclass
class Upload:
    status: int
    body: dict[str, object] | str
    seconds: float
    sent_seconds: float  # until the client had handed the last byte to the kernel
    size: int


def multipart_parts(boundary: str, filename: str) -> tuple[bytes, bytes]:
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="title"\r\n\r\n'
        "HTTP bench upload\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail


def body_chunks(head: bytes, path: Path, tail: bytes) -> Iterator[bytes]:
    yield head
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
    yield tail


def upload(port: int, instance: Instance, path: Path) -> Upload:
    size = path.stat().st_size
    boundary = uuid.uuid4().hex
    head, tail = multipart_parts(boundary, path.name)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    started = time.perf_counter()
    conn.putrequest("POST", f"/api/v1/cases/{instance.case_id}/evidence")
    conn.putheader("Authorization", f"Bearer {instance.token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    try:
        for chunk in body_chunks(head, path, tail):
            conn.send(chunk)
    except OSError as error:  # the server refused early (413) and closed
        print(f"  (send stopped: {type(error).__name__}: {error})")
    sent = time.perf_counter()
    response = conn.getresponse()
    raw = response.read()
    done = time.perf_counter()
    conn.close()
    try:
        body: dict[str, object] | str = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")[:300]
    return Upload(response.status, body, done - started, sent - started, size)


@dataclasses.dataclass
class Download:
    status: int
    size: int
    seconds: float
    header_sha256: str


def download(port: int, instance: Instance, item_id: str) -> Download:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    started = time.perf_counter()
    conn.request(
        "GET",
        f"/api/v1/evidence/{item_id}/content",
        headers={"Authorization": f"Bearer {instance.token}"},
    )
    response = conn.getresponse()
    total = 0
    while count := response.readinto(view):
        total += count
    done = time.perf_counter()
    sha = response.getheader("X-Casefile-SHA256") or ""
    conn.close()
    return Download(response.status, total, done - started, sha)


# --- in process ---------------------------------------------------------------------------------


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BenchError(Exception):
    """A result that is wrong, not merely slow."""


@dataclasses.dataclass
class InProcess:
    seconds: float
    cpu: float
    sha256: str
    blob_id: str
    wrapped: bytes
    item_id: uuid.UUID


def _keyring_and_store(storage: Path, kek: Path) -> tuple[Any, Any]:
    from casefile.vault.blobstore import LocalBlobStore  # noqa: PLC0415
    from casefile.vault.envelope import Keyring  # noqa: PLC0415

    keyring = Keyring.load(kek)
    if keyring is None:
        raise BenchError(f"no KEK at {kek}")
    return keyring, LocalBlobStore(storage)


def in_process_encrypt(
    path: Path, storage: Path, kek: Path, algorithms: tuple[str, ...]
) -> InProcess:
    """read 1 MiB → hashes → Tink streaming AEAD → LocalBlobStore writer → commit."""
    keyring, store = _keyring_and_store(storage, kek)
    item_id = uuid.uuid4()
    cpu = client_cpu()
    started = time.perf_counter()
    data_key = keyring.new_data_key(item_id.bytes)
    writer = store.writer(item_id.hex)
    encrypt = data_key.cipher.new_encrypting_stream(writer, item_id.bytes)
    digests = [hashlib.new(name) for name in algorithms]
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            for digest in digests:
                digest.update(chunk)
            encrypt.write(chunk)
    encrypt.close()
    writer.commit()
    seconds = time.perf_counter() - started
    return InProcess(
        seconds, client_cpu() - cpu, digests[-1].hexdigest(), item_id.hex, data_key.wrapped, item_id
    )


def in_process_decrypt(done: InProcess, storage: Path, kek: Path) -> tuple[float, float, str, int]:
    """unwrap → open blob → Tink decrypting stream, 1 MiB reads → SHA-256."""
    keyring, store = _keyring_and_store(storage, kek)
    cpu = client_cpu()
    started = time.perf_counter()
    cipher = keyring.unwrap(done.wrapped, done.item_id.bytes)
    digest = hashlib.sha256()
    size = 0
    with store.open(done.blob_id) as blob:
        plain = cipher.new_decrypting_stream(blob, done.item_id.bytes)
        while chunk := plain.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return time.perf_counter() - started, client_cpu() - cpu, digest.hexdigest(), size


def drop_blob(storage: Path, blob_id: str) -> None:
    (storage / blob_id[:2] / blob_id[2:4] / blob_id).unlink(missing_ok=True)


# --- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass
class HttpResult:
    upload_mib_s: float | None = None  # None: refused
    download_mib_s: float | None = None
    failures: int = 0
    pairs: list[Pair] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One more HTTP upload and, right after it, one in-process loop over the same file."""

    http: float  # MiB/s
    server_user: float  # seconds
    server_system: float
    here: float  # MiB/s, read → sha256 → encrypt → write
    here_cpu: float  # seconds, user + system

    @property
    def ratio(self) -> float:
        return self.http / self.here


def pairs(server: Server, instance: Instance, data: Path, count: int, result: HttpResult) -> None:
    """`count` rounds of: the file uploaded again to the same server, then the in-process
    loop. Each upload goes through the whole intake (stream, hash, encrypt, write, fsync);
    registration then finds the item there already and removes the new blob (200,
    "duplicate"). Interleaved, both sides see the same state of the machine (this VM's page
    cache and disk vary from one GiB to the next), and the first upload to a fresh server
    process, which pays for growing its heap, is not the only one compared."""
    size = data.stat().st_size
    kek = instance.folder / "instance" / "kek.json"
    for _ in range(count):
        settle_disk()
        user0, system0 = server.user_system()
        up = upload(server.port, instance, data)
        if up.status not in (200, 201):
            print(f"  repeat refused: {up.body}")
            result.failures += 1
            return
        user, system = server.user_system()
        settle_disk()
        done = in_process_encrypt(data, instance.storage, kek, ("sha256",))
        drop_blob(instance.storage, done.blob_id)
        result.pairs.append(
            Pair(mib_s(size, up.seconds), user - user0, system - system0,
                 mib_s(size, done.seconds), done.cpu)
        )


def http_phase(  # noqa: PLR0915 - one phase, printed as it goes
    instance: Instance, data: Path, expected: str, repeat: int
) -> HttpResult:
    size = data.stat().st_size
    result = HttpResult()
    server = Server(instance)
    try:
        idle = server.status()
        cpu0, ccpu0 = server.cpu_seconds(), client_cpu()
        settle_disk()
        load_before = load()
        with Sampler(server, instance.spool_dir) as sampler:
            up = upload(server.port, instance, data)
        cpu_up, ccpu_up = server.cpu_seconds() - cpu0, client_cpu() - ccpu0
        print(f"\nHTTP upload  (load before {load_before}, after {load()})")
        print(f"  status {up.status}")
        item_id = ""
        if up.status in (200, 201) and isinstance(up.body, dict):
            item_id = str(up.body["id"])
            ok = up.body.get("sha256") == expected and up.body.get("size") == size
            print(f"  item {item_id} sha256/size match the file: {ok}")
            result.failures += 0 if ok else 1
            result.upload_mib_s = mib_s(size, up.seconds)
        else:
            print(f"  refused: {up.body}")
            result.failures += 1
        rate = f"{result.upload_mib_s:8.1f} MiB/s" if result.upload_mib_s else "n/a (refused)"
        print(
            f"  {rate}  ({up.seconds:.2f} s; the client had sent "
            f"the body after {up.sent_seconds:.2f} s, the response came "
            f"{up.seconds - up.sent_seconds:.2f} s later)"
        )
        print(f"  server CPU {cpu_up:.2f} s, client CPU {ccpu_up:.2f} s")
        if result.upload_mib_s is not None and repeat:
            pairs(server, instance, data, repeat, result)
            print(f"  then {len(result.pairs)} rounds: HTTP upload (server CPU user + system), "
                  "in-process loop (CPU)")
            for pair in result.pairs:
                print(f"    {pair.http:7.1f} MiB/s ({pair.server_user:.2f} + "
                      f"{pair.server_system:.2f} s)  {pair.here:7.1f} MiB/s "
                      f"({pair.here_cpu:.2f} s)  ratio {pair.ratio:5.1%}")
        print(
            f"  {server.describe()}: idle VmRSS {idle['VmRSS'] / 1024:.1f} MiB, VmHWM since "
            f"start {idle['VmHWM'] / 1024:.1f} MiB; during the upload: VmHWM "
            f"{sampler.max_hwm_kib / 1024:.1f} MiB (reset before: {sampler.reset}), "
            f"max sampled VmRSS {sampler.max_rss_kib / 1024:.1f} MiB "
            f"({sampler.samples} samples)"
        )
        if server.pid != server.master:
            print(f"  master max sampled VmRSS {sampler.max_master_rss_kib / 1024:.1f} MiB")
        print(
            "  largest file the server held open in its TMPDIR (a spooled request body, "
            f"plaintext): {sampler.max_spool / MIB:.1f} MiB"
        )
        if item_id:
            settle_disk()
            cpu0, ccpu0 = server.cpu_seconds(), client_cpu()
            load_before = load()
            with Sampler(server, instance.spool_dir) as dsampler:
                down = download(server.port, instance, item_id)
            cpu_down, ccpu_down = server.cpu_seconds() - cpu0, client_cpu() - ccpu0
            print(f"\nHTTP download  (load before {load_before}, after {load()})")
            ok = down.status == 200 and down.size == size and down.header_sha256 == expected
            result.failures += 0 if ok else 1
            print(f"  status {down.status}, {down.size} bytes; complete, sha256 header ok: {ok}")
            result.download_mib_s = mib_s(size, down.seconds)
            print(f"  {result.download_mib_s:8.1f} MiB/s  ({down.seconds:.2f} s)")
            print(f"  server CPU {cpu_down:.2f} s, client CPU {ccpu_down:.2f} s")
            print(
                f"  {server.describe()}: VmHWM during the download "
                f"{dsampler.max_hwm_kib / 1024:.1f} MiB "
                f"(reset before: {dsampler.reset}), max sampled VmRSS "
                f"{dsampler.max_rss_kib / 1024:.1f} MiB; largest file held open in its TMPDIR "
                f"(a spooled response, plaintext): {dsampler.max_spool / MIB:.1f} MiB"
            )
    finally:
        server.stop()
    if item_id:
        drop_blob(instance.storage, item_id.replace("-", ""))
    return result


def in_process_phase(
    data: Path, instance: Instance, expected: str
) -> tuple[dict[str, float], float]:
    size = data.stat().st_size
    kek = instance.folder / "instance" / "kek.json"
    print(f"\nIn process (load before {load()})")
    uploads: dict[str, float] = {}
    first = None
    for label, algorithms in (
        ("sha256", ("sha256",)),
        ("md5+sha1+sha256", ("md5", "sha1", "sha256")),
    ):
        settle_disk()
        done = in_process_encrypt(data, instance.storage, kek, algorithms)
        if done.sha256 != expected:
            raise BenchError("the in-process SHA-256 differs from the file's")
        uploads[label] = mib_s(size, done.seconds)
        print(
            f"  read → {label} → encrypt → write: {uploads[label]:8.1f} MiB/s "
            f"({done.seconds:.2f} s, CPU {done.cpu:.2f} s; load {load()})"
        )
        if first is None:
            first = done
        else:
            drop_blob(instance.storage, done.blob_id)
    assert first is not None  # noqa: S101 - the loop ran
    settle_disk()
    seconds, cpu, digest, plain_size = in_process_decrypt(first, instance.storage, kek)
    if digest != expected or plain_size != size:
        raise BenchError("the in-process decryption does not give the file back")
    drop_blob(instance.storage, first.blob_id)
    download_rate = mib_s(size, seconds)
    print(
        f"  unwrap → decrypt → sha256: {download_rate:8.1f} MiB/s "
        f"({seconds:.2f} s, CPU {cpu:.2f} s; load {load()})"
    )
    return uploads, download_rate


def side_by_side(
    size_mib: int,
    http: HttpResult,
    uploads: dict[str, float],
    download_rate: float,
) -> None:
    print(
        f"\nSide by side ({size_mib} MiB, casefile serve; "
        f"target ratio >= {TARGET_RATIO:.0%}; load now {load()})"
    )
    for label, base in uploads.items():
        if http.upload_mib_s is None:
            print(f"  upload   HTTP refused vs in-process ({label}) {base:8.1f} MiB/s  FAILS")
            continue
        ratio = http.upload_mib_s / base
        print(
            f"  upload   HTTP {http.upload_mib_s:8.1f} MiB/s vs in-process ({label}) "
            f"{base:8.1f} MiB/s  ratio {ratio:5.1%}  "
            f"{'meets' if ratio >= TARGET_RATIO else 'BELOW'}"
        )
    if http.download_mib_s is not None:
        ratio = http.download_mib_s / download_rate
        print(
            f"  download HTTP {http.download_mib_s:8.1f} MiB/s vs in-process "
            f"{download_rate:8.1f} MiB/s  ratio {ratio:5.1%}  "
            f"{'meets' if ratio >= TARGET_RATIO else 'BELOW'}"
        )


def run(size_mib: int, keep: bool, tmp_root: str | None, repeat: int) -> int:
    folder = Path(tempfile.mkdtemp(prefix="casefile-vault-http-", dir=tmp_root))
    print(f"casefile vault HTTP bench: {size_mib} MiB, casefile serve, folder {folder}")
    print(f"  {os.cpu_count()} CPUs; load average at start {load()}")
    try:
        instance = Instance.create(folder)
        data = folder / "testdata.bin"
        expected = make_test_file(data, size_mib * MIB)
        warm_page_cache(data)
        http = http_phase(instance, data, expected, repeat)
        uploads, download_rate = in_process_phase(data, instance, expected)
        side_by_side(size_mib, http, uploads, download_rate)
        if http.pairs:
            ratios = [pair.ratio for pair in http.pairs]
            ratio = statistics.median(ratios)
            print(
                f"  upload, {len(ratios)} interleaved rounds: HTTP median "
                f"{statistics.median(p.http for p in http.pairs):.1f} MiB/s, in-process median "
                f"{statistics.median(p.here for p in http.pairs):.1f} MiB/s; median ratio "
                f"{ratio:5.1%} (range {min(ratios):.1%}-{max(ratios):.1%})  "
                f"{'meets' if ratio >= TARGET_RATIO else 'BELOW'}"
            )
    finally:
        if keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if http.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="test file size (MiB)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--tmp", help="where to make the temporary folder (default: $TMPDIR)")
    parser.add_argument(
        "--repeat", type=int, default=5,
        help="rounds of (HTTP upload, in-process loop) after the first, interleaved",
    )
    args = parser.parse_args()
    return run(args.size_mib, args.keep, args.tmp, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
