"""Every kind of writing transaction at once, from many threads, against one case: uploads,
duplicate uploads, downloads and views, tus uploads completing, member changes, legal holds,
grants and withdrawals, deletions, transfers, checkpoints, listings. Under the one lock order
(docs/custody.md, "Lock order") none of them fails, none is even aborted and replayed, and
what they leave is whole: gapless custody sequence numbers and ERNs, a log that verifies."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import random
import threading
import uuid

import pytest
from sqlalchemy import select

from casefile.db import Database
from casefile.logic import retry
from casefile.logic.cases import cases, ern, members
from casefile.logic.cases.members import MemberInput
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import transfers as transfer_log
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.custody.transfers import TransferInput
from casefile.logic.custody.verify import verify_log
from casefile.logic.errors import Conflict
from casefile.logic.evidence import deletion, grants, listing, reading, registration, tus
from casefile.logic.evidence.deletion import DeletionInput, LegalHoldInput
from casefile.logic.evidence.grants import GrantInput
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.model import (
    CustodyAction,
    CustodyEntry,
    Evidence,
    EvidenceStatus,
    Role,
    Sensitivity,
    User,
)
from casefile.vault.blobstore import LocalBlobStore
from casefile.vault.envelope import Keyring
from casefile.verifier.signed_note import generate_private_key
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes

THREADS = 8
ROUNDS = 2  # each thread runs every operation this many times, in its own shuffled order


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def replays(monkeypatch):
    """Every transaction the database aborted for a lock conflict (retried or not)."""
    seen: list[str] = []
    real = retry.is_transient

    def spy(error):
        transient = real(error)
        if transient:
            seen.append(str(error).splitlines()[0])
        return transient

    monkeypatch.setattr(retry, "is_transient", spy)
    return seen


class Mix:
    """The shared world: one case, its people, a store, keys; one operation per method."""

    def __init__(self, database: Database, store, keyring, keys) -> None:
        self.database = database
        self.store = store
        self.keyring = keyring
        self.keys = keys
        with database.sessions() as session:
            lead = make_user(session, "lead@example.org")
            case = make_case(session, lead)
            self.lead_id, self.case_id = lead.id, case.id
            # Per thread: a member who receives grants, and a person whose membership churns.
            self.grantees, self.churners = [], []
            for number in range(THREADS):
                grantee = make_user(session, f"grantee{number}@example.org")
                add_member(session, case, lead, grantee, Role.INVESTIGATOR)
                self.grantees.append(grantee.email)
                self.churners.append(make_user(session, f"churn{number}@example.org").email)
            self.stable = [self._upload(session, lead, f"stable {n}".encode()).id
                           for n in range(3)]
            self.restricted = self._upload(session, lead, b"witness statement",
                                           Sensitivity.RESTRICTED).id
        self.refused_under_hold: list[str] = []
        self.deleted: list[uuid.UUID] = []

    def _upload(self, session, actor, content, sensitivity=Sensitivity.STANDARD):
        stream = IntakeStream(self.store, self.keyring)
        stream.write(content)
        return registration.register_upload(
            session, actor, self.case_id, stream,
            EvidenceInput(title="item", sensitivity=sensitivity),
            filename="item.txt", declared_mime="text/plain",
            store=self.store, keyring=self.keyring,
        ).item

    def upload(self, session, lead, number):
        self._upload(session, lead, f"upload by {number} {uuid.uuid4()}".encode())

    def duplicate_upload(self, session, lead, number):
        del number
        item = self._upload(session, lead, b"stable 0")  # the bytes of a stable item
        assert item.id == self.stable[0]

    def download(self, session, lead, number):
        item_id = self.stable[number % len(self.stable)]
        _, chunks = reading.read_content(session, lead, item_id, store=self.store,
                                          keyring=self.keyring)
        assert b"".join(chunks) == f"stable {number % len(self.stable)}".encode()

    def view(self, session, lead, number):
        del number
        _, chunks = reading.read_content(session, lead, self.stable[1], store=self.store,
                                          keyring=self.keyring,
                                          action=CustodyAction.VIEWED)
        b"".join(chunks)

    def listing(self, session, lead, number):
        del number
        assert listing.list_items(session, lead, self.case_id)
        session.commit()

    def tus_upload(self, session, lead, number):
        content = f"resumable {number} {uuid.uuid4()}".encode() * 50
        upload = tus.create(session, lead, self.case_id, length=len(content),
                            metadata={"filename": "r.bin"}, max_size=1 << 20,
                            store=self.store, keyring=self.keyring)
        half = len(content) // 2
        for offset, part in ((0, content[:half]), (half, content[half:])):
            upload = tus.receive(session, lead, upload.id, offset=offset, body=io.BytesIO(part),
                                 content_length=len(part), checksum=None, store=self.store,
                                 keyring=self.keyring)
        assert upload.evidence_id is not None

    def membership(self, session, lead, number):
        email = self.churners[number]
        person = session.scalar(select(User).where(User.email == email))
        members.add_member(session, lead, self.case_id, MemberInput(email=email, role=Role.VIEWER))
        members.change_role(session, lead, self.case_id, person.id, Role.LAWYER)
        members.remove_member(session, lead, self.case_id, person.id)

    def legal_hold(self, session, lead, number):
        for on in (True, False):
            deletion.set_legal_hold(session, lead, self.case_id,
                                    LegalHoldInput(on=on, reason=f"thread {number}"))

    def grant(self, session, lead, number):
        email = self.grantees[number]
        grants.grant(session, lead, self.restricted, GrantInput(email=email))
        person = session.scalar(select(User).where(User.email == email))
        grants.revoke(session, lead, self.restricted, person.id)

    def delete(self, session, lead, number):
        item = self._upload(session, lead, f"to delete {number} {uuid.uuid4()}".encode())
        try:
            deletion.delete_item(session, lead, item.id, DeletionInput(reason="test deletion"),
                                 store=self.store)
            self.deleted.append(item.id)
        except Conflict as refused:  # another thread's legal hold was on at that moment
            self.refused_under_hold.append(refused.message)

    def transfer(self, session, lead, number):
        transfer_log.record_transfer(session, lead, self.case_id, TransferInput(
            from_party=f"field team {number}", to_party="registry",
            when=dt.datetime.now(dt.UTC), reason="secure storage", item_id=self.stable[2]))

    def checkpoint(self, session, lead, number):
        del lead, number

        def sign():
            custody_checkpoints.make_checkpoint(session, self.keys)
            session.commit()

        retry.run(session, sign)

    OPERATIONS = ("upload", "duplicate_upload", "download", "view", "listing", "tus_upload",
                  "membership", "legal_hold", "grant", "delete", "transfer", "checkpoint")


def test_every_writer_at_once_leaves_a_whole_log(fresh_database_url, tmp_path, replays):
    database = Database.from_url(fresh_database_url)
    keyring_path = tmp_path / "kek.json"
    Keyring.create_file(keyring_path)
    keys = CustodyKeys("casefile.test/custody", generate_private_key())
    mix = Mix(database, LocalBlobStore(tmp_path / "blobs"), Keyring.load(keyring_path), keys)
    errors: list[tuple[str, BaseException]] = []
    done: list[str] = []
    start = threading.Barrier(THREADS)

    def worker(number: int) -> None:
        order = list(Mix.OPERATIONS) * ROUNDS
        random.Random(number).shuffle(order)
        start.wait()
        for name in order:
            try:
                with database.sessions() as session:
                    lead = session.get(User, mix.lead_id)
                    getattr(mix, name)(session, lead, number)
                done.append(name)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append((name, error))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    try:
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert replays == []  # not even one transaction aborted: the lock order holds
        assert len(done) == THREADS * ROUNDS * len(Mix.OPERATIONS)
        assert mix.deleted
        assert all("legal hold" in message for message in mix.refused_under_hold)
        check_what_is_left(database, mix)
    finally:
        database.engine.dispose()


def check_what_is_left(database: Database, mix: Mix) -> None:
    """Gapless custody and ERNs, a log that verifies, every live item readable."""
    keys = mix.keys
    with database.sessions() as session:
        custody_checkpoints.make_checkpoint(session, keys)
        session.commit()
        seqs = list(session.scalars(select(CustodyEntry.seq).order_by(CustodyEntry.seq)))
        assert seqs == list(range(len(seqs)))
        report = verify_log(session, keys.verifier_key)
        assert report.ok, report.mismatch
        items = list(session.scalars(
            select(Evidence).where(Evidence.case_id == mix.case_id).order_by(Evidence.seq)))
        assert [item.seq for item in items] == list(range(1, len(items) + 1))
        case = cases.get_case(session, session.get(User, mix.lead_id), mix.case_id)
        assert [item.ern for item in items] == [
            ern.render(case.ern_pattern, seq=item.seq, batch=1, year=item.created_at.year)
            for item in items
        ]
        deleted = sum(item.status == EvidenceStatus.DELETED for item in items)
        assert deleted == len(mix.deleted)
        assert not case.legal_hold  # every thread turned its hold off again
        # Every live item still reads back to the bytes it was registered with.
        lead = session.get(User, mix.lead_id)
        for item in items:
            if item.status != EvidenceStatus.ACTIVE or item.sensitivity != Sensitivity.STANDARD:
                continue
            _, chunks = reading.read_content(session, lead, item.id, store=mix.store,
                                              keyring=mix.keyring)
            assert hashlib.sha256(b"".join(chunks)).hexdigest() == item.sha256


def test_two_grants_of_one_person_at_once_answer_conflict_not_a_key_error(
    fresh_database_url, tmp_path, monkeypatch
):
    """Both requests pass their checks before either writes; the second then waits for the
    custody lock and finds the first's grant: 409, not an IntegrityError (a 500)."""
    database = Database.from_url(fresh_database_url)
    keyring_path = tmp_path / "kek.json"
    Keyring.create_file(keyring_path)
    keys = CustodyKeys("casefile.test/custody", generate_private_key())
    mix = Mix(database, LocalBlobStore(tmp_path / "blobs"), Keyring.load(keyring_path), keys)
    both_checked = threading.Barrier(2)
    real_find = grants.find_by_email

    def find_then_wait(session, email):
        found = real_find(session, email)
        # On SQLite the second cannot even begin (BEGIN IMMEDIATE): the first goes on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=3)
        return found

    monkeypatch.setattr(grants, "find_by_email", find_then_wait)
    outcomes: list[str] = []

    def grant() -> None:
        with database.sessions() as session:
            lead = session.get(User, mix.lead_id)
            try:
                grants.grant(session, lead, mix.restricted, GrantInput(email=mix.grantees[0]))
                outcomes.append("granted")
            except Conflict:
                outcomes.append("conflict")
            except Exception as error:  # noqa: BLE001 - the failure this test is about
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=grant) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["conflict", "granted"]
    finally:
        database.engine.dispose()
