"""Bulk actions and the CSV export of the evidence list, on SQLite and PostgreSQL.

For each backend: a fresh database at the latest schema, one case with N standard items
(rows written directly, each with a real wrapped data key; no blobs: nothing here reads
content). Then, through the logic functions the API and the web call:

- tag: the first MAX_ITEMS items tagged one request at a time (`tagging.tag_item`, one
  transaction each), against the same number tagged in one bulk action (`bulk.apply`);
- restrict: MAX_ITEMS items made restricted in one bulk action (each sealed under its data
  key, its collector indexed blindly), then the restriction lifted by a lead;
- CSV: the whole list (N items, with tags) exported (`export.csv_chunks`).

Each figure is wall time and this process's CPU time (the database server's not counted;
on a busy machine CPU time and the ratios are what compare). The log is verified at the end.

    .venv/bin/python bench/bulk_tags.py                    # SQLite, and PostgreSQL if set
    .venv/bin/python bench/bulk_tags.py --backend sqlite -n 5000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchdb import fresh_database, postgres_server_url, seed_people
from sqlalchemy import select

from casefile.db import Database, utcnow
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody.verify import verify_log
from casefile.logic.evidence.listing import ItemFilter
from casefile.logic.tags import bulk, export, tagging
from casefile.model import CaseMember, Evidence, EvidenceStatus, Role, Sensitivity, User
from casefile.vault.envelope import Keyring
from casefile.verifier.signed_note import generate_private_key


def timed(label: str, work: Callable[[], object], count: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<44} {wall:8.3f} s wall  {cpu:8.3f} s CPU  "
          f"{cpu / count * 1000:7.2f} ms CPU/item")
    return wall, cpu


def run(backend: str, url: str, items: int, keyring: Keyring) -> None:
    keys = custody_checkpoints.CustodyKeys("casefile.bench/custody", generate_private_key())
    database = Database.from_url(url)
    info: dict[str, object] = {}
    custody_checkpoints.bind(info, keys, custody_checkpoints.CheckpointPolicy())
    database.sessions.configure(info=info)
    with database.sessions() as session:
        users, cases = seed_people(session, 1, 1)
        lead, case = users[0], cases[0]
        session.add(CaseMember(case_id=case.id, user_id=lead.id, role=Role.LEAD))
        rows = []
        for seq in range(1, items + 1):
            item_id = uuid.uuid4()
            rows.append(Evidence(
                id=item_id, case_id=case.id, seq=seq, batch=1, ern=f"MMR-OTP-0001-{seq:06d}",
                title=f"Photo {seq} ဓာတ်ပုံ", mime="image/jpeg", size=1000 + seq,
                sha256=f"{seq:064x}", sensitivity=Sensitivity.STANDARD,
                status=EvidenceStatus.ACTIVE, collector={"collected_by": f"Team {seq % 7}"},
                wrapped_key=keyring.new_data_key(item_id.bytes).wrapped, created_at=utcnow(),
                created_by_id=lead.id,
            ))
        session.add_all(rows)
        session.commit()
        lead = session.get_one(User, lead.id)
        ids = list(session.scalars(select(Evidence.id).order_by(Evidence.seq)))
    cap = min(bulk.MAX_ITEMS, items)
    print(f"{backend}: {items} items, bulk actions on {cap}")

    def one_by_one() -> None:
        for item_id in ids[:cap]:
            with database.sessions() as session:
                tagging.tag_item(session, lead, item_id, tagging.TagItemInput(tag="single"),
                                 keyring=keyring)

    def in_bulk(action: str, **fields: object) -> Callable[[], None]:
        def work() -> None:
            with database.sessions() as session:
                data = bulk.parse({"action": action, "ids": [str(i) for i in ids[:cap]],
                                   **fields})
                bulk.apply(session, lead, case.id, data, keyring=keyring)
        return work

    single = timed("tag, one request per item", one_by_one, cap)
    many = timed("tag, one bulk action", in_bulk("tag", tag="bulk"), cap)
    print(f"  bulk / one by one: {many[0] / single[0]:.1%} of the wall time, "
          f"{many[1] / single[1]:.1%} of the CPU time")
    timed("restrict (seal), one bulk action", in_bulk("set_sensitivity",
                                                        sensitivity="restricted"), cap)
    timed("lift the restriction (unseal), one bulk action",
          in_bulk("set_sensitivity", sensitivity="standard"), cap)

    size = 0

    def export_all() -> None:
        nonlocal size
        with database.sessions() as session:
            chunks = export.csv_chunks(session, lead, case.id, ItemFilter(), keyring=keyring)
            size = sum(len(chunk) for chunk in chunks)

    timed(f"CSV of all {items} items", export_all, items)
    print(f"  CSV: {size / 1e6:.2f} MB")
    with database.sessions() as session:
        report = verify_log(session, keys.verifier_key)
        print(f"  custody verify: {'ok' if report.ok else report.mismatch}, "
              f"{report.entries} entries")
    database.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("-n", "--items", type=int, default=5000)
    parser.add_argument("--postgres", default=None)
    arguments = parser.parse_args()
    server = postgres_server_url(arguments.postgres)
    backends = ["sqlite", "postgresql"] if arguments.backend == "both" else [arguments.backend]
    with tempfile.TemporaryDirectory() as folder:
        Keyring.create_file(Path(folder) / "kek.json")
        keyring = Keyring.load(Path(folder) / "kek.json")
        assert keyring is not None  # noqa: S101
        for backend in backends:
            if backend == "postgresql" and server is None:
                print("postgresql: skipped (no --postgres nor CASEFILE_TEST_POSTGRES_URL)")
                continue
            with fresh_database(backend, Path(folder), server) as url:
                run(backend, url, arguments.items, keyring)
    return 0


if __name__ == "__main__":
    sys.exit(main())
