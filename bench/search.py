"""Search over a large case load, in process (no HTTP): 100,000 items and 10,000 incidents
(a tenth of each in Burmese) spread over 4 cases, the caller a member of 2; prints p50 and
p95 milliseconds (wall and this process's CPU) of `logic.search.query.search` for two-word
queries with one filter (the item type), a first page of 20, on the backend chosen.

Items, incidents and their index rows are inserted directly in bulk (no custody entries, no
blobs): what is measured is the query. A few restricted items (with a grant to the caller)
are indexed blindly, so the blind branch of the query runs too.

    .venv/bin/python bench/search.py                                  # SQLite
    .venv/bin/python bench/search.py --backend postgresql             # $CASEFILE_TEST_POSTGRES_URL
    .venv/bin/python bench/search.py --items 20000 --incidents 2000   # quick
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchdb import fresh_database, postgres_server_url, seed_people
from sqlalchemy import insert, text

from casefile.db import Database, utcnow
from casefile.logic.evidence import metadata
from casefile.logic.search import index, terms
from casefile.logic.search.query import SearchFilter, search
from casefile.model import (
    CaseMember,
    DatePrecision,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Incident,
    IncidentStatus,
    Role,
    SearchBlindTerm,
    SearchBody,
    SearchDocument,
    Sensitivity,
)
from casefile.vault.envelope import Keyring

ENGLISH = (  # noqa: SIM905 - a word list reads best as words
    "village burned soldiers arrived dawn fled river houses mosque school market road "
    "helicopter shelling witness statement video photo injured killed detained border camp "
    "refugees family children women men night fire smoke gunfire checkpoint convoy bridge "
    "hill forest field rice boat island township district region interview transcript "
    "satellite image hospital clinic monastery church teacher farmer fisherman trader"
).split()
BURMESE = (  # noqa: SIM905
    "စစ်တပ် ရွာ မီးရှို့ ခဲ့ သည် ကျောင်းသား ထွက်ပြေး မြစ် အိမ် ဗလီ ဈေး လမ်း ရဟတ်ယာဉ် "
    "သက်သေ ဗီဒီယို ဓာတ်ပုံ ဒဏ်ရာ သေဆုံး ဖမ်းဆီး နယ်စပ် စခန်း ဒုက္ခသည် မိသားစု ကလေး "
    "အမျိုးသမီး ညဘက် မီး မီးခိုး သေနတ် ကင်း တံတား တောင် တော လယ် လှေ မြို့နယ် ခရိုင်"
).split()
TYPES = ("image/jpeg", "video/mp4", "application/pdf", "text/plain", "audio/mpeg")
BATCH = 5000


def sentence(rng: random.Random, burmese: bool, words: int) -> str:
    if burmese:  # Burmese is written without spaces between words; clauses end with ။
        chosen = rng.choices(BURMESE, k=words)
        return "".join(chosen[: words // 2]) + " " + "".join(chosen[words // 2 :]) + "။"
    return " ".join(rng.choices(ENGLISH, k=words)).capitalize() + "."


def load(database: Database, keyring: Keyring, items: int, incidents: int, seed: int) -> object:
    rng = random.Random(seed)
    with database.session() as session:
        people, cases = seed_people(session, users=2, cases=4)
        me = people[0]
        for case in cases[:2]:
            session.add(CaseMember(case_id=case.id, user_id=me.id, role=Role.INVESTIGATOR))
        session.commit()
        key = metadata.index_key(session, keyring, create=True)
        session.commit()
        if key is None:
            raise SystemExit("no blind index key")
        start = time.perf_counter()
        evidence_rows, document_rows, blind_rows, grants = [], [], [], []
        bodies: list[dict[str, object]] = []
        for number in range(items):
            case = cases[number % 4]
            burmese = number % 10 == 0
            restricted = number % 1000 == 1
            title = sentence(rng, burmese, 5)
            description = sentence(rng, burmese, 30)
            collected_by = f"Field team {rng.randint(1, 40)}"
            item_id = uuid.uuid4()
            created = utcnow()
            evidence_rows.append({
                "id": item_id, "case_id": case.id, "seq": number + 1, "batch": 1,
                "ern": f"MMR-{number + 1:07d}", "title": title, "description": description,
                "mime": rng.choice(TYPES), "size": 1000, "sha256": f"{number:064x}",
                "declared_hashes": {}, "flags": [],
                "sensitivity": Sensitivity.RESTRICTED if restricted else Sensitivity.STANDARD,
                "status": EvidenceStatus.ACTIVE, "collector": {"collected_by": collected_by},
                "extracted": {}, "created_at": created,
            })
            parts = [title, description, collected_by]
            document_id = number + 1
            document_rows.append({
                "id": document_id, "kind": index.EVIDENCE, "doc_id": item_id,
                "case_id": case.id, "created_at": created, "restricted": restricted,
                "mime": evidence_rows[-1]["mime"],
            })
            if restricted:
                grants.append({"evidence_id": item_id, "user_id": me.id, "granted_at": created})
                blind_rows.extend(
                    {"document_id": document_id, "term_hash": term_hash}
                    for term_hash in index.blind_hashes(key, parts)
                )
            else:
                bodies.append({"document_id": document_id, "body": terms.body(parts)})
            if len(evidence_rows) == BATCH:
                _flush(session, evidence_rows, document_rows, bodies, blind_rows, grants)
        _flush(session, evidence_rows, document_rows, bodies, blind_rows, grants)
        incident_rows, document_rows = [], []
        for number in range(incidents):
            case = cases[number % 4]
            burmese = number % 10 == 0
            incident_id, created = uuid.uuid4(), utcnow()
            title, narrative = sentence(rng, burmese, 6), sentence(rng, burmese, 60)
            incident_rows.append({
                "id": incident_id, "case_id": case.id, "title": title, "narrative": narrative,
                "date_precision": DatePrecision.DAY, "status": IncidentStatus.REPORTED,
                "version": 1, "created_at": created, "updated_at": created,
            })
            document_rows.append({
                "id": items + number + 1, "kind": index.INCIDENT, "doc_id": incident_id,
                "case_id": case.id, "created_at": created, "restricted": False,
            })
            bodies.append({"document_id": items + number + 1,
                           "body": terms.body([title, narrative])})
        for chunk in range(0, len(incident_rows), BATCH):
            session.execute(insert(Incident), incident_rows[chunk : chunk + BATCH])
            session.execute(insert(SearchDocument), document_rows[chunk : chunk + BATCH])
            session.execute(insert(SearchBody), bodies[chunk : chunk + BATCH])
        session.commit()
        print(f"loaded {items:,} items and {incidents:,} incidents in "
              f"{time.perf_counter() - start:.1f} s")
        return me


def _flush(session, evidence_rows, document_rows, bodies, blind_rows, grants) -> None:  # noqa: PLR0917
    for rows, model in (
        (evidence_rows, Evidence),
        (document_rows, SearchDocument),
        (bodies, SearchBody),
        (grants, EvidenceGrant),
        (blind_rows, SearchBlindTerm),
    ):
        if rows:
            session.execute(insert(model), rows)
        rows.clear()
    session.commit()


def analyse(database: Database) -> None:
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if database.engine.dialect.name == "postgresql":
            connection.execute(text("VACUUM ANALYZE"))
        else:
            connection.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
            connection.execute(text("ANALYZE"))


def measure(database: Database, keyring: Keyring, me_id: uuid.UUID, rounds: int, seed: int) -> None:
    rng = random.Random(seed + 1)
    queries = []
    for number in range(rounds):
        words = BURMESE if number % 10 == 0 else ENGLISH
        queries.append(" ".join(rng.sample(words, 2)))
    where = SearchFilter(type="image/")
    walls, cpus, servers, found = [], [], [], []
    with database.session() as session:
        from casefile.model import User  # noqa: PLC0415

        me = session.get(User, me_id)
        search(session, me, "village fire", keyring=keyring, where=where)  # warm
        backend = _backend_pid(session)
        for query in queries:
            session.rollback()
            wall, cpu = time.perf_counter(), time.process_time()
            server = _server_cpu(backend)
            page = search(session, me, query, keyring=keyring, where=where, limit=20)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            if backend is not None:
                servers.append(_server_cpu(backend) - server)
            found.append(len(page.items))
    print(f"{rounds} two-word queries, filter type=image/, first page of 20 "
          f"(results per page: median {statistics.median(found):.0f}, "
          f"{sum(1 for n in found if n == 0)} empty)")
    rows = [("wall", walls), ("cpu (this process)", cpus)]
    if servers:  # clock ticks of the PostgreSQL backend serving the session (10 ms steps)
        rows.append(("cpu (pg backend)", servers))
        rows.append(("cpu (both)", [a + b for a, b in zip(cpus, servers, strict=True)]))
    for name, values in rows:
        ordered = sorted(values)
        p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
        print(f"  {name:18} p50 {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms   "
              f"max {ordered[-1]:7.1f} ms   (target p95 <= 100 ms)")


def _backend_pid(session) -> int | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar())


def _server_cpu(pid: int | None) -> float:
    """Milliseconds of CPU the PostgreSQL backend has used (user + system), from /proc: the
    server runs on this machine."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", help="server URL (default $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    print(f"backend {args.backend}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        kek = Path(folder) / "kek.json"
        Keyring.create_file(kek)
        keyring = Keyring.load(kek)
        with fresh_database(args.backend, Path(folder), postgres_server_url(args.postgres)) as url:
            database = Database.from_url(url)
            me = load(database, keyring, args.items, args.incidents, args.seed)
            analyse(database)
            measure(database, keyring, me.id, args.rounds, args.seed)
            database.engine.dispose()


if __name__ == "__main__":
    main()
