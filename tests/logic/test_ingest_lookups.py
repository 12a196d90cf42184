"""Bulk ingest's lookups by SHA-256 (which digests the case holds, the case's items with the
bytes being registered): the same answers on both databases, and on PostgreSQL one probe of
`(case_id, sha256)` per digest, with the planner's statistics refreshed as the run adds items
(without them, a case the statistics did not know was read whole for every lookup)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from casefile.logic.evidence import ingest, ingest_db, ingest_run
from casefile.logic.evidence.sharing import CaseContent, with_sha256s
from casefile.model import Evidence, EvidenceGrant, EvidenceStatus, Role, Sensitivity
from casefile.vault.blobstore import LocalBlobStore
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def people(session):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    session.commit()
    return lead, investigator, case


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def make_drive(root: Path, count: int) -> Path:
    drive = root / "drive"
    drive.mkdir()
    for number in range(count):
        (drive / f"IMG_{number:03d}.bin").write_bytes(os.urandom(64) + number.to_bytes(2, "big"))
    return drive


def run_ingest(session, actor, case, drive, *, store, keyring):
    return ingest.ingest(
        session, actor, case.id, ingest.plan([drive]).files, store=store, keyring=lambda: keyring
    )


def items(session, case):
    return list(session.scalars(select(Evidence).where(Evidence.case_id == case.id)))


def test_lookups_by_digest_answer_as_before(session, people, store, keyring, tmp_path):
    lead, investigator, case = people
    summary = run_ingest(
        session, investigator, case, make_drive(tmp_path, 6), store=store, keyring=keyring
    )
    assert summary.added == 6
    found = sorted(items(session, case), key=lambda item: item.seq)
    deleted, restricted, *active = found
    deleted.status = EvidenceStatus.DELETED
    restricted.sensitivity = Sensitivity.RESTRICTED  # the investigator holds no grant to it
    active[2].sha256 = active[1].sha256  # two items with the same bytes (as shared content)
    session.commit()
    unknown = "0" * 64
    asked = [item.sha256 for item in found] + [unknown, active[0].sha256]

    visible = ingest_db.sha256s_in_case(session, investigator, case.id, asked)
    assert visible == {item.sha256 for item in active}
    assert len(visible) == len(active) - 1
    session.add(EvidenceGrant(evidence_id=restricted.id, user_id=lead.id, granted_by_id=lead.id))
    session.commit()
    assert ingest_db.sha256s_in_case(session, lead, case.id, asked) == {
        item.sha256 for item in [restricted, *active]
    }
    assert ingest_db.sha256s_in_case(session, investigator, case.id, asked) == visible
    assert ingest_db.sha256s_in_case(session, investigator, case.id, []) == set()

    view = CaseContent.read(session, case.id, asked)
    same: dict[str, list[Evidence]] = {}
    for item in [restricted, *active]:  # by seq
        same.setdefault(item.sha256, []).append(item)
    assert view.same == same
    assert view.same[active[1].sha256] == [active[1], active[2]]
    assert view.last_seq == found[-1].seq
    assert CaseContent.read(session, case.id, []).same == {}


class Explain(Executable, ClauseElement):
    """EXPLAIN (FORMAT JSON) of a statement, its parameters bound as for the statement."""

    inherit_cache = False

    def __init__(self, statement) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element, compiler, **kw):
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def scans_of_evidence(session, statement) -> list[tuple[str, str | None]]:
    """(node type, index) of each scan of the evidence table in the statement's plan."""
    plan = session.execute(Explain(statement)).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    scans: list[tuple[str, str | None]] = []

    def walk(node):
        if node.get("Relation Name") == "evidence":
            scans.append((node["Node Type"], node.get("Index Name")))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return scans


def test_postgresql_statistics_follow_the_run_and_each_digest_is_one_probe(
    session, people, store, keyring, *, tmp_path, monkeypatch
):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's statistics are PostgreSQL's")
    _, investigator, case = people
    monkeypatch.setattr(ingest_db, "STATISTICS_FROM", 8)
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", 8)
    before = ingest_db.planned_items(session, case.id)
    summary = run_ingest(
        session, investigator, case, make_drive(tmp_path, 40), store=store, keyring=keyring
    )
    assert summary.added == 40
    # Analyzed as the run went: the planner knows the case is no handful of rows.
    assert before < 8
    assert ingest_db.planned_items(session, case.id) * 2 >= 40
    digests = [item.sha256 for item in items(session, case)][:5]
    query = select(Evidence.sha256).where(
        Evidence.case_id == case.id, Evidence.status == EvidenceStatus.ACTIVE
    )
    # A case of 40 items fits a page or two, where a scan is right: among the indexes, which.
    # (Bitmap scans off too: statistics other tests left on the shared table may make one of
    # the same index a bitmap scan, whose index this walk would not name.)
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    assert scans_of_evidence(session, with_sha256s(session, query, digests)) == [
        ("Index Scan", "ix_evidence_case_sha256")
    ]


def test_statistics_are_due_at_each_doubling():
    start = ingest_db.STATISTICS_FROM
    assert not ingest_db.statistics_due(0, start - 1)
    assert ingest_db.statistics_due(start - 1, start)
    assert not ingest_db.statistics_due(start, start + 10)
    assert ingest_db.statistics_due(start + 10, 2 * start + 5)
    assert ingest_db.statistics_due(0, 4 * start)
    assert not ingest_db.statistics_due(4 * start, 8 * start - 1)


def test_statistics_left_alone_on_sqlite_and_while_the_planner_knows_the_case(
    session, people, monkeypatch
):
    _, _, case = people
    ran: list[str] = []
    real_execute = type(session).execute

    def execute(self, statement, *args, **kwargs):
        ran.append(str(statement))
        return real_execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(type(session), "execute", execute)
    ingest_db.keep_statistics(session, case.id, 0, ingest_db.STATISTICS_FROM - 1)  # not due
    if session.get_bind().dialect.name == "postgresql":
        monkeypatch.setattr(ingest_db, "planned_items", lambda *_: 10_000.0)
    ingest_db.keep_statistics(session, case.id, 0, ingest_db.STATISTICS_FROM)
    assert not [statement for statement in ran if "ANALYZE" in statement.upper()]


def test_statistics_are_refreshed_with_ctrl_c_not_held(
    session, people, store, keyring, *, tmp_path, monkeypatch
):
    """An ANALYZE of a large table may take seconds: the run asks for it after the batch's
    committed block that holds Ctrl-C back, so Ctrl-C never waits on it (review finding)."""
    import signal  # noqa: PLC0415

    _, investigator, case = people
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", 8)
    handlers = []
    monkeypatch.setattr(ingest_db, "keep_statistics",
                        lambda *_: handlers.append(signal.getsignal(signal.SIGINT)))
    before = signal.getsignal(signal.SIGINT)
    summary = run_ingest(
        session, investigator, case, make_drive(tmp_path, 20), store=store, keyring=keyring
    )
    assert summary.added == 20
    assert handlers
    assert all(handler is before for handler in handlers)
