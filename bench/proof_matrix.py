"""The proof matrix of a case with N proof links (default 10,000), built and rendered in
process: the logic alone (`matrix.build`), the API's JSON (`GET /api/v1/cases/{id}/proof-matrix`)
and the HTML page (`GET /cases/{id}/proof-matrix`), through the Flask test client (no socket),
for a lead who holds every grant and for a viewer from whom a tenth of the items (restricted,
no grant) are hidden. Prints the median wall time and CPU time (process_time) of R runs each;
target: each ≤ 500 ms. The machine may be shared: CPU time is the steadier figure.

The case is written directly (no custody entries: they are not read here): 2,000 items (a
tenth restricted), 20 charges of the Rome Statute (their elements from the shipped file) and
N links spread over items, charges and elements, of every strength.

    .venv/bin/python bench/proof_matrix.py                      # SQLite, 10,000 links
    .venv/bin/python bench/proof_matrix.py --backend postgresql  # $CASEFILE_TEST_POSTGRES_URL
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchdb import fresh_database, postgres_server_url
from sqlalchemy import insert

from casefile import create_app
from casefile.db import Database, utcnow
from casefile.logic.accounts import accounts
from casefile.logic.frameworks import matrix, registry
from casefile.model import (
    Case,
    CaseMember,
    Charge,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Forum,
    ProofLink,
    Role,
    Sensitivity,
    Strength,
)
from casefile.settings import DEVELOPMENT_SECRET_KEY, Settings
from casefile.vault import signing_key
from casefile.vault.envelope import Keyring

PASSWORD = "bench passphrase of some length"  # noqa: S105 - a throwaway bench account
CRIMES = [
    "6(a)",
    "6(b)",
    "6(c)",
    "7(1)(a)",
    "7(1)(d)",
    "7(1)(e)",
    "7(1)(f)",
    "7(1)(g)",
    "7(1)(h)",
    "7(1)(k)",
    "8(2)(c)(i)",
    "8(2)(e)(i)",
    "8(2)(e)(iv)",
    "8(2)(e)(v)",
    "8(2)(e)(viii)",
    "8(2)(e)(xii)",
    "25(3)(a)",
    "25(3)(b)",
    "28(a)",
    "28(b)",
]
ITEMS = 2000


def seed(database: Database, links: int) -> uuid.UUID:
    rome = registry.packaged()[("rome-statute", 1)]
    with database.sessions() as session:
        lead, viewer = (
            accounts.create_account(
                session,
                None,
                accounts.parse_account_input(email=email, password=PASSWORD),
                min_password_length=12,
            )
            for email in ("lead@example.org", "viewer@example.org")
        )
        case = Case(
            title="ရခိုင် ရှင်းလင်းရေး စစ်ဆင်ရေး",
            forum=Forum.ICC,
            ern_pattern="MMR-{seq:05d}",
            languages=["en", "my"],
            created_by_id=lead.id,
        )
        session.add(case)
        session.flush()
        session.add_all(
            [
                CaseMember(case_id=case.id, user_id=lead.id, role=Role.LEAD, added_by_id=lead.id),
                CaseMember(
                    case_id=case.id, user_id=viewer.id, role=Role.VIEWER, added_by_id=lead.id
                ),
            ]
        )
        items = []
        for seq in range(1, ITEMS + 1):
            restricted = seq % 10 == 0
            items.append(
                {
                    "id": uuid.uuid4(),
                    "case_id": case.id,
                    "seq": seq,
                    "batch": 1,
                    "ern": f"MMR-{seq:05d}",
                    "title": f"Statement {seq} ရွာသား ထွက်ဆိုချက်",
                    "mime": "text/plain",
                    "size": 100,
                    "sha256": hashlib.sha256(str(seq).encode()).hexdigest(),
                    "declared_hashes": {},
                    "flags": [],
                    "collector": {},
                    "extracted": {},
                    "sensitivity": Sensitivity.RESTRICTED if restricted else Sensitivity.STANDARD,
                    "status": EvidenceStatus.ACTIVE,
                    "created_at": utcnow(),
                    "created_by_id": lead.id,
                }
            )
        session.execute(insert(Evidence), items)
        session.execute(
            insert(EvidenceGrant),
            [
                {
                    "evidence_id": item["id"],
                    "user_id": lead.id,
                    "granted_by_id": lead.id,
                    "granted_at": utcnow(),
                }
                for item in items
                if item["sensitivity"] == Sensitivity.RESTRICTED
            ],
        )
        charges = []
        for crime_id in CRIMES:
            charge = Charge(
                case_id=case.id,
                framework_id="rome-statute",
                framework_version=1,
                crime_id=crime_id,
                created_by_id=lead.id,
            )
            session.add(charge)
            charges.append(charge)
        session.flush()
        cells = [
            (charge.id, element.id)
            for charge in charges
            for element in rome.crime(charge.crime_id).elements  # type: ignore[union-attr]
        ]
        strengths = itertools.cycle(list(Strength))
        now = utcnow()
        rows = []
        for number in range(links):
            charge_id, element_id = cells[number % len(cells)]
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "case_id": case.id,
                    "charge_id": charge_id,
                    "element_id": element_id,
                    "evidence_id": items[number // len(cells) % ITEMS]["id"],
                    "incident_id": None,
                    "strength": next(strengths),
                    "note": f"note {number}: စစ်တပ်ကရွာကိုမီးရှို့ခဲ့သည်",
                    "created_at": now,
                    "created_by_id": lead.id,
                    "updated_at": now,
                    "updated_by_id": lead.id,
                }
            )
        session.execute(insert(ProofLink), rows)
        session.commit()
        return case.id


def timed(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def run(backend: str, links: int, repeat: int, server_url: str | None, pdf: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="casefile-bench-matrix-") as name:
        folder = Path(name)
        with fresh_database(backend, folder, server_url) as url:
            instance = folder / "instance"
            instance.mkdir(mode=0o700)
            (folder / "storage").mkdir(mode=0o700)
            signing_key.create(instance / signing_key.FILE_NAME)
            Keyring.create_file(instance / "kek.json")
            app = create_app(
                Settings(
                    env="development",
                    instance_path=instance,
                    database_url_override=url,
                    storage_url=(folder / "storage").as_uri(),
                    secret_key=DEVELOPMENT_SECRET_KEY,
                )
            )
            app.config["WTF_CSRF_ENABLED"] = False
            database: Database = app.extensions["casefile.db"]
            try:
                case_id = seed(database, links)
                print(
                    f"{backend}: {links:,} links, {ITEMS:,} items (a tenth restricted), "
                    f"{len(CRIMES)} charges; median of {repeat} runs, wall / CPU ms "
                    f"(target ≤ 500)"
                )
                for who in ("lead", "viewer"):
                    client = app.test_client()
                    signed = client.post(
                        "/login", data={"email": f"{who}@example.org", "password": PASSWORD}
                    )
                    assert signed.status_code == 303, signed.status_code  # noqa: S101
                    with database.sessions() as session:
                        actor = accounts.find_by_email(session, f"{who}@example.org")

                        def build(session=session, actor=actor) -> object:
                            return matrix.build(session, actor, case_id)

                        shown = build()
                        assert isinstance(shown, matrix.Matrix)  # noqa: S101
                        count = sum(len(c.links) for r in shown.rows for c in r.elements)
                        logic = timed(build, repeat)

                    def get(path: str, client=client) -> object:
                        response = client.get(path)
                        assert response.status_code == 200, response.status_code  # noqa: S101
                        return response.get_data()

                    api = timed(lambda: get(f"/api/v1/cases/{case_id}/proof-matrix"), repeat)
                    page = timed(lambda: get(f"/cases/{case_id}/proof-matrix"), repeat)
                    size = len(get(f"/cases/{case_id}/proof-matrix"))  # type: ignore[arg-type]
                    if pdf and who == "lead":
                        path = f"/cases/{case_id}/proof-matrix.pdf"
                        wall, cpu = timed(lambda path=path: get(path), 1)
                        body = get(path)
                        assert isinstance(body, bytes)  # noqa: S101
                        print(
                            f"  PDF export (lead), once: {wall:,.0f} / {cpu:,.0f} ms, "
                            f"{len(body) / 2**20:.1f} MiB"
                        )
                    print(
                        f"  {who:6} sees {count:6,} links: build {logic[0]:6.0f} / "
                        f"{logic[1]:4.0f}   API JSON {api[0]:6.0f} / {api[1]:4.0f}   "
                        f"HTML page {page[0]:6.0f} / {page[1]:4.0f} ({size / 2**20:.1f} MiB)"
                    )
            finally:
                database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("-n", "--links", type=int, default=10_000)
    parser.add_argument("-r", "--repeat", type=int, default=5)
    parser.add_argument("--postgres", help="server URL (default: $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("--pdf", action="store_true", help="also time the PDF export once")
    options = parser.parse_args()
    run(
        options.backend,
        options.links,
        options.repeat,
        postgres_server_url(options.postgres),
        pdf=options.pdf,
    )


if __name__ == "__main__":
    main()
