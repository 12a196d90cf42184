"""The custody log: appends, checkpoints, proofs, and `verify` catching every kind of
tampering an attacker with database access could try."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from casefile.db import Database
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import log as custody_log
from casefile.logic.custody import log_state as custody_log_state
from casefile.logic.custody import proofs as custody_proofs
from casefile.logic.custody import reports as custody_reports
from casefile.logic.custody.checkpoints import CheckpointPolicy, CustodyKeys
from casefile.logic.custody.verify import verify_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.model import CustodyAction, CustodyCheckpoint, CustodyEntry, Role
from casefile.verifier import merkle
from casefile.verifier.custody_entry import entry_bytes_from_json
from casefile.verifier.custody_verifier import verify_report
from casefile.verifier.signed_note import Checkpoint, generate_private_key, open_note, sign_note
from tests.factories import add_member, make_case, make_user

TABLES = ("custody_entries", "custody_nodes", "custody_checkpoints")


@pytest.fixture(scope="module")
def keys():
    return CustodyKeys("casefile.test/custody", generate_private_key())


@pytest.fixture
def lead(session):
    return make_user(session, "lead@example.org")


def append_many(session, count, actor=None, case_id=None):
    for number in range(count):
        custody_log.append(session, actor, CustodyAction.INTEGRITY_CHECKED, case_id=case_id,
                       details={"n": number, "note": "ဗမာ ✓"})
    session.commit()


def all_entries(session):
    return list(session.scalars(select(CustodyEntry).order_by(CustodyEntry.seq)))


def test_entries_are_gapless_leaves_of_an_rfc6962_tree(session, keys):
    append_many(session, 13)
    entries = all_entries(session)
    assert [e.seq for e in entries] == list(range(13))
    for entry in entries:
        encoded = entry_bytes_from_json(custody_entries.entry_json(entry))
        assert entry.leaf_hash == hashlib.sha256(b"\x00" + encoded).digest()
        assert json.loads(encoded)["seq"] == entry.seq  # the bytes are plain canonical JSON
    reference = merkle.MemoryNodes([e.leaf_hash for e in entries])
    checkpoint = custody_checkpoints.make_checkpoint(session, keys)
    assert checkpoint.size == 13
    assert checkpoint.root == reference.root()


def test_case_actions_write_entries_in_the_same_transaction(session, lead):
    case = make_case(session, lead)
    viewer = make_user(session, "viewer@example.org")
    add_member(session, case, lead, viewer, Role.VIEWER)
    actions = [e.action for e in custody_entries.entries_for(session, case_id=case.id)]
    assert actions == [CustodyAction.CASE_CREATED, CustodyAction.MEMBER_ADDED]
    created = custody_entries.entries_for(session, case_id=case.id)[0]
    assert created.actor_id == lead.id
    assert created.actor_label == "lead <lead@example.org>"
    assert json.loads(created.details)["reference"] == "ICC-01/19"
    from casefile.logic.cases import members  # noqa: PLC0415

    with pytest.raises(Conflict):  # refused action: no entry either
        members.remove_member(session, lead, case.id, lead.id)
    assert len(custody_entries.entries_for(session, case_id=case.id)) == 2


def test_checkpoints_are_signed_notes_and_append_only(session, keys):
    append_many(session, 3)
    first = custody_checkpoints.make_checkpoint(session, keys)
    # nothing new: the same one
    assert custody_checkpoints.make_checkpoint(session, keys).size == first.size
    body = open_note(first.note, keys.verifier_key)
    parsed = Checkpoint.parse(body)
    assert (parsed.origin, parsed.size, parsed.root) == (keys.origin, 3, first.root)
    assert body.splitlines()[0] == "casefile.test/custody"
    append_many(session, 4)
    second = custody_checkpoints.make_checkpoint(session, keys)
    proof = custody_checkpoints.consistency_proof(session, 3, 7)
    merkle.verify_consistency(3, 7, first.root, second.root, proof)
    assert [c.size for c in custody_checkpoints.list_checkpoints(session, start=4)] == [7]


def test_automatic_checkpoints_by_count(session, keys):
    custody_checkpoints.bind(
        session.info, keys, CheckpointPolicy(every_entries=5, every_minutes=60)
    )
    append_many(session, 12)
    sizes = [c.size for c in custody_checkpoints.list_checkpoints(session)]
    assert sizes == [1, 6, 11]  # the first entry starts the clock; then every 5


def test_proofs_and_their_errors(session, keys):
    append_many(session, 21)
    checkpoint = custody_checkpoints.make_checkpoint(session, keys)
    for entry in all_entries(session):
        proof = custody_proofs.inclusion_proof(session, entry.seq, checkpoint.size)
        merkle.verify_inclusion(entry.leaf_hash, entry.seq, checkpoint.size, proof, checkpoint.root)
    with pytest.raises(ValidationFailed):
        custody_checkpoints.consistency_proof(session, 21, 3)
    with pytest.raises(NotFound):
        custody_checkpoints.consistency_proof(session, 5, 21)  # 5 was never signed


def test_case_report_verifies_offline_and_detects_tampering(session, lead, keys):
    case = make_case(session, lead)
    add_member(session, case, lead, make_user(session, "v@example.org"), Role.VIEWER)
    report = custody_reports.case_report(session, lead, case.id, keys)
    assert len(report["entries"]) == 2
    verdict = verify_report(json.loads(json.dumps(report)), keys.verifier_key)
    assert verdict.valid, verdict.problems
    report["entries"][1]["details"]["role"] = "lead"
    verdict = verify_report(report, keys.verifier_key)
    assert not verdict.valid
    assert "entry 1" in verdict.problems[0] or "entry" in verdict.problems[0]
    other = CustodyKeys("casefile.test/custody", generate_private_key())
    assert not verify_report(report, other.verifier_key).valid
    outsider = make_user(session, "outsider@example.org")
    with pytest.raises(NotFound):
        custody_reports.case_report(session, outsider, case.id, keys)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_database_refuses_rewrites(connection, session, keys, table, verb):
    append_many(session, 2)
    custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    column = {"custody_entries": "actor_label = 'x'", "custody_nodes": "level = level",
              "custody_checkpoints": "origin = 'x'"}[table]
    statement = f"UPDATE {table} SET {column}" if verb == "UPDATE" else f"DELETE FROM {table}"
    savepoint = connection.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(statement))
    savepoint.rollback()


# --- verify: tampering by someone who can bypass the triggers ---------------------------------


def bypass_triggers(connection):
    """What an attacker with database owner rights does first (undone with the test's
    transaction)."""
    if connection.dialect.name == "sqlite":
        for table in TABLES:
            for op in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER {table}_no_{op}"))
    else:
        for table in TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


@pytest.fixture
def signed_log(session, keys):
    append_many(session, 10)
    custody_checkpoints.make_checkpoint(session, keys)
    append_many(session, 6)
    custody_checkpoints.make_checkpoint(session, keys)
    append_many(session, 2)  # two entries after the last checkpoint
    assert verify_log(session, keys.verifier_key).ok
    return session


def run_verify(connection, session, keys, *statements):
    bypass_triggers(connection)
    for statement in statements:
        connection.exec_driver_sql(statement)
    session.expire_all()
    return verify_log(session, keys.verifier_key)


def test_verify_accepts_an_untouched_log(signed_log, keys):
    report = verify_log(signed_log, keys.verifier_key)
    assert report.ok
    assert (report.entries, report.checkpoints) == (18, 2)


def test_verify_catches_an_edited_row(connection, signed_log, keys):
    report = run_verify(connection, signed_log, keys,
                        "UPDATE custody_entries SET actor_label = 'someone else' WHERE seq = 4")
    assert (report.mismatch.what, report.mismatch.where) == ("entry", 4)


def test_verify_catches_an_edit_with_recomputed_leaf_hash(connection, signed_log, keys):
    entry = signed_log.get(CustodyEntry, 7)
    forged = {**custody_entries.entry_json(entry), "details": {"n": 999}}
    leaf = merkle.leaf_hash(entry_bytes_from_json(forged)).hex()
    hex_literal = f"X'{leaf}'" if connection.dialect.name == "sqlite" else f"'\\x{leaf}'::bytea"
    report = run_verify(
        connection, signed_log, keys,
        f"""UPDATE custody_entries SET details = '{{"n":999}}', leaf_hash = {hex_literal}
            WHERE seq = 7""",
        f'UPDATE custody_nodes SET hash = {hex_literal} WHERE level = 0 AND "index" = 7',
    )
    assert report.mismatch.what in ("checkpoint", "node")
    assert not report.ok


def test_verify_catches_a_deleted_row(connection, signed_log, keys):
    report = run_verify(connection, signed_log, keys, "DELETE FROM custody_entries WHERE seq = 5")
    assert (report.mismatch.what, report.mismatch.where) == ("entry", 5)
    assert "missing" in report.mismatch.message


def test_verify_catches_an_inserted_row(connection, signed_log, keys):
    # Make room at 3 by shifting later entries up, then slip a forged entry in.
    shift = ("UPDATE custody_entries SET seq = seq + 1000 WHERE seq >= 3",
             "UPDATE custody_entries SET seq = seq - 999 WHERE seq >= 1000")
    forged = signed_log.get(CustodyEntry, 3)
    insert = (
        "INSERT INTO custody_entries (seq, time, actor_id, actor_label, action, case_id, "
        "item_id, details, leaf_hash) SELECT 3, time, actor_id, 'forger', action, case_id, "
        "item_id, details, leaf_hash FROM custody_entries WHERE seq = 4"
    )
    del forged
    report = run_verify(connection, signed_log, keys, *shift, insert)
    assert (report.mismatch.what, report.mismatch.where) == ("entry", 3)


def test_verify_catches_swapped_rows(connection, signed_log, keys):
    report = run_verify(
        connection, signed_log, keys,
        "UPDATE custody_entries SET seq = -1 WHERE seq = 2",
        "UPDATE custody_entries SET seq = 2 WHERE seq = 6",
        "UPDATE custody_entries SET seq = 6 WHERE seq = -1",
    )
    assert (report.mismatch.what, report.mismatch.where) == ("entry", 2)


def test_verify_catches_a_forged_checkpoint(connection, signed_log, keys):
    report = run_verify(connection, signed_log, keys,
                        "UPDATE custody_checkpoints SET note = replace(note, '\n10\n', '\n11\n')")
    assert (report.mismatch.what, report.mismatch.where) == ("checkpoint", 10)


def test_verify_catches_a_re_signed_checkpoint(connection, signed_log, keys):
    # An attacker with a key of their own signs a checkpoint over a rewritten log.
    attacker = generate_private_key()
    note = sign_note(Checkpoint(keys.origin, 16, b"\x07" * 32).to_text(), keys.origin, attacker)
    report = run_verify(connection, signed_log, keys,
                        f"UPDATE custody_checkpoints SET note = '{note}', root = root "
                        "WHERE size = 16")
    assert (report.mismatch.what, report.mismatch.where) == ("checkpoint", 16)
    assert "signature" in report.mismatch.message


def test_verify_catches_a_truncated_log(connection, signed_log, keys):
    report = run_verify(
        connection, signed_log, keys,
        "DELETE FROM custody_entries WHERE seq >= 12",
        'DELETE FROM custody_nodes WHERE level = 0 AND "index" >= 12',
    )
    assert (report.mismatch.what, report.mismatch.where) == ("checkpoint", 16)
    assert "removed" in report.mismatch.message


def test_verify_catches_a_tampered_tree_node(connection, signed_log, keys):
    column = '"index"'
    report = run_verify(
        connection, signed_log, keys,
        f"UPDATE custody_nodes SET hash = (SELECT hash FROM custody_nodes WHERE level = 0 "
        f"AND {column} = 0) WHERE level = 2 AND {column} = 1",
    )
    assert (report.mismatch.what, report.mismatch.where) == ("node", 2)


def test_append_refuses_to_extend_a_tree_with_a_missing_node(connection, signed_log):
    # 18 entries: the frontier is the perfect subtrees at levels 4 (0-15) and 1 (16-17).
    bypass_triggers(connection)
    connection.exec_driver_sql('DELETE FROM custody_nodes WHERE level = 1 AND "index" = 8')
    signed_log.expire_all()
    with pytest.raises(RuntimeError, match=r"missing at levels \[1\]"):
        custody_log.append(signed_log, None, CustodyAction.INTEGRITY_CHECKED)
    assert custody_entries.log_size(signed_log) == 18  # nothing appended


def test_append_state_matches_the_stored_tree_at_every_size(session):
    # Each append in its own transaction reads the head (size, frontier) back from the
    # database; the roots must equal a tree built in memory from the same leaves.
    leaves = []
    for number in range(40):
        entry = custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED,
                               details={"n": number})
        leaves.append(entry.leaf_hash)
        session.commit()
        state = custody_log_state.take_lock(session)
        assert state.tree.size == number + 1
        assert state.tree.root() == merkle.MemoryNodes(leaves).root()
        session.rollback()


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_writers_leave_no_gaps(fresh_database_url, keys):
    database = Database.from_url(fresh_database_url)
    writers = 50 if fresh_database_url.startswith("postgresql") else 8
    per_writer = 4
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(number: int) -> None:
        try:
            start.wait()
            for item in range(per_writer):
                with database.sessions() as session:
                    custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED,
                                   item_id=uuid.uuid4(), details={"writer": number, "i": item})
                    session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with database.sessions() as session:
            custody_checkpoints.make_checkpoint(session, keys)
            session.commit()
            report = verify_log(session, keys.verifier_key)
            seqs = list(session.scalars(select(CustodyEntry.seq).order_by(CustodyEntry.seq)))
            checkpoints = list(session.scalars(select(CustodyCheckpoint)))
        assert report.ok, report.mismatch
        assert seqs == list(range(writers * per_writer))
        assert checkpoints[-1].size == writers * per_writer
    finally:
        database.engine.dispose()
