"""One lock order for every writing transaction (docs/custody.md, "Lock order"): a
transaction holding the case row and one holding the custody lock never wait for each other
in a cycle; the case row lock is FOR NO KEY UPDATE, which the foreign-key checks of custody
inserts (FOR KEY SHARE on the case row) do not wait for."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from casefile.db import Database
from casefile.logic import authz, keys
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.evidence import reading, registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.model import CustodyAction, CustodyEntry, Evidence, EvidenceStatus
from casefile.vault import envelope
from casefile.vault.blobstore import LocalBlobStore
from casefile.vault.envelope import Keyring
from tests.factories import make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def fresh(fresh_database_url):
    database = Database.from_url(fresh_database_url)
    yield database
    database.engine.dispose()


def upload(session, actor, case_id, content: bytes, *, store, keyring):
    stream = IntakeStream(store, keyring)
    stream.write(content)
    return registration.register_upload(session, actor, case_id, stream, EvidenceInput(title="x"),
                                        filename="x.txt", declared_mime="text/plain",
                                        store=store, keyring=keyring)


def test_a_case_lock_holder_and_a_custody_lock_holder_do_not_deadlock(fresh, store, keyring):
    """The deadlock of issue 9: a registration holds the case row and waits for the custody
    lock; a download holds the custody lock and its entry's foreign key waits for the case
    row. With FOR UPDATE on the case row PostgreSQL detects a deadlock and kills one."""
    with fresh.sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        item = upload(session, lead, case.id, b"first", store=store, keyring=keyring).item
        lead_id, case_id, item_id = lead.id, case.id, item.id
    errors: list[BaseException] = []
    downloaded = threading.Event()

    def download() -> None:
        try:
            with fresh.sessions() as other:
                actor = other.get(type(lead), lead_id)
                _, chunks = reading.read_content(other, actor, item_id, store=store,
                                                  keyring=keyring)
                assert b"".join(chunks) == b"first"
            downloaded.set()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    with fresh.sessions() as session:
        actor = session.get(type(lead), lead_id)
        # What a registration, a deletion, a member change or a legal hold does first.
        authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE, for_update=True)
        thread = threading.Thread(target=download)
        thread.start()
        # PostgreSQL: the download takes the custody lock and writes its entry meanwhile.
        # SQLite: it waits for this transaction's write lock, and goes on after the commit.
        downloaded.wait(timeout=3)
        custody_log.append(session, actor, CustodyAction.INTEGRITY_CHECKED, case_id=case_id)
        session.commit()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    with fresh.sessions() as session:
        actions = [entry.action for entry in session.scalars(
            select(CustodyEntry).order_by(CustodyEntry.seq))]
    assert actions[-2:] in (
        [CustodyAction.DOWNLOADED, CustodyAction.INTEGRITY_CHECKED],
        [CustodyAction.INTEGRITY_CHECKED, CustodyAction.DOWNLOADED],
    )


def test_key_rotation_never_brings_back_a_data_key_a_deletion_destroyed(fresh, store, tmp_path):
    """Rotation rewraps item rows batch by batch while the server runs. An item deleted
    meanwhile must stay crypto-shredded: rotation locks the rows it rewraps (FOR NO KEY
    UPDATE) and skips one whose key is gone by the time it holds the lock. A plain read
    followed by an UPDATE wrote the old key, rewrapped, over the deletion's NULL."""
    kek_path = tmp_path / "rotation-kek.json"
    Keyring.create_file(kek_path)
    keyring = Keyring.load(kek_path)
    with fresh.sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        item_id = upload(session, lead, case.id, b"witness", store=store, keyring=keyring).item.id
        kept_id = upload(session, lead, case.id, b"kept", store=store, keyring=keyring).item.id
    errors: list[BaseException] = []

    def rotate() -> None:
        try:
            with fresh.sessions() as other:
                keys.rotate(other, kek_path)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    thread = threading.Thread(target=rotate)
    with fresh.sessions() as session:
        item = session.get(Evidence, item_id)
        # What a deletion does to its item, not yet committed when rotation reaches it.
        item.status = EvidenceStatus.DELETED
        item.wrapped_key = None
        session.flush()
        thread.start()
        thread.join(timeout=1.5)  # PostgreSQL: rotation waits for this row
        session.commit()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    with fresh.sessions() as session:
        assert session.get(Evidence, item_id).wrapped_key is None
        kept = session.get(Evidence, kept_id)
        assert envelope.wrapped_by(kept.wrapped_key) == Keyring.load(kek_path).primary_key_id
