"""Custody log append throughput with a single writer, on SQLite and PostgreSQL.

For each backend: a fresh database at the latest schema, then N entries appended through
casefile.logic.custody.log.append, first each in its own session and transaction (what one web
request or CLI action does), then N more 100 to a transaction. Sessions are configured as
create_app configures them (a signing key and the default automatic checkpoint policy, so a
checkpoint is signed every 100 entries). The log is verified afterwards, untimed.

    .venv/bin/python bench/custody_append.py                      # SQLite, and PostgreSQL
    .venv/bin/python bench/custody_append.py --postgres postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/custody_append.py --backend sqlite -n 20000

PostgreSQL runs when --postgres or $CASEFILE_TEST_POSTGRES_URL names a server: a new database
is created there and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchdb import fresh_database, postgres_server_url, seed_people
from sqlalchemy.orm import Session

from casefile.db import Database
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.verify import verify_log
from casefile.model import Case, CustodyAction, User
from casefile.verifier.signed_note import generate_private_key

TARGETS = {"sqlite": 2_000.0, "postgresql": 1_000.0}  # entries/s, one writer
ACTIONS = (CustodyAction.VIEWED, CustodyAction.DOWNLOADED, CustodyAction.METADATA_EDITED,
           CustodyAction.TAGGED, CustodyAction.INTEGRITY_CHECKED)


@dataclass(frozen=True)
class Result:
    backend: str
    entries: int
    per_transaction: list[float]  # entries/s of each run, one entry per transaction
    batched: list[float]  # entries/s of each run, `batch` entries per transaction
    batch: int
    cpu_single: list[float]  # CPU ms per entry of this process (the database server's not
    cpu_batched: list[float]  # counted): less sensitive to a loaded machine than entries/s


class Writer:
    """Appends entries that look like what the app writes: an actor, a case, an item."""

    def __init__(self, database: Database, users: list[User], cases: list[Case]) -> None:
        self.database = database
        self.users = users
        self.cases = cases
        self.count = 0

    def append(self, session: Session) -> None:
        number = self.count
        self.count += 1
        custody_log.append(
            session,
            self.users[number % len(self.users)],
            ACTIONS[number % len(ACTIONS)],
            case_id=self.cases[number % len(self.cases)].id,
            item_id=uuid.uuid4(),
            details={"n": number, "field": "title", "to": f"Witness statement {number}"},
        )

    def one_per_transaction(self, entries: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(entries):
            with self.database.sessions() as session:
                self.append(session)
                session.commit()
        return entries / (time.perf_counter() - start), _ms(time.process_time() - cpu, entries)

    def batched(self, entries: int, batch: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < entries:
            with self.database.sessions() as session:
                for _ in range(min(batch, entries - done)):
                    self.append(session)
                session.commit()
            done += batch
        return entries / (time.perf_counter() - start), _ms(time.process_time() - cpu, entries)


def _ms(seconds: float, entries: int) -> float:
    return seconds * 1000 / entries


def run(backend: str, entries: int, batch: int, repeat: int, server_url: str | None) -> Result:
    keys = custody_checkpoints.CustodyKeys("casefile.bench/custody", generate_private_key())
    with tempfile.TemporaryDirectory(prefix="casefile-bench-") as folder, fresh_database(
        backend, Path(folder), server_url
    ) as url:
        database = Database.from_url(url)
        try:
            info: dict[str, object] = {}
            custody_checkpoints.bind(info, keys, custody_checkpoints.CheckpointPolicy())
            database.sessions.configure(info=info)
            with database.sessions() as session:
                users, cases = seed_people(session, users=20, cases=50)
            writer = Writer(database, users, cases)
            writer.one_per_transaction(min(50, entries))  # warm up: imports, caches, files
            per_transaction, batched, cpu_single, cpu_batched = [], [], [], []
            for _ in range(repeat):  # the log grows from run to run, as it would
                rate, cpu = writer.one_per_transaction(entries)
                per_transaction.append(rate)
                cpu_single.append(cpu)
                rate, cpu = writer.batched(entries, batch)
                batched.append(rate)
                cpu_batched.append(cpu)
            with database.sessions() as session:
                report = verify_log(session, keys.verifier_key)
            if not report.ok or report.entries != writer.count:
                raise RuntimeError(f"the benchmark's log does not verify: {report}")
        finally:
            database.engine.dispose()
    return Result(backend, entries, per_transaction, batched, batch, cpu_single, cpu_batched)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--entries", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=100, help="entries per transaction")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best shown)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server to create a DB on")
    args = parser.parse_args(argv)
    server_url = postgres_server_url(args.postgres)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and server_url is None:
        if args.backend == "postgresql":
            parser.error("PostgreSQL needs --postgres URL or $CASEFILE_TEST_POSTGRES_URL")
        print("PostgreSQL skipped: no --postgres URL or $CASEFILE_TEST_POSTGRES_URL", flush=True)
        backends.remove("postgresql")
    results = []
    for backend in backends:
        print(f"{backend}: appending {args.entries} + {args.entries} entries "
              f"x {args.repeat}...", flush=True)
        results.append(run(backend, args.entries, args.batch, args.repeat, server_url))
    print()
    print(f"custody append, one writer, {args.entries} entries each way, best of "
          f"{args.repeat} (entries/s; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs at the end)")
    print(f"{'':<34}" + "".join(f"{r.backend:>14}" for r in results))
    rows = [
        ("one entry per transaction", [max(r.per_transaction) for r in results]),
        (f"{args.batch} entries per transaction", [max(r.batched) for r in results]),
        ("target", [TARGETS[r.backend] for r in results]),
    ]
    for label, figures in rows:
        print(f"{label:<34}" + "".join(f"{figure:>14,.0f}" for figure in figures))
    for label, cpu in (
        ("CPU ms/entry, one per transaction", [min(r.cpu_single) for r in results]),
        (f"CPU ms/entry, {args.batch} per transaction", [min(r.cpu_batched) for r in results]),
    ):
        print(f"{label:<34}" + "".join(f"{figure:>14.3f}" for figure in cpu))
    for label, best in (
        ("meets target, one per transaction", [max(r.per_transaction) for r in results]),
        (f"meets target, {args.batch} per transaction", [max(r.batched) for r in results]),
    ):
        print(f"{label:<34}" + "".join(
            f"{'yes' if b >= TARGETS[r.backend] else 'NO':>14}"
            for b, r in zip(best, results, strict=True)))
    if args.repeat > 1:
        for r in results:
            singles, batches = [round(x) for x in r.per_transaction], [round(x) for x in r.batched]
            print(f"  {r.backend} runs: one per transaction {singles}, batched {batches}; CPU "
                  f"ms/entry {[round(x, 3) for x in r.cpu_single]}, "
                  f"{[round(x, 3) for x in r.cpu_batched]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
