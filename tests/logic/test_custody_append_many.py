"""custody_log.append_many: several entries written at once make exactly the log that one
`append` per entry makes (leaves, tree nodes, automatic checkpoints), and a failure part of
the way through leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from casefile.logic.accounts import accounts
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.checkpoints import CheckpointPolicy, CustodyKeys
from casefile.logic.custody.log import NewEntry
from casefile.logic.custody.verify import verify_log
from casefile.model import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode
from casefile.verifier import merkle
from casefile.verifier.custody_entry import EncodingError, canonical_json
from casefile.verifier.signed_note import generate_private_key
from tests.factories import make_case, make_user

ACTIONS = (CustodyAction.INTAKE, CustodyAction.SUBMITTED_AGAIN, CustodyAction.VIEWED)


@pytest.fixture(scope="module")
def keys():
    return CustodyKeys("casefile.test/custody", generate_private_key())


@pytest.fixture
def clock(monkeypatch):
    """Entry times from a clock that the test restarts, so two runs write the same bytes."""
    base = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ticks = {"next": itertools.count()}

    def now():
        return base + dt.timedelta(microseconds=next(ticks["next"]))

    def restart():
        ticks["next"] = itertools.count()

    monkeypatch.setattr(custody_log, "utcnow", now)  # entry times
    monkeypatch.setattr(custody_checkpoints, "utcnow", now)  # when a checkpoint is due
    return restart


def new_entries(count, actor, case_id, start=0):
    return [
        NewEntry(
            actor if number % 2 else None,
            ACTIONS[number % len(ACTIONS)],
            case_id=case_id,
            details={"n": start + number, "note": "ဗမာ ✓", "nested": {"b": [1, None], "a": True}},
        )
        for number in range(count)
    ]


def whole_log(session):
    session.expire_all()
    entries = [
        (e.seq, e.time, e.actor_id, e.actor_label, e.action, e.case_id, e.details, e.leaf_hash)
        for e in session.scalars(select(CustodyEntry).order_by(CustodyEntry.seq))
    ]
    nodes = [
        (n.level, n.index, n.hash)
        for n in session.scalars(select(CustodyNode).order_by(CustodyNode.level, CustodyNode.index))
    ]
    checkpoints = [
        (c.size, c.root, c.note)
        for c in session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.size))
    ]
    return entries, nodes, checkpoints


def written(database, connection, keys, write):
    """The whole log after `write(session)` on top of what is there, then undone."""
    undo = connection.begin_nested()
    try:
        with database.sessions() as session:
            custody_checkpoints.bind(
                session.info, keys, CheckpointPolicy(every_entries=5, every_minutes=60)
            )
            write(session)
            session.commit()
            return whole_log(session)
    finally:
        undo.rollback()


@pytest.mark.parametrize("batches", [[23], [1, 4, 1, 7, 10], [5, 5, 13]])
def test_batched_appends_write_the_log_of_single_appends(
    database, connection, session, keys, *, clock, batches
):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)  # a log that does not start empty: seq 0 is the case's
    session.commit()
    wanted = new_entries(sum(batches), lead, case.id)

    def singles(session):
        for new in wanted:
            custody_log.append(
                session, new.actor, new.action, case_id=new.case_id, details=new.details
            )

    def batched(session):
        start = 0
        for number, size in enumerate(batches):
            # Every other batch without its entities returned (bulk intake's way): the same log.
            entities = number % 2 == 0
            returned = custody_log.append_many(
                session, wanted[start : start + size], entities=entities
            )
            assert [e.details for e in returned] == [
                canonical_json(dict(new.details or {}))
                for new in wanted[start : start + size]
                if entities
            ]
            start += size

    clock()
    one_by_one = written(database, connection, keys, singles)
    clock()
    together = written(database, connection, keys, batched)

    entries, nodes, checkpoints = together
    assert together == one_by_one
    assert [seq for seq, *_ in entries] == list(range(len(entries)))  # gapless
    prior = len(entries) - len(wanted)
    assert prior >= 1
    # the first append starts the clock (no checkpoint yet); then one every 5 entries
    assert [size for size, *_ in checkpoints] == list(range(prior + 1, len(entries) + 1, 5))
    leaves = [leaf for *_, leaf in entries]
    for size, root, _ in checkpoints:
        assert root == merkle.MemoryNodes(leaves[:size]).root()
    assert (0, len(leaves) - 1, leaves[-1]) in nodes
    assert len(nodes) == 2 * len(leaves) - len(leaves).bit_count()  # every perfect subtree


def test_batched_appends_verify_and_continue_in_later_transactions(session, keys):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    session.commit()
    prior = custody_entries.log_size(session)
    for round_ in range(3):
        custody_log.append_many(session, new_entries(9, lead, case.id, start=round_ * 9))
        custody_log.append(session, None, CustodyAction.VIEWED, case_id=case.id)
        session.commit()
    assert custody_log.append_many(session, []) == []
    custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    seqs = list(session.scalars(select(CustodyEntry.seq).order_by(CustodyEntry.seq)))
    assert seqs == list(range(len(seqs)))
    assert len(seqs) == prior + 3 * 10
    report = verify_log(session, keys.verifier_key)
    assert report.ok, report.mismatch


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        # refused while the entries are computed: the 9th has a float in its details
        ({"details": {"weight": 1.5}}, EncodingError),
        # refused by the database when written: the 9th names a case that does not exist,
        # after two automatic checkpoints and the entries before them have been written
        ({"case_id": uuid.uuid4()}, IntegrityError),
    ],
)
def test_a_failure_part_of_the_way_leaves_nothing(session, keys, bad, error):
    custody_checkpoints.bind(
        session.info, keys, CheckpointPolicy(every_entries=5, every_minutes=60)
    )
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    session.commit()
    before = whole_log(session)
    entries = new_entries(12, lead, case.id)
    entries[8] = NewEntry(
        lead, CustodyAction.VIEWED, **{"case_id": case.id, "details": {"n": 8}, **bad}
    )
    with pytest.raises(error):
        custody_log.append_many(session, entries)
    session.rollback()
    assert whole_log(session) == before
    # The log's state was let go with the transaction: the next append starts where the log
    # really ends, and the log verifies.
    appended = custody_log.append(session, None, CustodyAction.VIEWED, case_id=case.id)
    session.commit()
    assert appended.seq == len(before[0])
    custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    report = verify_log(session, keys.verifier_key)
    assert report.ok, report.mismatch


def test_a_label_longer_than_its_column_is_stored_as_hashed(session, keys):
    """A display name of 200 characters with an address of 253 make a label past the column's
    400: the name is shortened before the entry is hashed, so the log verifies on both
    databases (PostgreSQL's cast to varchar(400)[] in the batched INSERT once cut the stored
    label silently after its leaf hash was computed over the whole one)."""
    email = "w" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 56 + ".org"
    data = accounts.parse_account_input(
        email=email, password="a long enough passphrase", display_name="ဒေါ်" * 50
    )
    actor = accounts.create_account(session, None, data, min_password_length=12)
    case = make_case(session, make_user(session, "lead@example.org"))
    session.commit()
    custody_log.append_many(session, new_entries(4, actor, case.id))
    custody_log.append(session, actor, CustodyAction.VIEWED, case_id=case.id)
    session.commit()
    labels = set(
        session.scalars(select(CustodyEntry.actor_label).where(CustodyEntry.actor_label.contains(email)))
    )
    (label,) = labels
    assert len(label) == custody_log.LABEL_WIDTH
    assert label.startswith("ဒေါ်ဒေါ်") and label.endswith(f"… <{email}>")
    custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    report = verify_log(session, keys.verifier_key)
    assert report.ok, report.mismatch
