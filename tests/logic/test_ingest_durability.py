"""Bulk ingest writes blobs a batch at a time. With syncfs (Linux 5.8+): written under temporary
names, the file system synced once for the batch's bytes, the blobs renamed, synced once more
for the names. Without: each fsynced and renamed by its worker, and its folder (and any new
fan-out folder's entry in its parent) fsynced once per batch. What users depend on: no item is
registered, so none becomes visible, before its blob is durable; and a small file is read from
disk once, its bytes those that were hashed."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from casefile.logic.evidence import ingest, ingest_run, reading, registration
from casefile.model import Evidence, EvidenceStatus, Role
from casefile.vault import blobstore
from casefile.vault.blobstore import TEMP_MARK, LocalBlobStore
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes


def run_ingest(session, investigator, case, drive, *, store, keyring):
    """`casefile ingest` of every file on the drive into the case, as the investigator."""
    return ingest.ingest(
        session, investigator, case.id, ingest.plan([drive]).files,
        store=store, keyring=lambda: keyring,
    )


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
    return investigator, case


def make_drive(root: Path, count: int) -> Path:
    drive = root / "drive"
    for number in range(count):
        folder = drive / f"{number // 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{number:03d}.bin").write_bytes(os.urandom(100) + number.to_bytes(2, "big"))
    return drive


class Events:
    """fsyncs, renames and registrations, in the order they happened, from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []

    def add(self, kind: str, path: str) -> None:
        with self.lock:
            self.log.append((kind, path))


def test_without_syncfs_no_blob_is_registered_before_its_folder_is_fsynced(
    session, people, keyring, tmp_path, monkeypatch
):
    monkeypatch.setattr(blobstore, "SYNCFS", None)
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    drive = make_drive(tmp_path, 60)
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", 8)  # several batches
    events = Events()
    real_fsync, real_replace, real_many = os.fsync, Path.replace, registration.register_many

    def fsync(descriptor):
        real_fsync(descriptor)
        events.add("fsync", str(Path(f"/proc/self/fd/{descriptor}").readlink()))

    def replace(self, target):
        result = real_replace(self, target)
        events.add("rename", str(target))
        return result

    def register_many(session, actor, case_id, submissions, **kwargs):
        for submission in submissions:
            events.add("register", submission.received.item_id.hex)
        return real_many(session, actor, case_id, submissions, **kwargs)

    monkeypatch.setattr(blobstore.os, "fsync", fsync)
    monkeypatch.setattr(Path, "replace", replace)
    monkeypatch.setattr(registration, "register_many", register_many)
    summary = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert summary.added == 60 and not summary.failed

    registered = [path for kind, path in events.log if kind == "register"]
    assert len(registered) == 60
    for blob_id in registered:
        final = store.root / blob_id[:2] / blob_id[2:4] / blob_id
        at = events.log.index(("register", blob_id))
        renamed = events.log.index(("rename", str(final)))
        before = events.log[:renamed]
        assert any(
            kind == "fsync" and path.startswith(f"{final}{TEMP_MARK}") for kind, path in before
        ), "the bytes are synced before the name"
        between = events.log[renamed:at]
        for folder in (final.parent, final.parent.parent, store.root):
            # its folder after the rename; the new folders' entries in their parents too
            assert ("fsync", str(folder)) in events.log[:at], f"{folder} not synced before"
        assert ("fsync", str(final.parent)) in between, "registered before its folder's fsync"
    folder_syncs = sum(1 for kind, path in events.log if kind == "fsync" and TEMP_MARK not in path)
    # One per distinct folder per batch (and per new folder's parent), not two per blob.
    assert folder_syncs < 3 * 60

    items = session.query(Evidence).filter(Evidence.status == EvidenceStatus.ACTIVE).all()
    assert sorted(item.seq for item in items) == list(range(1, 61))
    assert sorted(item.blob_id for item in items) == sorted(store.blob_ids())


def test_a_batch_whose_folders_cannot_be_synced_is_not_registered(
    session, people, keyring, tmp_path, monkeypatch
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    drive = make_drive(tmp_path, 5)
    real = blobstore.LocalBatch.settle

    def failing(self, blob_ids):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(blobstore.LocalBatch, "settle", failing)
    summary = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert summary.added == 0
    assert [reason for _, reason in summary.failed] == ["Input/output error"] * 5
    assert session.query(Evidence).count() == 0
    assert list(store.blob_ids()) == []  # the blobs written for them are gone

    monkeypatch.setattr(blobstore.LocalBatch, "settle", real)
    again = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert again.added == 5


def test_a_small_file_is_opened_once_and_stored_as_hashed(
    session, people, keyring, tmp_path, monkeypatch
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    drive = tmp_path / "drive"
    drive.mkdir()
    small, large = os.urandom(4096), os.urandom(ingest_run.SMALL_FILE + 1)
    (drive / "small.bin").write_bytes(small)
    (drive / "large.bin").write_bytes(large)
    opened: list[str] = []
    real_open = Path.open

    def counting(self, *args, **kwargs):
        if self.parent == drive:
            opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting)
    summary = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert summary.added == 2
    assert sorted(opened) == ["large.bin", "large.bin", "small.bin"]  # hashed, then streamed
    for name, content in (("small.bin", small), ("large.bin", large)):
        item = session.query(Evidence).filter(Evidence.original_filename == name).one()
        assert item.sha256 == hashlib.sha256(content).hexdigest()
        _, chunks = reading.read_content(
            session, investigator, item.id, store=store, keyring=keyring
        )
        assert b"".join(chunks) == content


@pytest.mark.skipif(blobstore.SYNCFS is None, reason="syncfs(2) not usable here")
def test_no_blob_is_registered_before_a_syncfs_of_its_bytes_and_one_of_its_name(
    session, people, keyring, tmp_path, monkeypatch
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    drive = make_drive(tmp_path, 60)
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", 8)  # several batches, settled ahead
    events = Events()
    real_syncfs, real_fsync = blobstore.SYNCFS, os.fsync
    real_replace, real_many = Path.replace, registration.register_many

    def syncfs(descriptor):
        real_syncfs(descriptor)
        events.add("syncfs", str(Path(f"/proc/self/fd/{descriptor}").readlink()))

    def fsync(descriptor):
        real_fsync(descriptor)
        events.add("fsync", str(Path(f"/proc/self/fd/{descriptor}").readlink()))

    def replace(self, target):
        renamed_from = str(self)
        result = real_replace(self, target)
        events.add("rename", f"{renamed_from} {target}")
        return result

    def register_many(session, actor, case_id, submissions, **kwargs):
        for submission in submissions:
            events.add("register", submission.received.item_id.hex)
        return real_many(session, actor, case_id, submissions, **kwargs)

    real_written = blobstore.LocalBatch.written

    def written(self, blob_id, temp, final):
        events.add("written", blob_id)  # closed and committed by its worker, not yet durable
        real_written(self, blob_id, temp, final)

    monkeypatch.setattr(blobstore, "SYNCFS", syncfs)
    monkeypatch.setattr(blobstore.LocalBatch, "written", written)
    monkeypatch.setattr(blobstore.os, "fsync", fsync)
    monkeypatch.setattr(Path, "replace", replace)
    monkeypatch.setattr(registration, "register_many", register_many)
    summary = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert summary.added == 60 and not summary.failed

    assert [path for kind, path in events.log if kind == "fsync"] == []  # no fsync per blob
    assert {path for kind, path in events.log if kind == "syncfs"} == {str(store.root)}
    registered = [path for kind, path in events.log if kind == "register"]
    assert len(registered) == 60
    syncs = [at for at, (kind, _) in enumerate(events.log) if kind == "syncfs"]
    assert len(syncs) < 60  # two per batch, not one per blob
    for blob_id in registered:
        final = store.root / blob_id[:2] / blob_id[2:4] / blob_id
        [renamed] = [
            at for at, (kind, what) in enumerate(events.log)
            if kind == "rename" and what.endswith(f" {final}")
        ]
        assert TEMP_MARK in events.log[renamed][1].split()[0], "written under a temporary name"
        at = events.log.index(("register", blob_id))
        wrote = events.log.index(("written", blob_id))
        assert any(wrote < sync < renamed for sync in syncs), "renamed before its bytes' syncfs"
        assert any(renamed < sync < at for sync in syncs), "registered before its name's syncfs"

    items = session.query(Evidence).filter(Evidence.status == EvidenceStatus.ACTIVE).all()
    assert sorted(item.seq for item in items) == list(range(1, 61))
    assert sorted(item.blob_id for item in items) == sorted(store.blob_ids())
    assert list(store.leftovers()) == []


@pytest.fixture(params=[8, 1], ids=["batch of 8", "one file"])
def batch(request):
    return request.param


def test_a_batch_whose_commit_outcome_is_unknown_keeps_its_blobs(  # noqa: PLR0917 - fixtures
    session, people, keyring, tmp_path, monkeypatch, batch
):
    """The connection lost as a batch commits (here: just after it committed): the batch is
    not retried one file at a time, where each file found its own item as a duplicate and
    removed the item's blob as "unused", nor are its blobs removed. Every item committed keeps
    its blob, its files are reported failed with the reason, and a rerun finds them present."""
    from sqlalchemy import select  # noqa: PLC0415
    from sqlalchemy.exc import DisconnectionError  # noqa: PLC0415

    from casefile.model import CustodyAction, CustodyEntry  # noqa: PLC0415

    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    drive = make_drive(tmp_path, 24)
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", batch)
    real_many, lost = registration.register_many, []

    def committed_then_lost(*args, **kwargs):
        registered = real_many(*args, **kwargs)
        if not lost:
            lost.append([item.item.id for item in registered])
            raise DisconnectionError("server closed the connection unexpectedly")
        return registered

    monkeypatch.setattr(registration, "register_many", committed_then_lost)
    summary = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert len(summary.failed) == batch and summary.added == 24 - batch
    session.expire_all()
    items = session.scalars(select(Evidence).where(Evidence.case_id == case.id)).all()
    assert len(items) == 24
    assert {item.id for item in items} >= set(lost[0])
    for item in items:
        assert store.exists(item.id.hex), item.ern
    assert not session.scalars(
        select(CustodyEntry).where(CustodyEntry.action == CustodyAction.SUBMITTED_AGAIN)
    ).all()
    monkeypatch.setattr(registration, "register_many", real_many)
    again = run_ingest(session, investigator, case, drive, store=store, keyring=keyring)
    assert (again.added, again.present, again.failed) == (0, 24, [])
