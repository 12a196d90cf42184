"""`casefile ingest` throughput: many small files into one case, on SQLite or PostgreSQL.

A fresh instance (KEK, custody signing key, local blob store, database at the latest schema) is
built the way `casefile init` builds one, and the app the CLI builds is used: the files go
through casefile.logic.evidence.ingest (walk, SHA-256 check against the case, streaming
encryption into the blob store and examination on worker processes from 200 files, threads
below or with --threads, registration.register_many on the calling thread: up to 64 files per
transaction, each with its custody entry), exactly what `casefile ingest` calls, without the
progress bar. A rerun of the same ingest (every file already in the case) is timed too. The
custody log is verified afterwards, untimed. The instance, its store and the files go under
tempfile's folder ($TMPDIR, else /tmp), or under --dir: on this VM creating a file under /tmp
costs 0.5-0.8 ms of CPU against 0.02 ms elsewhere on the same disk, so give both (its ext4 has no
journal, and skips each inode freed in the last minutes when it looks for a free one: see
bench/README.md, "Where a file's kernel time goes").

CPU is given twice per file: all threads and worker processes (their start-up included: the
fork server's and its children's CPU, read from /proc), and the registering (calling) thread
alone, the one that cannot be spread over cores: 1,000 files/s needs at most ~1 ms of it.
On PostgreSQL the server's CPU per file is given as well (it shares the cores): the backends
serving the bench's database and the server's writers (checkpointer, background writer, WAL
writer, whoever else they write for meanwhile), read from /proc before and after each run.
`--breakdown` also counts the statements sent (through SQLAlchemy, and on the driver's cursor:
an executemany counts once).
`--breakdown` and `--profile` see this process only (not the worker processes: use --threads
to time the blob steps, or `--worker-side`).

    .venv/bin/python bench/ingest_files.py                     # 10,000 files of 4 KiB, SQLite
    .venv/bin/python bench/ingest_files.py -n 2000 --size 65536
    .venv/bin/python bench/ingest_files.py --backend postgresql --postgres postgresql://...
    .venv/bin/python bench/ingest_files.py --worker-side -n 2000   # one worker thread alone
    .venv/bin/python bench/ingest_files.py -n 3000 --profile   # cProfile, per kind of thread
    .venv/bin/python bench/ingest_files.py -n 3000 --dir /var/tmp   # not under /tmp
    .venv/bin/python bench/ingest_files.py -n 3000 --threads   # worker threads, no processes

`--worker-side` times what one worker thread does per file (IntakeStream from memory +
evidence.prepare), CPU of that thread (kernel time included, so load-insensitive) and wall,
writing each blob durably at once (the upload path) or through `blobstore.batched` (settled
every 64 blobs, as ingest does), into fan-out folders made by the run or existing already.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from unittest import mock

from benchdb import fresh_database, postgres_server_url
from sqlalchemy import make_url
from timers import Breakdown, Profiles

from casefile import create_app
from casefile.db import Database
from casefile.logic.accounts import accounts
from casefile.logic.cases import cases
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody.verify import verify_log
from casefile.logic.evidence import ingest as ingest_logic
from casefile.logic.evidence import ingest_run, submission
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.model import Evidence, EvidenceStatus
from casefile.settings import DEVELOPMENT_SECRET_KEY, Settings
from casefile.vault import blobstore, signing_key
from casefile.vault.blobstore import LocalBlobStore
from casefile.vault.envelope import Keyring

TARGET = 1000.0  # files/s, on SQLite and on PostgreSQL (issue 9)
PER_FOLDER = 100
BREAKDOWN = False  # --breakdown: time the steps of the first run (see timers.py)
PROFILE = False  # --profile: cProfile the first run, per kind of thread (see timers.py)


def make_files(root: Path, count: int, size: int) -> None:
    for number in range(count):
        folder = root / f"batch-{number // PER_FOLDER:04d}"
        if number % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f"IMG_{number:05d}.bin").write_bytes(os.urandom(size))


Rate = tuple[float, float, float]  # files/s, CPU s per file (all threads, registering thread)
Rates = tuple[Rate, Rate]  # new files, rerun


def cpu_children() -> float:
    """CPU of the worker processes: children of this process that have ended (spawned ones),
    or the fork server's own and its ended children's (forked ones), start-up included."""
    times = os.times()
    return times.children_user + times.children_system + _fork_server_cpu()


def _fork_server_cpu() -> float:
    from multiprocessing import forkserver  # noqa: PLC0415

    pid = forkserver._forkserver._forkserver_pid  # noqa: SLF001 - its CPU is what is measured
    if pid is None:
        return 0.0
    time.sleep(0.2)  # it reaps the workers that ended with the run
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), counted from the state (3rd)
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# The PostgreSQL server's processes counted as the run's: the backends of the bench's own
# database and the server's writers (shared with anything else the server runs meanwhile).
SERVER_WRITERS = ("checkpointer", "background writer", "walwriter")
SERVER_CPU: dict[str, float] = {}  # PostgreSQL: server CPU s per file, per run ("added", ...)


def postgres_cpu(database: str | None) -> float:
    """CPU (user + system, seconds) so far of the PostgreSQL server processes on this host that
    serve `database` (its backends, named in their command line) or write for every database;
    0 without one (SQLite). Backends that end are not counted: the run's stay connected."""
    if database is None:
        return 0.0
    total = 0
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            command = (process / "cmdline").read_bytes().decode(errors="replace")
            if not command.startswith("postgres: "):
                continue
            words = command.replace("\0", " ").split()
            if database not in words and not any(name in command for name in SERVER_WRITERS):
                continue
            fields = (process / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def breakdown_steps(timers: Breakdown) -> None:
    """The steps of an ingest whose wall and CPU time `--breakdown` prints."""
    from sqlalchemy.engine import Connection  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from casefile import driver_statements  # noqa: PLC0415
    from casefile.logic import authz  # noqa: PLC0415
    from casefile.logic.custody import log as custody_log  # noqa: PLC0415
    from casefile.logic.evidence import ingest_db, registration  # noqa: PLC0415
    from casefile.logic.search import index as search_index  # noqa: PLC0415
    from casefile.vault import extract, sniff  # noqa: PLC0415

    run_class = ingest_run._Run  # noqa: SLF001 - its steps are what is timed

    for owner, attribute, label in (
        (run_class, "_sha256", "hashing read (open, read, SHA-256)"),
        (run_class, "_stream", "blob + examine, in all (_stream)"),
        (IntakeStream, "__init__", "IntakeStream set-up (key, temp file)"),
        (Keyring, "new_data_key", "Tink data key: generate, wrap, primitive"),
        (LocalBlobStore, "create_file", "temp file create (mkdir if new)"),
        (IntakeStream, "write", "IntakeStream.write (hash, encrypt)"),
        (IntakeStream, "finish", "IntakeStream.finish (close, commit)"),
        (blobstore.os, "fsync", "fsync (blob files and folders)"),
        (blobstore, "fsync_folder", "fsync of a folder"),
        *([(blobstore, "SYNCFS", "syncfs")] if blobstore.SYNCFS is not None else []),
        (Path, "replace", "rename"),
        (submission, "prepare", "prepare (examine)"),
        (sniff, "detect", "libmagic"),
        (extract, "extract", "metadata extraction"),
        (blobstore.LocalBatch, "settle", "settle (syncfs, renames)"),
        (run_class, "_next_batch", "waiting for the workers"),
        (ingest_db, "sha256s_in_case", "check of digests against the case"),
        (registration, "register_many", "register_many (transaction)"),
        (custody_log, "append_many", "custody append_many"),
        (authz, "authorize_case", "authorize the case (FOR NO KEY UPDATE)"),
        (custody_log, "hold_lock", "custody lock"),
        (registration, "_add", "per item (_add)"),
        (registration, "_insert_items", "item rows (_insert_items)"),
        (search_index, "put_new", "search index rows (put_new)"),
        (Session, "flush", "ORM flush"),
        (Connection, "_execute_context", "statements through SQLAlchemy"),
        (driver_statements, "execute", "statements on the driver's cursor"),
        (driver_statements, "execute_many", "executemany on the driver's cursor"),
        (Session, "commit", "commit"),
    ):
        if hasattr(owner, attribute):  # an older casefile may lack a step
            timers.wrap(owner, attribute, label)


def profile_threads(profiles: Profiles) -> None:
    """What `--profile` runs under cProfile: the registering thread's whole run, the
    workers' hashing and blob + examine steps, the settle thread's settles."""
    run_class = ingest_run._Run  # noqa: SLF001 - its steps are what is profiled
    for owner, attribute in (
        (run_class, "go"),
        (run_class, "_sha256"),
        (run_class, "_stream"),
        (blobstore.LocalBatch, "settle"),
    ):
        profiles.wrap(owner, attribute)


def run(
    backend: str, count: int, size: int, server_url: str | None, where: str | None = None
) -> Rates:
    with tempfile.TemporaryDirectory(prefix="casefile-bench-", dir=where) as name:
        folder = Path(name)
        make_files(folder / "files", count, size)
        with fresh_database(backend, folder, server_url) as url:
            instance = folder / "instance"
            instance.mkdir(mode=0o700)
            (folder / "storage").mkdir(mode=0o700)
            signing_key.create(instance / signing_key.FILE_NAME)
            Keyring.create_file(instance / "kek.json")
            settings = Settings(
                env="development",
                instance_path=instance,
                database_url_override=url,
                storage_url=(folder / "storage").as_uri(),
                secret_key=DEVELOPMENT_SECRET_KEY,
            )
            app = create_app(settings)
            database: Database = app.extensions["casefile.db"]
            server_database = make_url(url).database if backend == "postgresql" else None
            try:
                return _ingest_twice(
                    app.extensions, database, folder / "files", count, server_database
                )
            finally:
                database.engine.dispose()


def _ingest_twice(
    extensions: dict[str, object],
    database: Database,
    files: Path,
    count: int,
    server_database: str | None,
) -> Rates:
    store = extensions["casefile.blobs"]
    keyring = extensions["casefile.keyring"]
    with database.session() as session:
        lead = accounts.create_account(
            session,
            None,
            accounts.parse_account_input(email="lead@example.org", password="x" * 16),
            min_password_length=12,
        )
        case = cases.create_case(
            session,
            lead,
            cases.parse_case_input(
                {"title": "Bench", "forum": "icc", "ern_pattern": "MMR-OTP-{batch:04d}-{seq:05d}"}
            ),
        )
        rates: list[Rate] = []
        for expected in ("added", "present"):
            children = cpu_children()
            server = postgres_cpu(server_database)
            start, cpu = time.perf_counter(), time.process_time()
            own = time.thread_time()
            timers, profiles = Breakdown(), Profiles()
            if BREAKDOWN and expected == "added":
                breakdown_steps(timers)
            if PROFILE and expected == "added":
                profile_threads(profiles)
            with timers, profiles:
                plan = ingest_logic.plan([files])  # walking is part of what the command does
                summary = ingest_logic.ingest(
                    session, lead, case.id, plan.files, store=store, keyring=keyring.get
                )
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
            children = cpu_children() - children  # the worker processes ended with the run
            cpu += children
            own = time.thread_time() - own
            server = postgres_cpu(server_database) - server
            done = summary.added if expected == "added" else summary.present
            if done != count or summary.failed:
                raise RuntimeError(f"ingest did not {expected} every file: {summary}")
            rates.append((count / elapsed, cpu / count, own / count))
            if timers.figures:
                timers.print(count)
            if PROFILE and expected == "added":
                profiles.print(count)
            print(
                f"  {expected:>7}: {count} files in {elapsed:.1f} s (CPU {cpu:.1f} s, all "
                f"threads and worker processes, {children:.1f} s of it in worker processes "
                f"(start-up included); {own:.1f} s registering)"
                + (f"; PostgreSQL server CPU {server:.1f} s" if server_database else ""),
                flush=True,
            )
            if server_database:
                SERVER_CPU[expected] = server / count
        stored = session.query(Evidence).filter(Evidence.status == EvidenceStatus.ACTIVE).count()
        keys: custody_checkpoints.CustodyKeys = extensions["casefile.custody_keys"]
        report = verify_log(session, keys.verifier_key)
        if stored != count or not report.ok:
            raise RuntimeError(f"after the bench: {stored} items, custody log {report}")
    return rates[0], rates[1]


def worker_side(count: int, size: int) -> None:
    """One thread's CPU and wall per file for the blob path, single vs batched durability."""
    with tempfile.TemporaryDirectory(prefix="casefile-bench-") as name:
        folder = Path(name)
        Keyring.create_file(folder / "kek.json")
        keyring = Keyring.load(folder / "kek.json")
        contents = [os.urandom(size) for _ in range(count)]
        print(
            f"worker side, {count} files of {size} bytes, one thread, load {os.getloadavg()[0]:.1f}"
        )
        print(f"{'':<34}{'CPU ms/file':>14}{'wall ms/file':>14}{'of it settle':>14}")
        for folders in ("new folders", "folders exist"):
            for mode in ("single", "batched"):
                store = LocalBlobStore(folder / f"{mode}-{folders.split()[0]}")
                if folders == "folders exist":
                    for blob_id in _ids(count):  # the same ids' folders, made beforehand
                        (store.root / blob_id[:2] / blob_id[2:4]).mkdir(parents=True, exist_ok=True)
                view = blobstore.batched(store) if mode == "batched" else store
                ids = iter([uuid.UUID(blob_id) for blob_id in _ids(count)])
                written: list[str] = []
                settle = 0.0
                cpu, wall = time.thread_time(), time.perf_counter()
                with mock.patch.object(uuid, "uuid4", side_effect=ids):  # those folders' ids
                    for content in contents:
                        stream = IntakeStream(view, keyring)
                        stream.write(content)
                        received = stream.finish()
                        submission.prepare(
                            received, EvidenceInput(), filename="x.bin", declared_mime=None
                        )
                        written.append(received.item_id.hex)
                        if isinstance(view, blobstore.LocalBatch) and (
                            len(written) % 64 == 0 or len(written) == count
                        ):
                            started = time.thread_time()
                            view.settle(written[(len(written) - 1) // 64 * 64 :])
                            settle += time.thread_time() - started
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                print(
                    f"{f'{mode}, {folders}':<34}{cpu / count * 1000:>14.2f}"
                    f"{wall / count * 1000:>14.2f}{settle / count * 1000:>14.2f}"
                )


def _ids(count: int) -> list[str]:
    state = random.Random(9)
    return [uuid.UUID(int=state.getrandbits(128), version=4).hex for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server to create a DB on")
    parser.add_argument(
        "--dir",
        metavar="FOLDER",
        help="where the instance, its blob store and the files go (default: tempfile's folder, "
        "$TMPDIR or /tmp)",
    )
    parser.add_argument(
        "--threads",
        action="store_true",
        help="worker threads only, as before worker processes (and as runs under "
        f"{ingest_run.PROCESSES_FROM} files do)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=ingest_run.PROCESSES,
        help=f"worker processes (default {ingest_run.PROCESSES}: the CPUs)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=ingest_run.WORKERS,
        help=f"worker threads (default {ingest_run.WORKERS}, what `casefile ingest` uses)",
    )
    parser.add_argument(
        "--worker-side",
        action="store_true",
        help="time one worker thread's blob path alone (no database)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="print wall and CPU time per file of each step of the first run, by thread",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the first run: the registering thread, the workers, the settle thread",
    )
    args = parser.parse_args(argv)
    global BREAKDOWN, PROFILE  # switches for this script's run
    BREAKDOWN, PROFILE = args.breakdown, args.profile
    if args.worker_side:
        worker_side(args.files, args.size)
        return 0
    ingest_run.WORKERS = args.workers
    ingest_run.PROCESSES = args.processes
    if args.threads:
        ingest_run.PROCESSES_FROM = sys.maxsize
    server_url = postgres_server_url(args.postgres)
    if args.backend == "postgresql" and server_url is None:
        parser.error("PostgreSQL needs --postgres URL or $CASEFILE_TEST_POSTGRES_URL")
    print(f"{args.backend}: ingesting {args.files} files of {args.size} bytes...", flush=True)
    load_before = os.getloadavg()[0]
    (first, first_cpu, first_own), (rerun, rerun_cpu, rerun_own) = run(
        args.backend, args.files, args.size, server_url, args.dir
    )
    print()
    processes = not args.threads and args.files >= ingest_run.PROCESSES_FROM
    mode = (
        f"{args.processes} worker processes (+ {args.workers} hashing threads)"
        if processes
        else f"{args.workers} worker threads"
    )
    print(
        f"casefile ingest, {args.files} files of {args.size} bytes, {args.backend}, "
        f"{mode}, {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; in {args.dir or tempfile.gettempdir()}"
    )
    print(f"{'':<34}{'files/s':>12}{'CPU ms/file':>14}{'registering':>14}")
    print(f"{'new files':<34}{first:>12,.0f}{first_cpu * 1000:>14.2f}{first_own * 1000:>14.2f}")
    print(
        f"{'rerun (all already in the case)':<34}{rerun:>12,.0f}{rerun_cpu * 1000:>14.2f}"
        f"{rerun_own * 1000:>14.2f}"
    )
    if SERVER_CPU:
        print(
            f"{'PostgreSQL server CPU ms/file':<34}{'new':>12}{SERVER_CPU['added'] * 1000:>14.2f}"
            f"{'rerun':>14}{SERVER_CPU['present'] * 1000:>8.2f}"
        )
    print(f"{'target (new files)':<34}{TARGET:>12,.0f}")
    print(f"{'meets target':<34}{'yes' if first >= TARGET else 'NO':>12}")
    print(f"{'ratio to target':<34}{first / TARGET:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
