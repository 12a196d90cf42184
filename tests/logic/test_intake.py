"""Intake in logic/: the one-pass stream (hashes, head, encryption into the blob store) and
registration (ERNs, duplicates, flags, custody), reading back verified, and what a failure
at each step leaves behind: nothing half-registered."""

from __future__ import annotations

import hashlib
import io
import secrets
import threading

import pytest
import tink
from PIL import Image
from sqlalchemy import func, select

from casefile.db import Database
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from casefile.logic.evidence import intake, listing, reading, registration, submission
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.logic.evidence.submission import EvidenceInput
from casefile.model import (
    CustodyAction,
    CustodyEntry,
    Evidence,
    EvidenceGrant,
    Role,
    Sensitivity,
    User,
)
from casefile.vault import sniff
from casefile.vault.blobstore import LocalBlobStore
from casefile.vault.envelope import Keyring, KeyringError
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def people(session):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    return {"lead": lead, "investigator": investigator, "viewer": viewer,
            "outsider": outsider, "case": case}


def receive(store, keyring, content: bytes, chunk: int = 100_000, also=()):
    stream = IntakeStream(store, keyring, also=also)
    for start in range(0, len(content), chunk):
        stream.write(content[start : start + chunk])
    return stream.finish()


def decrypt(store, keyring, item_id, wrapped) -> bytes:
    cipher = keyring.unwrap(wrapped, item_id.bytes)
    with store.open(item_id.hex) as blob:
        return cipher.new_decrypting_stream(blob, item_id.bytes).read()


def items(session) -> list[Evidence]:
    return list(session.scalars(select(Evidence).order_by(Evidence.seq)))


def entries(session, action=None) -> list[CustodyEntry]:
    query = select(CustodyEntry).order_by(CustodyEntry.seq)
    if action is not None:
        query = query.where(CustodyEntry.action == action)
    return list(session.scalars(query))


# --- the stream -----------------------------------------------------------------------------


def test_stream_hashes_keeps_the_head_and_encrypts(store, keyring):
    content = secrets.token_bytes(300_000)
    received = receive(store, keyring, content, chunk=7_777)
    assert received.size == len(content)
    assert received.hashes == {"sha256": hashlib.sha256(content).hexdigest()}
    assert received.sha256 == hashlib.sha256(content).hexdigest()
    assert received.head == content[: sniff.HEAD_BYTES]
    assert received.content == content
    assert list(store.blob_ids()) == [received.item_id.hex]
    ciphertext = (store.root / received.item_id.hex[:2] / received.item_id.hex[2:4]
                  / received.item_id.hex).read_bytes()
    assert content[:64] not in ciphertext
    assert decrypt(store, keyring, received.item_id, received.wrapped_key) == content


@pytest.mark.parametrize("size", [300_000, 9 * MIB])  # under and over SIDE_THREAD_FROM
@pytest.mark.parametrize("also", [["md5"], ["sha1", "sha256"], ["md5", "sha1"]])
def test_declared_algorithms_are_computed_too(store, keyring, size, also):
    content = secrets.token_bytes(size)
    received = receive(store, keyring, content, chunk=MIB // 3, also=also)
    wanted = {"sha256", *also}
    assert received.hashes == {name: hashlib.new(name, content).hexdigest() for name in wanted}


def test_a_store_failure_mid_stream_fails_it_and_abort_leaves_nothing(store, keyring, monkeypatch):
    # A full disk 6 MiB into a 12 MiB file: the upload fails, and nothing is left behind.
    real = store.writer

    def failing_writer(blob_id):
        writer = real(blob_id)
        written = [0]
        original = writer.write

        def write(data):
            written[0] += len(data)
            if written[0] > 6 * MIB:
                raise OSError(28, "No space left on device")
            return original(data)

        writer.write = write
        return writer

    monkeypatch.setattr(store, "writer", failing_writer)
    stream = IntakeStream(store, keyring)

    def write_all_and_finish():
        for _ in range(12):
            stream.write(secrets.token_bytes(MIB))
        stream.finish()

    # The store's own error, not Tink's flattened copy of it: the client is told the store is
    # full (507), not that something internal failed.
    with pytest.raises(OSError, match="No space left") as raised:
        write_all_and_finish()
    assert raised.value.errno == 28
    assert isinstance(raised.value.__cause__, tink.TinkError)
    stream.abort()
    assert list(store.blob_ids()) == []
    assert list(store.leftovers()) == []


def test_the_blob_appears_only_when_the_stream_finishes(store, keyring):
    stream = IntakeStream(store, keyring)
    stream.write(b"x" * 5000)
    assert list(store.blob_ids()) == []
    assert len(list(store.leftovers())) == 1
    received = stream.finish()
    assert list(store.leftovers()) == []
    assert list(store.blob_ids()) == [received.item_id.hex]


def test_aborting_an_open_stream_leaves_nothing(store, keyring):
    stream = IntakeStream(store, keyring)
    stream.write(b"half an upload")
    stream.abort()
    assert stream.state == "aborted"
    assert list(store.blob_ids()) == [] and list(store.leftovers()) == []
    with pytest.raises(ValueError, match="aborted"):
        stream.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        stream.finish()


def test_aborting_a_finished_stream_removes_its_blob(store, keyring):
    stream = IntakeStream(store, keyring)
    stream.write(b"complete")
    stream.finish()
    stream.abort()
    assert list(store.blob_ids()) == []


def test_a_finished_stream_takes_no_more(store, keyring):
    stream = IntakeStream(store, keyring)
    stream.write(b"abc")
    stream.finish()
    with pytest.raises(ValueError, match="finished"):
        stream.write(b"d")
    with pytest.raises(ValueError, match="finished"):
        stream.finish()


def test_the_stream_rewinds_only_to_nowhere(store, keyring):
    stream = IntakeStream(store, keyring)
    assert stream.seek(0) == 0
    with pytest.raises(OSError, match="cannot seek"):
        stream.seek(5)
    with pytest.raises(OSError, match="cannot seek"):
        stream.seek(0, io.SEEK_END)
    stream.abort()


def test_an_empty_stream_is_a_valid_item(store, keyring):
    received = receive(store, keyring, b"")
    assert received.size == 0
    assert received.sha256 == hashlib.sha256(b"").hexdigest()
    assert received.head == b"" and received.content == b""
    assert decrypt(store, keyring, received.item_id, received.wrapped_key) == b""


def test_large_files_are_not_kept_whole_in_memory(store, keyring, monkeypatch):
    monkeypatch.setattr(intake, "EXTRACT_LIMIT", 200_000)
    content = secrets.token_bytes(3 * MIB + 5)  # spans several 1 MiB segments
    received = receive(store, keyring, content, chunk=65_536)
    assert received.content is None
    assert received.head == content[: sniff.HEAD_BYTES]
    assert received.sha256 == hashlib.sha256(content).hexdigest()
    assert decrypt(store, keyring, received.item_id, received.wrapped_key) == content


# --- parsing the collector's fields ---------------------------------------------------------


def test_declared_hashes_are_parsed_and_normalised():
    md5 = "9E107D9D372BB6826BD81D3542A419D6"
    assert submission.parse_declared_hashes(f" MD5:{md5} , sha1:{'a' * 40},") == {
        "md5": md5.lower(), "sha1": "a" * 40,
    }
    assert submission.parse_declared_hashes("") == {}
    with pytest.raises(ValueError, match="algorithm:hex"):
        submission.parse_declared_hashes("md5")


@pytest.mark.parametrize(
    "declared",
    ["md5:xyz", "crc32:cbf43926", "md5", "sha1:" + "a" * 41, "sha256:" + "z" * 64],
)
def test_bad_declared_hashes_are_a_validation_error(declared):
    with pytest.raises(ValidationFailed) as caught:
        submission.parse_input({"declared_hashes": declared})
    assert "declared_hashes" in caught.value.fields


def test_parse_input_ignores_empty_fields_and_refuses_unknown_ones():
    data = submission.parse_input({"title": "  Ward 3  ", "location": "", "source": None})
    assert data.title == "Ward 3" and data.location is None
    assert data.sensitivity == Sensitivity.STANDARD
    with pytest.raises(ValidationFailed) as caught:
        submission.parse_input({"colour": "red"})
    assert caught.value.fields == {"colour": "unknown field"}
    with pytest.raises(ValidationFailed) as caught:
        submission.parse_input({"collected_at": "2017-08-30T09:15:00"})
    assert "collected_at" in caught.value.fields


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        (None, None),
        ("", None),
        ("../../etc/passwd", "../../etc/passwd"),
        ("a\x00b.txt", "a\ufffdb.txt"),
        ("bad\udcffname.jpg", "bad?name.jpg"),
        ("ဗမာ.pdf", "ဗမာ.pdf"),
        ("x" * 1500, "x" * 1000),
    ],
)
def test_file_names_are_cleaned_for_display(name, kept):
    assert submission.clean_filename(name) == kept


# --- registration ---------------------------------------------------------------------------


def register(session, actor, case, received, data=None, *, filename="item", declared=None,
             store, keyring):
    return registration.register_upload(session, actor, case.id, received,
                                        data or EvidenceInput(), filename=filename,
                                        declared_mime=declared, store=store, keyring=keyring)


def test_register_records_the_item_and_its_intake_entry(session, people, store, keyring):
    content = b"%PDF-1.4 not really"
    received = receive(store, keyring, content)
    result = register(session, people["investigator"], people["case"], received,
                      filename="note.txt", declared="text/plain", store=store, keyring=keyring)
    assert not result.duplicate
    item = result.item
    assert item.id == received.item_id
    assert item.ern == "MMR-OTP-0001-0001" and item.seq == 1
    assert item.title == "note.txt"
    assert item.created_by_id == people["investigator"].id
    [entry] = entries(session, CustodyAction.INTAKE)
    assert entry.item_id == item.id and entry.case_id == people["case"].id
    assert entry.actor_id == people["investigator"].id
    assert f'"sha256":"{hashlib.sha256(content).hexdigest()}"' in entry.details


def test_erns_are_gapless_and_per_case(session, people, store, keyring):
    other = make_case(session, people["lead"], title="Second case")
    for number in range(3):
        register(session, people["lead"], people["case"],
                 receive(store, keyring, f"item {number}".encode()), store=store, keyring=keyring)
    first_elsewhere = register(session, people["lead"], other,
                               receive(store, keyring, b"elsewhere"), store=store, keyring=keyring)
    assert [item.ern for item in items(session) if item.case_id == people["case"].id] == [
        "MMR-OTP-0001-0001", "MMR-OTP-0001-0002", "MMR-OTP-0001-0003",
    ]
    assert first_elsewhere.item.ern == "MMR-OTP-0001-0001"


def test_a_duplicate_is_linked_and_its_second_blob_removed(session, people, store, keyring):
    first = register(session, people["investigator"], people["case"],
                     receive(store, keyring, b"same bytes"), store=store, keyring=keyring)
    again = receive(store, keyring, b"same bytes")
    assert len(list(store.blob_ids())) == 2
    second = register(session, people["lead"], people["case"], again, filename="copy",
                      store=store, keyring=keyring)
    assert second.duplicate
    assert second.item.id == first.item.id
    assert list(store.blob_ids()) == [first.item.id.hex]
    [entry] = entries(session, CustodyAction.SUBMITTED_AGAIN)
    assert entry.item_id == first.item.id and entry.actor_id == people["lead"].id
    assert len(items(session)) == 1


@pytest.mark.parametrize(
    "refusal",
    [("viewer", Forbidden), ("outsider", NotFound), (None, Unauthenticated)],
    ids=["viewer", "outsider", "anonymous"],
)
def test_a_refused_registration_removes_the_blob(session, people, store, keyring, refusal):
    who, error = refusal
    received = receive(store, keyring, b"refused")
    actor = people[who] if who else None
    with pytest.raises(error):
        register(session, actor, people["case"], received, store=store, keyring=keyring)
    assert list(store.blob_ids()) == []
    assert items(session) == []
    assert entries(session, CustodyAction.INTAKE) == []


def test_a_failure_while_logging_leaves_nothing_half_registered(
    session, people, store, keyring, monkeypatch
):
    def broken_append(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(custody_log, "append_many", broken_append)
    received = receive(store, keyring, b"crash mid-registration")
    with pytest.raises(RuntimeError, match="disk full"):
        register(session, people["investigator"], people["case"], received, store=store,
                 keyring=keyring)
    monkeypatch.undo()
    assert items(session) == []
    assert list(store.blob_ids()) == []
    # The next item still gets the first number.
    result = register(session, people["investigator"], people["case"],
                      receive(store, keyring, b"next"), store=store, keyring=keyring)
    assert result.item.ern == "MMR-OTP-0001-0001"


def test_a_restricted_item_is_granted_to_its_uploader(session, people, store, keyring):
    result = register(session, people["investigator"], people["case"],
                      receive(store, keyring, b"witness names"),
                      EvidenceInput(sensitivity=Sensitivity.RESTRICTED), store=store,
                      keyring=keyring)
    grants = list(session.scalars(select(EvidenceGrant)))
    assert [(g.evidence_id, g.user_id) for g in grants] == [
        (result.item.id, people["investigator"].id)
    ]
    assert listing.get_item(session, people["investigator"], result.item.id) is result.item
    for who in ("lead", "viewer"):
        with pytest.raises(NotFound):
            listing.get_item(session, people[who], result.item.id)
        listed = listing.list_items(session, people[who], people["case"].id)
        assert listed.items == []


def test_flags_for_type_size_and_declared_hashes(session, people, store, keyring):
    out = io.BytesIO()
    Image.new("L", (2, 2)).save(out, "PNG")
    png = out.getvalue()
    data = EvidenceInput(declared_hashes={"md5": "0" * 32,
                                          "sha256": hashlib.sha256(png).hexdigest()})
    result = register(session, people["lead"], people["case"],
                      receive(store, keyring, png, also=data.declared_hashes),
                      data, filename="scan.pdf", declared="application/pdf", store=store,
                      keyring=keyring)
    assert result.item.mime == "image/png"
    assert result.item.flags == ["type_mismatch", "type_mismatch:declared_type",
                                 "type_mismatch:extension", "declared_hash_mismatch"]
    empty = register(session, people["lead"], people["case"], receive(store, keyring, b""),
                     store=store, keyring=keyring)
    assert empty.item.flags == ["zero_bytes"]
    assert empty.item.mime == "application/x-empty"


# --- reading back ---------------------------------------------------------------------------


def test_reading_logs_the_download_before_the_first_byte(session, people, store, keyring):
    content = secrets.token_bytes(2 * MIB + 3)
    item = register(session, people["lead"], people["case"], receive(store, keyring, content),
                    store=store, keyring=keyring).item
    got, chunks = reading.read_content(session, people["viewer"], item.id, store=store,
                                        keyring=keyring)
    assert got.id == item.id
    [entry] = entries(session, CustodyAction.DOWNLOADED)  # before iterating
    assert entry.actor_id == people["viewer"].id
    assert b"".join(chunks) == content


def test_reading_with_another_kek_is_an_integrity_failure(session, people, store, keyring,
                                                          tmp_path):
    item = register(session, people["lead"], people["case"], receive(store, keyring, b"x" * 99),
                    store=store, keyring=keyring).item
    other_path = tmp_path / "other-kek.json"
    Keyring.create_file(other_path)
    other = Keyring.load(other_path)
    _, chunks = reading.read_content(session, people["lead"], item.id, store=store,
                                      keyring=other)
    with pytest.raises(IntegrityFailure) as caught:
        b"".join(chunks)
    assert isinstance(caught.value.__cause__, KeyringError)
    [failure] = entries(session, CustodyAction.INTEGRITY_FAILURE)
    assert failure.item_id == item.id and "KeyringError" in failure.details
    with pytest.raises(IntegrityFailure):
        reading.ensure_key_unwraps(other, item)
    reading.ensure_key_unwraps(keyring, item)


def test_reading_a_blob_that_decrypts_to_other_bytes_fails(session, people, store, keyring):
    """A row whose recorded hash does not match what the blob holds (e.g. an edited row)."""
    item = register(session, people["lead"], people["case"], receive(store, keyring, b"true"),
                    store=store, keyring=keyring).item
    item.sha256 = hashlib.sha256(b"what someone wants it to say").hexdigest()
    _, chunks = reading.read_content(session, people["lead"], item.id, store=store,
                                      keyring=keyring)
    with pytest.raises(IntegrityFailure, match="SHA-256"):
        list(chunks)
    assert len(entries(session, CustodyAction.INTEGRITY_FAILURE)) == 1


# --- concurrency ----------------------------------------------------------------------------


def _concurrent_uploads(database, store, keyring, *, case_id, user_id, contents):
    errors: list[BaseException] = []
    results = []
    start = threading.Barrier(len(contents))

    def upload(content: bytes) -> None:
        try:
            received = receive(store, keyring, content)
            start.wait()
            with database.sessions() as session:
                actor = session.get(User, user_id)
                result = registration.register_upload(
                    session, actor, case_id, received, EvidenceInput(), filename=None,
                    declared_mime=None, store=store, keyring=keyring,
                )
                results.append((result.item.seq, not result.duplicate))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=upload, args=(content,)) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.fixture
def fresh(fresh_database_url, tmp_path, keyring):
    database = Database.from_url(fresh_database_url)
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        ids = (case.id, lead.id)
    yield database, ids
    database.engine.dispose()


def test_concurrent_uploads_get_gapless_erns(fresh, store, keyring):
    database, (case_id, user_id) = fresh
    writers = 12 if database.engine.dialect.name == "postgresql" else 6
    contents = [secrets.token_bytes(1000) for _ in range(writers)]
    results = _concurrent_uploads(database, store, keyring, case_id=case_id, user_id=user_id,
                                  contents=contents)
    assert sorted(seq for seq, _ in results) == list(range(1, writers + 1))
    with database.sessions() as session:
        erns = sorted(session.scalars(select(Evidence.ern)))
        assert len(set(erns)) == writers
        assert erns[-1] == f"MMR-OTP-0001-{writers:04d}"
    assert len(list(store.blob_ids())) == writers


def test_concurrent_duplicates_make_one_item(fresh, store, keyring):
    database, (case_id, user_id) = fresh
    writers = 8 if database.engine.dialect.name == "postgresql" else 4
    content = secrets.token_bytes(5000)
    results = _concurrent_uploads(database, store, keyring, case_id=case_id, user_id=user_id,
                                  contents=[content] * writers)
    assert sorted(created for _, created in results) == [False] * (writers - 1) + [True]
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evidence)) == 1
        again = session.scalar(
            select(func.count())
            .select_from(CustodyEntry)
            .where(CustodyEntry.action == CustodyAction.SUBMITTED_AGAIN)
        )
        assert again == writers - 1
    assert len(list(store.blob_ids())) == 1


# --- several items in one transaction (bulk ingest) -------------------------------------


def prepared(store, keyring, content, name, sensitivity=Sensitivity.STANDARD):
    return submission.prepare(
        receive(store, keyring, content),
        EvidenceInput(sensitivity=sensitivity),
        filename=name,
        declared_mime=None,
    )


def register_many(session, actor, case, submissions, vault):
    store, keyring = vault
    return registration.register_many(
        session, actor, case.id, submissions, store=store, keyring=keyring
    )


def content_of(session, actor, item, store, keyring):
    _, chunks = reading.read_content(session, actor, item.id, store=store, keyring=keyring)
    return b"".join(chunks)


def test_a_batch_gives_each_item_its_number_and_custody_entry(session, people, store, keyring):
    batch = [
        prepared(store, keyring, b"statement W-12", "statement.txt"),
        prepared(store, keyring, b"photo notes", "notes.txt"),
        prepared(store, keyring, b"statement W-12", "copy-of-statement.txt"),  # same bytes
        prepared(store, keyring, b"arrival log", "log.csv"),
    ]
    results = register_many(session, people["investigator"], people["case"], batch,
                            (store, keyring))
    assert [result.created for result in results] == [True, True, False, True]
    assert results[2].item.id == results[0].item.id  # the copy is the first item, again
    assert [item.ern for item in items(session)] == [
        "MMR-OTP-0001-0001", "MMR-OTP-0001-0002", "MMR-OTP-0001-0003",
    ]
    intake = entries(session, CustodyAction.INTAKE)
    assert [entry.item_id for entry in intake] == [item.id for item in items(session)]
    [again] = entries(session, CustodyAction.SUBMITTED_AGAIN)
    assert again.item_id == results[0].item.id
    assert '"filename":"copy-of-statement.txt"' in again.details
    # The copy's blob is gone; each item reads back its own bytes.
    assert sorted(store.blob_ids()) == sorted(item.id.hex for item in items(session))
    contents = [content_of(session, people["lead"], item, store, keyring)
                for item in items(session)]
    assert contents == [b"statement W-12", b"photo notes", b"arrival log"]


def test_a_batch_s_items_are_in_the_session_as_their_rows_were_written(
    session, people, store, keyring
):
    """Standard items' rows are written in Core, not by the ORM's flush: each item returned is
    the session's own, holding exactly what its row holds (defaults included), with nothing
    left to write."""
    batch = [
        prepared(store, keyring, b"statement W-12", "statement.txt"),
        prepared(store, keyring, b"names of witnesses", "list.txt", Sensitivity.RESTRICTED),
        prepared(store, keyring, b"%PDF-1.4 not really", "report.pdf"),
    ]
    results = register_many(session, people["investigator"], people["case"], batch,
                            (store, keyring))
    columns = [column.key for column in Evidence.__table__.c]
    for result in results:
        item = result.item
        assert session.get(Evidence, item.id) is item
        assert item not in session.dirty and item not in session.new
        held = {name: getattr(item, name) for name in columns}
        session.refresh(item)  # read back from the database
        assert {name: getattr(item, name) for name in columns} == held
    assert [result.item.flags is not None for result in results] == [True] * 3


def test_a_batch_does_not_reveal_a_restricted_item_with_the_same_bytes(
    session, people, store, keyring
):
    hidden = register_many(
        session, people["lead"], people["case"],
        [prepared(store, keyring, b"names of witnesses", "list.txt", Sensitivity.RESTRICTED)],
        (store, keyring),
    )[0].item
    batch = [
        prepared(store, keyring, b"names of witnesses", "mine.txt"),
        prepared(store, keyring, b"names of witnesses", "mine-again.txt"),
        prepared(store, keyring, b"something else", "other.txt"),
    ]
    first, second, other = register_many(session, people["investigator"], people["case"], batch,
                                         (store, keyring))
    # An item of their own, sharing the hidden item's blob; the second copy is that item.
    assert first.created and first.item.id != hidden.id
    assert first.item.content_id == hidden.id
    assert not second.created and second.item.id == first.item.id
    assert other.created
    assert [first.item.ern, other.item.ern] == ["MMR-OTP-0001-0002", "MMR-OTP-0001-0003"]
    assert content_of(session, people["investigator"], first.item, store, keyring) == (
        b"names of witnesses"
    )
    assert sorted(store.blob_ids()) == sorted([hidden.id.hex, other.item.id.hex])
    submitted_again = entries(session, CustodyAction.SUBMITTED_AGAIN)
    assert [entry.item_id for entry in submitted_again] == [hidden.id, first.item.id]


def test_a_failed_batch_registers_nothing_and_keeps_the_blobs(
    session, people, store, keyring, monkeypatch
):
    real = custody_log.append_many

    def append_then_fail(session, new_entries, **kwargs):
        real(session, new_entries[:1], **kwargs)  # the first entry is written, then it fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(custody_log, "append_many", append_then_fail)
    batch = [prepared(store, keyring, f"item {n}".encode(), f"{n}.txt") for n in range(3)]
    logged = len(entries(session))
    with pytest.raises(RuntimeError, match="disk full"):
        register_many(session, people["investigator"], people["case"], batch,
                      (store, keyring))
    monkeypatch.undo()
    assert items(session) == []
    assert len(entries(session)) == logged  # no entry of the batch survives
    # The blobs are the caller's still: registered again, the batch gets the first numbers.
    assert sorted(store.blob_ids()) == sorted(s.received.item_id.hex for s in batch)
    results = register_many(session, people["investigator"], people["case"], batch,
                            (store, keyring))
    assert [result.item.ern for result in results] == [
        "MMR-OTP-0001-0001", "MMR-OTP-0001-0002", "MMR-OTP-0001-0003",
    ]


def test_a_failed_batch_registered_again_one_by_one_while_its_error_is_handled(
    session, people, store, keyring, monkeypatch
):
    """As bulk ingest does: the batch's error (and so its items, through the traceback) is
    still alive while each item is registered alone, under the same id."""
    real = custody_log.append_many

    def append_then_fail(session, new_entries, **kwargs):
        real(session, new_entries, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(custody_log, "append_many", append_then_fail)
    batch = [prepared(store, keyring, f"item {n}".encode(), f"{n}.txt") for n in range(3)]
    try:
        register_many(session, people["investigator"], people["case"], batch, (store, keyring))
    except RuntimeError:  # handled here: its traceback (and the batch's items) still alive
        monkeypatch.undo()
        results = [
            register_many(session, people["investigator"], people["case"], [one],
                          (store, keyring))[0]
            for one in batch
        ]
    else:
        pytest.fail("the batch was registered")
    assert [result.item.ern for result in results] == [
        "MMR-OTP-0001-0001", "MMR-OTP-0001-0002", "MMR-OTP-0001-0003",
    ]
    assert [item.id for item in items(session)] == [s.received.item_id for s in batch]


def test_a_viewer_may_not_register_a_batch(session, people, store, keyring):
    batch = [prepared(store, keyring, b"anything", "a.txt")]
    with pytest.raises(Forbidden):
        register_many(session, people["viewer"], people["case"], batch, (store, keyring))
    assert items(session) == []
    assert entries(session, CustodyAction.INTAKE) == []


def test_a_blob_that_cannot_be_removed_after_the_commit_does_not_undo_the_batch(
    session, people, store, keyring, monkeypatch
):
    def delete_fails(blob_id):
        raise OSError("read-only file system")

    batch = [
        prepared(store, keyring, b"statement W-12", "statement.txt"),
        prepared(store, keyring, b"statement W-12", "copy.txt"),
    ]
    monkeypatch.setattr(store, "delete", delete_fails)
    first, copy = register_many(session, people["investigator"], people["case"], batch,
                                (store, keyring))
    assert first.created and not copy.created
    assert [item.id for item in items(session)] == [first.item.id]
    # The copy's blob stays, an orphan for scrub; the item's own blob is untouched.
    assert sorted(store.blob_ids()) == sorted(s.received.item_id.hex for s in batch)


def test_a_connection_lost_at_the_commit_keeps_the_blob(session, people, store, keyring,
                                                        monkeypatch):
    """The commit's outcome is unknown when the connection drops during it: the item may be
    committed, so its blob must not be deleted (without an item it is an orphan, which
    `scrub --repair` removes). Any other failure still removes the blob (above)."""
    import psycopg  # noqa: PLC0415 - only this test builds a driver error
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    real_append, real_commit = custody_log.append_many, session.commit
    logged = []

    def append(*args, **kwargs):
        logged.append(True)
        return real_append(*args, **kwargs)

    def commit():
        if logged:  # the item's commit, not the one ending the authorization read
            raise OperationalError("COMMIT", {}, psycopg.OperationalError("server closed"))
        real_commit()

    monkeypatch.setattr(custody_log, "append_many", append)
    monkeypatch.setattr(session, "commit", commit)
    received = receive(store, keyring, b"commit interrupted")
    with pytest.raises(OperationalError):
        register(session, people["investigator"], people["case"], received, store=store,
                 keyring=keyring)
    monkeypatch.undo()
    assert items(session) == []  # rolled back here, as the server would have if it never came
    assert list(store.blob_ids()) == [received.item_id.hex]
