"""`custody verify` over a large log, and inclusion proofs at that size.

Builds a custody log of N entries (default 1,000,000) quickly: the entries, their leaf hashes
and every tree node are computed here in Python exactly as casefile.logic.custody.log.append
computes them (same canonical encoding, same columns, written through SQLAlchemy's column
types on SQLite and COPY on PostgreSQL), in large batches; signed checkpoints are made with
custody_checkpoints.make_checkpoint when the log reaches N/4, N/2 and N entries. Then:

* verify: casefile.logic.custody.verify.verify_log in a fresh Python process, as
  `casefile custody verify` runs it; reports its time and that process's own peak RSS;
* proofs: custody_proofs.inclusion_proof for random entries against the N-entry checkpoint, each in
  a new session; reports median and max (and checks every proof).

    .venv/bin/python bench/custody_verify.py                 # SQLite, cached under /tmp
    .venv/bin/python bench/custody_verify.py --rebuild       # build the SQLite log again
    .venv/bin/python bench/custody_verify.py --postgres postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/custody_verify.py -n 100000 --repeat 3

The SQLite database is kept in /tmp/casefile-bench/ (with a JSON file naming its verifier
key) so reruns skip the build. On PostgreSQL the log is built in a new database on the given
server, which is dropped at the end unless --keep (a kept one is reused by later runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchdb import (
    create_postgres_database,
    drop_postgres_database,
    migrate,
    postgres_database_exists,
    postgres_database_url,
    postgres_server_url,
    seed_people,
    sqlite_url,
)
from sqlalchemy import Connection, insert

from casefile.db import Base, Database
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.logic.custody import proofs as custody_proofs
from casefile.model import Case, CustodyAction, CustodyEntry, CustodyNode, User
from casefile.verifier import merkle
from casefile.verifier.custody_entry import canonical_json, entry_bytes, format_time
from casefile.verifier.signed_note import generate_private_key

CACHE = Path("/tmp/casefile-bench")  # noqa: S108 - a benchmark cache, by design
FORMAT = 1  # bump when the generated log changes, so cached builds are not reused
BATCH = 50_000
TARGET_SECONDS = 15.0
TARGET_MIB = 300.0
TARGET_PROOF_MS = 20.0
ORIGIN = "casefile.bench/custody"
ACTIONS = list(CustodyAction)
BURMESE = "ရုပ်ပုံ၊ အသံဖိုင်နှင့် စာရွက်စာတမ်း"


@dataclass(frozen=True)
class Built:
    url: str
    entries: int
    verifier_key: str
    checkpoints: list[int]
    seconds: float | None  # build time, None when reused


# --- building the log ---------------------------------------------------------------------


class EntryMaker:
    """Entries like the app's: actors, cases, items, details of the usual shapes."""

    def __init__(self, users: list[User], cases: list[Case], seed: int = 9162) -> None:
        self.random = random.Random(seed)
        self.actors: list[tuple[uuid.UUID | None, str]] = [
            (user.id, custody_log.actor_label(user)) for user in users
        ]
        self.actors.append((None, custody_log.actor_label(None)))
        self.cases: list[uuid.UUID | None] = [case.id for case in cases] + [None]
        self.items: list[uuid.UUID | None] = [
            uuid.UUID(int=self.random.getrandbits(128), version=4) for _ in range(50_000)
        ] + [None] * 10_000
        self.start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

    def details(self, seq: int) -> dict[str, Any]:
        shape = seq % 4
        if shape == 0:
            return {"sha256": f"{self.random.getrandbits(256):064x}", "size": seq * 37}
        if shape == 1:
            return {"field": "title", "from": f"Exhibit {seq}", "to": f"{BURMESE} {seq}"}
        if shape == 2:
            return {"reason": "court order", "to": f"Registry officer {seq % 7}"}
        return {}

    def entry(self, seq: int) -> tuple[dict[str, Any], bytes]:
        """The entry's column values, as append stores them, and its leaf hash."""
        actor_id, label = self.random.choice(self.actors)
        action = self.random.choice(ACTIONS)
        case_id = self.random.choice(self.cases)
        item_id = self.random.choice(self.items)
        moment = self.start + dt.timedelta(seconds=seq * 30, microseconds=seq % 997_331)
        details = canonical_json(self.details(seq))
        leaf = merkle.leaf_hash(
            entry_bytes(
                seq=seq,
                time=format_time(moment),
                actor_id=str(actor_id) if actor_id else None,
                actor_label=label,
                action=action.value,
                case_id=str(case_id) if case_id else None,
                item_id=str(item_id) if item_id else None,
                details_json=details,
            )
        )
        row = {
            "seq": seq,
            "time": moment,
            "actor_id": actor_id,
            "actor_label": label,
            "action": action,
            "case_id": case_id,
            "item_id": item_id,
            "details": details,
            "leaf_hash": leaf,
        }
        return row, leaf


ENTRY_COLUMNS = [column.name for column in CustodyEntry.__table__.columns]
NODE_COLUMNS = [column.name for column in CustodyNode.__table__.columns]


def write_rows(
    connection: Connection, entries: list[dict[str, Any]], nodes: list[dict[str, Any]]
) -> None:
    """SQLite: through SQLAlchemy's column types; PostgreSQL: COPY, with the values those
    types would bind (aware UTC datetimes, UUIDs, enum values, bytes)."""
    if connection.dialect.name == "sqlite":
        connection.execute(insert(Base.metadata.tables["custody_entries"]), entries)
        connection.execute(insert(Base.metadata.tables["custody_nodes"]), nodes)
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    entry_columns = ", ".join(f'"{name}"' for name in ENTRY_COLUMNS)
    with cursor.copy(f"COPY custody_entries ({entry_columns}) FROM STDIN") as copy:
        for row in entries:
            copy.write_row(
                [row[name].value if name == "action" else row[name] for name in ENTRY_COLUMNS]
            )
    with cursor.copy('COPY custody_nodes (level, "index", hash) FROM STDIN') as copy:
        for row in nodes:
            copy.write_row([row["level"], row["index"], row["hash"]])


def checkpoint_sizes(entries: int, every: int) -> list[int]:
    sizes = {max(1, entries // 4), max(1, entries // 2), entries}
    if every:
        sizes.update(range(every, entries + 1, every))
    return sorted(sizes)


def build(
    database: Database, entries: int, every: int, keys: custody_checkpoints.CustodyKeys
) -> list[int]:
    with database.sessions() as session:
        users, cases = seed_people(session, users=20, cases=100)
    maker = EntryMaker(users, cases)
    tree = merkle.CompactRange()
    sizes = checkpoint_sizes(entries, every)
    started = time.perf_counter()
    for size in sizes:
        while tree.size < size:
            stop = min(size, tree.size + BATCH)
            entry_rows: list[dict[str, Any]] = []
            node_rows: list[dict[str, Any]] = []
            for seq in range(tree.size, stop):
                row, leaf = maker.entry(seq)
                entry_rows.append(row)
                node_rows.extend(
                    {"level": level, "index": index, "hash": digest}
                    for level, index, digest in tree.append(leaf)
                )
            with database.engine.begin() as connection:
                write_rows(connection, entry_rows, node_rows)
            if tree.size % BATCH == 0 or tree.size == entries:
                rate = tree.size / (time.perf_counter() - started)
                print(f"\r  built {tree.size:,} entries ({rate:,.0f}/s)", end="", flush=True)
        with database.sessions() as session:
            checkpoint = custody_checkpoints.make_checkpoint(session, keys)
            session.commit()
            if checkpoint.root != tree.root():
                raise RuntimeError(f"checkpoint {size} signed a root the builder did not make")
    print()
    return sizes


def log_name(entries: int, every: int) -> str:
    return f"{entries}-every{every}" if every else str(entries)


def build_sqlite(entries: int, every: int, rebuild: bool) -> Built:
    path = CACHE / f"custody-verify-{log_name(entries, every)}.sqlite3"
    meta_path = path.with_suffix(".json")
    if not rebuild and path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("format") == FORMAT:
            return Built(sqlite_url(path), entries, meta["verifier_key"], meta["checkpoints"], None)
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in (path, meta_path, *path.parent.glob(path.name + "-*")):
        stale.unlink(missing_ok=True)
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    url = sqlite_url(building)
    return _build(
        url, entries, every, path=path, meta_path=meta_path, finish=lambda: building.rename(path)
    )


def postgres_name(entries: int, every: int) -> str:
    return "casefile_bench_verify_" + log_name(entries, every).replace("-", "_")


def build_postgres(server_url: str, entries: int, every: int, rebuild: bool, keep: bool) -> Built:
    name = postgres_name(entries, every)
    url = postgres_database_url(server_url, name)
    meta_path = CACHE / f"{name}.json"
    if keep and not rebuild and meta_path.exists() and postgres_database_exists(server_url, name):
        meta = json.loads(meta_path.read_text())
        if meta.get("format") == FORMAT:
            return Built(url, entries, meta["verifier_key"], meta["checkpoints"], None)
    CACHE.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    drop_postgres_database(server_url, name)
    create_postgres_database(server_url, name)
    built = _build(
        url, entries, every, path=None, meta_path=meta_path if keep else None, finish=lambda: None
    )
    return Built(url, entries, built.verifier_key, built.checkpoints, built.seconds)


def _build(
    url: str,
    entries: int,
    every: int,
    *,
    path: Path | None,
    meta_path: Path | None,
    finish: Callable[[], object],
) -> Built:
    print(f"building a log of {entries:,} entries...", flush=True)
    started = time.perf_counter()
    migrate(url)
    keys = custody_checkpoints.CustodyKeys(ORIGIN, generate_private_key())
    database = Database.from_url(url)
    try:
        checkpoints = build(database, entries, every, keys)
        if database.engine.dialect.name == "postgresql":  # as autovacuum would, in time
            with database.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.exec_driver_sql("ANALYZE")
    finally:
        database.engine.dispose()
    finish()
    seconds = time.perf_counter() - started
    if meta_path is not None:
        meta = {"format": FORMAT, "verifier_key": keys.verifier_key, "checkpoints": checkpoints}
        meta_path.write_text(json.dumps(meta))
    final_url = sqlite_url(path) if path is not None else url
    return Built(final_url, entries, keys.verifier_key, checkpoints, seconds)


# --- measuring -----------------------------------------------------------------------------


def rss_mib() -> float:
    """This process's resident set size now (Linux)."""
    with Path("/proc/self/statm").open() as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def child_verify(url: str, verifier_key: str) -> None:
    """Runs in a fresh process: verify_log as `casefile custody verify` calls it."""
    from casefile.logic.custody.verify import verify_log  # noqa: PLC0415 - time it here

    database = Database.from_url(url)
    before = rss_mib()
    done = [0]

    def progress(count: int) -> None:
        done[0] = count

    with database.snapshot() as session:  # as the CLI reads: one moment, writers unhindered
        started, cpu_started = time.perf_counter(), time.process_time()
        report = verify_log(session, verifier_key, progress=progress)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    database.engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load": os.getloadavg()[0],
        "peak_mib": peak,
        "before_mib": before,
        "ok": report.ok,
        "mismatch": str(report.mismatch) if report.mismatch else None,
        "entries": report.entries,
        "nodes": report.nodes,
        "checkpoints": report.checkpoints,
    }
    print(json.dumps(result))


def measure_verify(built: Built) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child-verify", built.url, built.verifier_key]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"verify process failed:\n{finished.stderr}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    if not result["ok"] or result["entries"] != built.entries:
        raise RuntimeError(f"the benchmark log does not verify: {result}")
    return result


def measure_proofs(built: Built, count: int, seed: int = 6962) -> list[float]:
    """Milliseconds per inclusion_proof call, each in a new session (its connection already
    open), checked against the signed checkpoint of the whole log. One untimed proof first:
    a server process compiles its statements once."""
    chooser = random.Random(seed)
    size = built.entries
    database = Database.from_url(built.url)
    timings: list[float] = []
    try:
        with database.sessions() as session:
            checkpoint = custody_checkpoints.get_checkpoint(session, size)
            custody_proofs.inclusion_proof(session, size // 3, size)
        for seq in [0, size - 1, *(chooser.randrange(size) for _ in range(count - 2))]:
            with database.sessions() as session:
                leaf = session.get(CustodyEntry, seq)
                if leaf is None:
                    raise RuntimeError(f"entry {seq} missing")
                started = time.perf_counter()
                proof = custody_proofs.inclusion_proof(session, seq, size)
                timings.append((time.perf_counter() - started) * 1000)
            merkle.verify_inclusion(leaf.leaf_hash, seq, size, proof, checkpoint.root)
    finally:
        database.engine.dispose()
    return timings


def report(backend: str, built: Built, verifies: list[dict[str, Any]], proofs: list[float]) -> None:
    best = min(verifies, key=lambda v: v["seconds"])
    seconds = best["seconds"]
    peak = max(v["peak_mib"] for v in verifies)
    before = max(v["before_mib"] for v in verifies)
    first = verifies[0]
    runs = ", ".join(f"{v['seconds']:.1f}" for v in verifies)
    print()
    print(f"custody verify, {backend}, {built.entries:,} entries, {first['nodes']:,} nodes, "
          f"{first['checkpoints']} checkpoints")
    if built.seconds is not None:
        print(f"  (log built in {built.seconds:.0f} s)")
    print(f"  best run: {best['cpu_seconds']:.1f} s of CPU in the verify process "
          f"(load average {best['load']:.1f} on {os.cpu_count()} CPUs when it ended)")
    rows = [
        ("verify time (best of runs)", f"{seconds:.1f} s  [{runs}]", f"<= {TARGET_SECONDS:.0f} s",
         seconds <= TARGET_SECONDS),
        ("verify peak RSS (own process)", f"{peak:.0f} MiB  ({before:.0f} before verify_log)",
         f"<= {TARGET_MIB:.0f} MiB", peak <= TARGET_MIB),
        (f"inclusion proof, median of {len(proofs)}", f"{statistics.median(proofs):.2f} ms",
         f"< {TARGET_PROOF_MS:.0f} ms", statistics.median(proofs) < TARGET_PROOF_MS),
        ("inclusion proof, max", f"{max(proofs):.2f} ms", f"< {TARGET_PROOF_MS:.0f} ms",
         max(proofs) < TARGET_PROOF_MS),
    ]
    print(f"  {'figure':<34}{'result':<36}{'target':<12}meets")
    for figure, result, target, met in rows:
        print(f"  {figure:<34}{result:<36}{target:<12}{'yes' if met else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--entries", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", nargs="?", const="",
                        help="run on PostgreSQL (server URL, default $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                        help="also sign a checkpoint every K entries, as the app does (100)")
    parser.add_argument("--rebuild", action="store_true", help="build the log again")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the database")
    parser.add_argument("--repeat", type=int, default=1, help="verify runs (best time shown)")
    parser.add_argument("--proofs", type=int, default=50, help="inclusion proofs to time")
    parser.add_argument("--child-verify", nargs=2, metavar=("URL", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_verify:
        child_verify(*args.child_verify)
        return 0
    if args.postgres is None:
        backend = "sqlite"
        built = build_sqlite(args.entries, args.checkpoint_every, args.rebuild)
        server_url = None
    else:
        backend = "postgresql"
        server_url = postgres_server_url(args.postgres or None)
        if server_url is None:
            parser.error("--postgres needs a URL or $CASEFILE_TEST_POSTGRES_URL")
        built = build_postgres(
            server_url, args.entries, args.checkpoint_every, args.rebuild, args.keep
        )
    try:
        print(f"verifying {built.url} ({args.repeat} run(s), each in a new process)...")
        verifies = [measure_verify(built) for _ in range(args.repeat)]
        proofs = measure_proofs(built, max(args.proofs, 2))
        report(backend, built, verifies, proofs)
    finally:
        if server_url is not None and not args.keep:
            drop_postgres_database(server_url, postgres_name(args.entries, args.checkpoint_every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
