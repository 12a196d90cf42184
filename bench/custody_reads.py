"""What a case's custody report costs to build, in process (no HTTP, no other load): the log
holds N entries, one case's share of them interleaved with the others'; prints milliseconds
for a page of the case's report (50 entries, the API's default), for its whole report with
the proofs computed in batch (custody_proofs), and for the whole report with one proof at a
time (custody_proofs.inclusion_proof per entry, as before the batch), and the statements each ran.

    .venv/bin/python bench/custody_reads.py                       # SQLite, 3,000 entries
    .venv/bin/python bench/custody_reads.py --backend postgresql -n 3000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchdb import fresh_database, postgres_server_url, seed_people
from sqlalchemy import event

from casefile.db import Database
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.logic.custody import proofs as custody_proofs
from casefile.logic.custody import reports as custody_reports
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.model import CaseMember, CustodyAction, Role, User
from casefile.verifier.signed_note import generate_private_key


def build_log(database: Database, entries: int, share: int) -> tuple[User, uuid.UUID, CustodyKeys]:
    """`entries` entries, one in `share` of them the bench case's; a checkpoint at the end."""
    keys = CustodyKeys("casefile.bench/custody", generate_private_key())
    with database.session() as session:
        people, cases = seed_people(session, users=2, cases=2)
        session.add(CaseMember(case_id=cases[0].id, user_id=people[0].id, role=Role.LEAD))
        session.commit()
        for number in range(entries):
            case = cases[0] if number % share == 0 else cases[1]
            custody_log.append(session, people[0], CustodyAction.DOWNLOADED, case_id=case.id,
                           details={"n": number})  # fmt: skip
            if number % 500 == 499:
                session.commit()
        custody_checkpoints.make_checkpoint(session, keys)
        session.commit()
        return people[0], cases[0].id, keys


def timed(database: Database, work, repeat: int) -> tuple[float, int]:
    """Median milliseconds of `work(session)`, each in a new session; statements per run."""
    times, count = [], [0]

    def counted(*_args: object) -> None:
        count[0] += 1

    event.listen(database.engine, "before_cursor_execute", counted)
    try:
        for _ in range(repeat):
            count[0] = 0
            with database.session() as session:
                began = time.perf_counter()
                work(session)
                times.append((time.perf_counter() - began) * 1e3)
    finally:
        event.remove(database.engine, "before_cursor_execute", counted)
    return statistics.median(times), count[0]


def per_entry_report(session, actor, case_id, keys) -> None:
    """The report as it was built before: one inclusion proof query (or more) per entry."""
    entries = custody_reports.case_activity(session, actor, case_id,
                                            limit=custody_reports.MAX_REPORT_ENTRIES)  # fmt: skip
    checkpoint = custody_checkpoints.checkpoint_covering(session, keys, entries[-1].seq)
    for entry in entries:
        custody_proofs.inclusion_proof(session, entry.seq, checkpoint.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", help="server URL (default: $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("-n", "--entries", type=int, default=3000)
    parser.add_argument("--share", type=int, default=2, help="one entry in SHARE is the case's")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="casefile-reads-") as folder,
        fresh_database(args.backend, Path(folder), postgres_server_url(args.postgres)) as url,
    ):
        database = Database.from_url(url)
        actor, case_id, keys = build_log(database, args.entries, args.share)
        with database.session() as session:
            mine = len(custody_reports.case_activity(session, actor, case_id, limit=10**6))
        print(f"{args.backend}: log of {args.entries} entries, {mine} of them the case's; "
              f"median of {args.repeat}")  # fmt: skip
        runs = {
            "page of 50 (API)": lambda s: custody_reports.case_report_page(
                s, actor, case_id, keys, limit=50, cursor=None),
            "whole report, batched proofs": lambda s: custody_reports.case_report(
                s, actor, case_id, keys),
            "whole report, one proof at a time": lambda s: per_entry_report(
                s, actor, case_id, keys),
        }  # fmt: skip
        for name, work in runs.items():
            ms, statements = timed(database, work, args.repeat)
            print(f"  {name:34} {ms:9.1f} ms  {statements:6} statements")
        database.engine.dispose()


if __name__ == "__main__":
    main()
