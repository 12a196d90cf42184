"""What purging a deleted document's terms from SQLite's FTS5 index costs, on the index
bench/search.py builds (100,000 items and 10,000 incidents by default): per action, the
delete of one document's terms alone, then the delete followed by FTS5's `optimize` in the
same transaction (what a restriction or a deletion does: logic/search/engines.py). Prints
wall and this process's CPU milliseconds (SQLite runs in this process), median and max, and
the size of `search_fts_data`.

    .venv/bin/python bench/fts_purge.py                       # 100,000 items
    .venv/bin/python bench/fts_purge.py --items 20000 --incidents 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchdb import fresh_database
from search import load  # bench/search.py: the same index
from sqlalchemy import text

from casefile.db import Database
from casefile.vault.envelope import Keyring


def timed(database: Database, statements: list[str], rowid: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    with database.session() as session:
        for statement in statements:
            session.execute(text(statement), {"rowid": rowid})
        session.commit()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def fts_bytes(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT sum(length(block)) FROM search_fts_data")).scalar())


def report(label: str, figures: list[tuple[float, float]]) -> None:
    walls, cpus = [f[0] for f in figures], [f[1] for f in figures]
    print(f"{label:<34} wall median {statistics.median(walls):8.1f} ms  max {max(walls):8.1f} ms"
          f"  CPU median {statistics.median(cpus):8.1f} ms  max {max(cpus):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    print(f"sqlite; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rng = random.Random(args.seed)
    delete = "DELETE FROM search_bodies WHERE document_id = :rowid"
    optimize = "INSERT INTO search_fts(search_fts) VALUES ('optimize')"
    with tempfile.TemporaryDirectory() as folder:
        kek = Path(folder) / "kek.json"
        Keyring.create_file(kek)
        keyring = Keyring.load(kek)
        with fresh_database("sqlite", Path(folder), None) as url:
            database = Database.from_url(url)
            load(database, keyring, args.items, args.incidents, args.seed)
            with database.session() as session:
                rowids = list(session.execute(text("SELECT document_id FROM search_bodies"))
                              .scalars())
            print(f"{len(rowids)} documents with terms; search_fts_data "
                  f"{fts_bytes(database) / 1e6:.1f} MB as loaded")
            chosen = rng.sample(rowids, 3 * args.rounds)
            first = timed(database, [delete, optimize], chosen.pop())  # from many segments
            print(f"first delete + optimize (segments as loaded): wall {first[0]:.0f} ms, "
                  f"CPU {first[1]:.0f} ms; search_fts_data {fts_bytes(database) / 1e6:.1f} MB")
            report("delete alone", [timed(database, [delete], chosen.pop())
                                    for _ in range(args.rounds)])
            report("delete + optimize", [timed(database, [delete, optimize], chosen.pop())
                                         for _ in range(args.rounds)])
            database.engine.dispose()


if __name__ == "__main__":
    main()
