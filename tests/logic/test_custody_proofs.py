"""Inclusion proofs computed in batch (casefile/logic/custody/proofs.py): the same hashes as
one proof at a time, from one query, and reports built from them verify offline."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, select, text

from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.logic.custody import proofs as custody_proofs
from casefile.logic.custody import reports as custody_reports
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.model import CustodyAction, CustodyEntry, Role
from casefile.verifier import merkle
from casefile.verifier.custody_verifier import verify_report
from casefile.verifier.signed_note import generate_private_key
from tests.factories import add_member, make_case, make_user


@pytest.fixture(scope="module")
def keys():
    return CustodyKeys("casefile.test/custody", generate_private_key())


def append_many(session, count, case_id=None):
    for number in range(count):
        custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED, case_id=case_id,
                       details={"n": number})  # fmt: skip
    session.commit()


def statements(session):
    """Counts the statements run on the session's connection from here on."""
    seen: list[str] = []
    engine = session.connection().engine

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_batched_proofs_are_the_per_entry_proofs_and_verify(session, keys):
    checkpoints = []
    for count in (1, 6, 10, 16, 4):  # sizes 1, 7, 17, 33, 37: perfect and ragged trees
        append_many(session, count)
        checkpoints.append(custody_checkpoints.make_checkpoint(session, keys))
    leaves = {e.seq: e.leaf_hash for e in session.scalars(select(CustodyEntry))}
    for checkpoint in checkpoints:
        seqs = list(range(checkpoint.size))
        batched = custody_proofs.inclusion_proofs(session, seqs, checkpoint.size)
        assert sorted(batched) == seqs
        for seq in seqs:
            assert batched[seq] == custody_proofs.inclusion_proof(session, seq, checkpoint.size)
            merkle.verify_inclusion(leaves[seq], seq, checkpoint.size, batched[seq],
                                    checkpoint.root)  # fmt: skip
    some = [0, 5, 5, 17, 36]  # a few, repeated and out of order
    assert custody_proofs.inclusion_proofs(session, some, 37) == {
        seq: custody_proofs.inclusion_proof(session, seq, 37) for seq in some
    }
    assert custody_proofs.inclusion_proofs(session, [], 37) == {}


def test_a_batch_of_proofs_is_one_query(session, keys):
    append_many(session, 300)
    custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    seen, stop = statements(session)
    try:
        proofs = custody_proofs.inclusion_proofs(session, range(0, 300, 3), 300)
    finally:
        stop()
    assert len(proofs) == 100
    assert len(seen) == 1, seen


def test_a_missing_node_is_an_error_not_a_wrong_proof(session, keys):
    append_many(session, 5)
    with pytest.raises(RuntimeError, match="missing"):
        custody_proofs.inclusion_proofs(session, [0, 4], 9)  # nodes past the log's end


def test_sqlite_reads_each_node_by_primary_key(session):
    if session.connection().dialect.name != "sqlite":
        pytest.skip("SQLite's plan")
    plan = session.execute(
        text("EXPLAIN QUERY PLAN " + str(custody_proofs._SQLITE_NODES_AT)),
        {"wanted": json.dumps([[0, 1], [1, 0]])},
    ).all()
    details = " ".join(row[-1] for row in plan)
    assert "SCAN wanted" in details
    assert "SEARCH n USING" in details and "SCAN n" not in details, details


def test_whole_and_paged_case_reports_verify_offline(session, keys):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    for number in range(7):
        add_member(session, case, lead, make_user(session, f"m{number}@example.org"),
                   Role.VIEWER)  # fmt: skip
        append_many(session, 3)  # entries of no case between the case's own
    whole = custody_reports.case_report(session, lead, case.id, keys)
    assert len(whole["entries"]) == 8
    verdict = verify_report(json.loads(json.dumps(whole)), keys.verifier_key)
    assert verdict.valid and verdict.entries_checked == 8, verdict.problems

    pages, cursor = [], None
    while True:
        page = custody_reports.case_report_page(session, lead, case.id, keys,
                                                limit=3, cursor=cursor)  # fmt: skip
        verdict = verify_report(json.loads(json.dumps(page)), keys.verifier_key)
        assert verdict.valid, verdict.problems
        pages.append(page)
        cursor = page["next"]
        if cursor is None:
            break
    assert [len(p["entries"]) for p in pages] == [3, 3, 2]
    paged = [entry for page in pages for entry in page["entries"]]
    assert [e["seq"] for e in paged] == [e["seq"] for e in whole["entries"]]
    assert [e["leaf_hash"] for e in paged] == [e["leaf_hash"] for e in whole["entries"]]
