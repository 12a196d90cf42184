"""The local blob store: names from ids only, a blob visible only once committed (durably),
nothing left by an abort, and `scrub --repair` removing only real leftovers."""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path

import pytest

from casefile.vault import blobstore
from casefile.vault.blobstore import TEMP_MARK, BlobStoreError, LocalBlobStore, open_store


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def blob_id():
    return uuid.uuid4().hex


def files(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def put(store, blob_id, data=b"ciphertext"):
    writer = store.writer(blob_id)
    writer.write(data)
    writer.commit()


def test_a_blob_appears_under_its_id_only_at_commit(store, blob_id):
    writer = store.writer(blob_id)
    writer.write(b"first half, ")
    writer.write(b"second half")
    [temp] = files(store.root)
    assert TEMP_MARK in temp
    assert list(store.leftovers()) == [temp]
    assert not store.exists(blob_id)
    assert list(store.blob_ids()) == []

    writer.commit()
    final = f"{blob_id[:2]}/{blob_id[2:4]}/{blob_id}"
    assert files(store.root) == [final]
    assert store.exists(blob_id)
    assert list(store.blob_ids()) == [blob_id]
    assert list(store.leftovers()) == []
    with store.open(blob_id) as handle:
        assert handle.read() == b"first half, second half"
    assert stat.S_IMODE((store.root / final).stat().st_mode) == 0o600


def record_fsyncs(monkeypatch, final=None):
    """Every fsync from now on: (path, final name exists yet) for a file or folder."""
    synced = []
    real_fsync = os.fsync

    def spy(descriptor):
        path = str(Path(f"/proc/self/fd/{descriptor}").readlink())
        synced.append((path, final is not None and final.exists()))
        real_fsync(descriptor)

    monkeypatch.setattr(blobstore.os, "fsync", spy)
    return synced


def test_commit_syncs_the_bytes_before_the_name_and_then_the_folder(store, blob_id, monkeypatch):
    final = store.root / blob_id[:2] / blob_id[2:4] / blob_id
    other = blob_id[:4] + uuid.uuid4().hex[4:]  # the same folders, which exist by then
    synced = record_fsyncs(monkeypatch, final)
    put(store, blob_id)
    # The new folders' entries in their parents first, then the bytes, then the name.
    relative = [(path.removeprefix(str(store.root)), exists) for path, exists in synced]
    assert len(relative) == 4
    assert relative[0] == ("", False)
    assert relative[1] == (f"/{blob_id[:2]}", False)
    assert relative[2][0].startswith(f"/{blob_id[:2]}/{blob_id[2:4]}/{blob_id}{TEMP_MARK}")
    assert relative[2][1] is False
    assert relative[3] == (f"/{blob_id[:2]}/{blob_id[2:4]}", True)
    synced.clear()
    put(store, other)
    assert len(synced) == 2  # known folders: no mkdir, no folder entry to sync again
    assert TEMP_MARK in synced[0][0]
    assert synced[1][0] == str(final.parent)


def test_a_fan_out_folder_removed_underneath_is_made_again(store, blob_id, monkeypatch):
    put(store, blob_id)
    folder = store.root / blob_id[:2] / blob_id[2:4]
    (folder / blob_id).unlink()
    folder.rmdir()
    (store.root / blob_id[:2]).rmdir()
    again = blob_id[:4] + uuid.uuid4().hex[4:]
    put(store, again)
    assert list(store.blob_ids()) == [again]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def spy_mkdir(monkeypatch):
    """Every folder made from now on (through pathlib or os)."""
    made = []
    real_mkdir = os.mkdir

    def spy(path, *args, **kwargs):
        made.append(str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(blobstore.os, "mkdir", spy)  # pathlib's mkdir calls os.mkdir too
    return made


@pytest.mark.parametrize("batched", [False, True])
def test_mkdir_only_for_folders_not_known_yet(store, monkeypatch, batched):
    made = spy_mkdir(monkeypatch)
    target = blobstore.batched(store) if batched else store
    first = uuid.uuid4().hex
    put(target, first)
    assert f"{store.root}/{first[:2]}/{first[2:4]}" in made
    count = len(made)
    for _ in range(5):
        put(target, first[:4] + uuid.uuid4().hex[4:])
    assert len(made) == count
    leaf = "01" if first[2:4] == "00" else "00"
    put(target, first[:2] + leaf + uuid.uuid4().hex[4:])
    assert len(made) == count + 1  # a new leaf in a known first-level folder: one mkdir


@pytest.mark.skipif(blobstore.SYNCFS is None, reason="syncfs(2) not usable here")
def test_a_batched_blob_in_a_fan_out_folder_removed_underneath(store, blob_id):
    """A folder the batch knows (made for an earlier blob) and removed since (by hand: the
    application never removes one) is made again for the next blob, both levels."""
    batch = blobstore.batched(store)
    put(batch, blob_id)
    batch.settle([blob_id])
    folder = store.root / blob_id[:2] / blob_id[2:4]
    (folder / blob_id).unlink()
    folder.rmdir()
    (store.root / blob_id[:2]).rmdir()
    other_leaf = blob_id[:2] + ("01" if blob_id[2:4] == "00" else "00") + uuid.uuid4().hex[4:]
    for again in (other_leaf, blob_id[:4] + uuid.uuid4().hex[4:]):
        put(batch, again)
        batch.settle([again])
        assert store.exists(again)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.root / blob_id[:2]).stat().st_mode) == 0o700
    batch.close()


@pytest.mark.skipif(blobstore.SYNCFS is None, reason="syncfs(2) not usable here")
@pytest.mark.parametrize("process", ["same", "another"])
def test_a_batched_blob_is_never_overwritten(store, blob_id, process):
    """Whether its folder is known to this process or found existing by another."""
    batch = blobstore.batched(store)
    put(batch, blob_id, b"original")
    batch.settle([blob_id])
    again = batch if process == "same" else blobstore.batched(LocalBlobStore(store.root))
    with pytest.raises(BlobStoreError, match="exists already"):
        again.writer(blob_id)
    with store.open(blob_id) as handle:
        assert handle.read() == b"original"
    assert list(store.leftovers()) == []


def test_without_syncfs_a_batched_blob_is_durable_only_once_settled(store, monkeypatch):
    """Where syncfs cannot be trusted (not Linux, or before 5.17): each blob fsynced, each folder
    once per batch."""
    monkeypatch.setattr(blobstore, "SYNCFS", None)
    batch = blobstore.batched(store)
    ids = [uuid.uuid4().hex for _ in range(3)]
    ids.append(ids[0][:4] + uuid.uuid4().hex[4:])  # shares the first one's folder
    synced = record_fsyncs(monkeypatch)
    for blob_id in ids:
        writer = batch.writer(blob_id)
        writer.write(b"ciphertext")
        writer.commit()
        assert batch.exists(blob_id)
    assert all(TEMP_MARK in path for path, _ in synced)  # only the bytes: no folder yet
    assert len(synced) == len(ids)
    synced.clear()
    batch.settle(ids)
    folders = [path for path, _ in synced]
    leaves = sorted({str(store.root / i[:2] / i[2:4]) for i in ids})
    assert folders[-len(leaves) :] == leaves  # each blob's folder once, after the parents
    assert sorted(folders[: -len(leaves)]) == sorted(
        {str(store.root), *(str(store.root / i[:2]) for i in ids)}
    )
    synced.clear()
    batch.settle(ids[:1])  # the folders are known now: only the blob's folder
    assert [path for path, _ in synced] == [str(store.root / ids[0][:2] / ids[0][2:4])]
    synced.clear()
    put(store, ids[0][:4] + uuid.uuid4().hex[4:])  # the single path knows them too
    assert len(synced) == 2


def test_a_single_write_syncs_a_folder_a_batch_made_and_has_not_settled(store, monkeypatch):
    first = uuid.uuid4().hex
    writer = blobstore.batched(store).writer(first)
    writer.write(b"ciphertext")
    writer.commit()  # its new folders are not yet durable in their parents
    synced = record_fsyncs(monkeypatch)
    put(store, first[:4] + uuid.uuid4().hex[4:])
    paths = [path for path, _ in synced]
    assert paths[:2] == [str(store.root), str(store.root / first[:2])]
    assert len(paths) == 4


def test_folders_found_existing_are_synced_into_their_parents_once(store, blob_id, monkeypatch):
    """Another process (an ingest whose batch has not settled) may have made a folder without
    syncing its parent yet: a blob written there is durable only once the folder's entry is.
    Each process does that once per folder, then syncs only the bytes and the blob's folder."""
    put(store, blob_id)
    later = LocalBlobStore(store.root)  # a new process, the folders there already
    synced = record_fsyncs(monkeypatch)
    put(later, blob_id[:4] + uuid.uuid4().hex[4:])
    assert len(synced) == 4  # the bytes, the blob's folder, and the folders' entries above it
    synced.clear()
    put(later, blob_id[:4] + uuid.uuid4().hex[4:])
    assert len(synced) == 2  # the bytes and the blob's folder


class FileSystemSyncs:
    """syncfs, fsync and rename calls on the store, in order, as (call, what)."""

    def __init__(self, monkeypatch, store, *, fail_at=None):
        self.events = []
        self.store = store
        real_fsync, real_replace = os.fsync, Path.replace

        def syncfs(descriptor):
            self.events.append(("syncfs", str(Path(f"/proc/self/fd/{descriptor}").readlink())))
            if fail_at is not None and self.count("syncfs") == fail_at:
                raise OSError(5, "Input/output error")
            assert blobstore.SYNCFS is not None
            blobstore.SYNCFS(descriptor)

        def fsync(descriptor):
            self.events.append(("fsync", str(Path(f"/proc/self/fd/{descriptor}").readlink())))
            real_fsync(descriptor)

        def replace(path, target):
            result = real_replace(path, target)
            self.events.append(("rename", Path(target).name))
            return result

        self.syncfs = syncfs
        monkeypatch.setattr(blobstore.os, "fsync", fsync)
        monkeypatch.setattr(Path, "replace", replace)

    def count(self, call):
        return sum(1 for kind, _ in self.events if kind == call)

    def batch(self):
        return blobstore.LocalBatch(self.store, syncfs=self.syncfs)


def write(batch, blob_id, data=b"ciphertext"):
    writer = batch.writer(blob_id)
    writer.write(data)
    writer.commit()


needs_syncfs = pytest.mark.skipif(blobstore.SYNCFS is None, reason="syncfs(2) not usable here")


@needs_syncfs
def test_a_batch_is_made_durable_by_two_syncfs_its_blobs_renamed_between(store, monkeypatch):
    calls = FileSystemSyncs(monkeypatch, store)
    batch = calls.batch()
    ids = [uuid.uuid4().hex for _ in range(3)]
    ids.append(ids[0][:4] + uuid.uuid4().hex[4:])  # shares the first one's folder
    for blob_id in ids:
        write(batch, blob_id)
    # Written under their temporary names, no fsync each: not blobs yet, only leftovers.
    assert calls.events == []
    assert list(store.blob_ids()) == []
    assert len(list(store.leftovers())) == len(ids)

    batch.settle(ids[:3])
    root = str(store.root)
    assert calls.events == [
        ("syncfs", root),  # the bytes, and the new folders' entries
        *[("rename", blob_id) for blob_id in ids[:3]],
        ("syncfs", root),  # the names
    ]
    assert sorted(store.blob_ids()) == sorted(ids[:3])
    calls.events.clear()
    batch.settle(ids[3:])
    assert calls.events == [("syncfs", root), ("rename", ids[3]), ("syncfs", root)]
    for blob_id in ids:
        with store.open(blob_id) as handle:
            assert handle.read() == b"ciphertext"
    assert list(store.leftovers()) == []
    calls.events.clear()
    put(store, ids[0][:4] + uuid.uuid4().hex[4:])  # its folders are durable: bytes and folder
    assert [kind for kind, _ in calls.events] == ["fsync", "rename", "fsync"]
    batch.close()


@needs_syncfs
@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_batch_whose_syncfs_fails_can_be_removed_whole(store, monkeypatch, fail_at):
    calls = FileSystemSyncs(monkeypatch, store, fail_at=fail_at)
    batch = calls.batch()
    ids = [uuid.uuid4().hex for _ in range(3)]
    for blob_id in ids:
        write(batch, blob_id)
    with pytest.raises(OSError, match="Input/output error"):
        batch.settle(ids)
    if fail_at == 1:  # nothing was renamed: the bytes were not known to be durable
        assert calls.count("rename") == 0
        assert list(store.blob_ids()) == []
    for blob_id in ids:  # what the ingest does with a batch that could not be settled
        batch.delete(blob_id)
    assert files(store.root) == []
    batch.close()


@needs_syncfs
def test_after_a_failed_syncfs_no_later_batch_settles(store, monkeypatch):
    """syncfs reports a write-back error once, to the first call after it, which may be an
    earlier batch's settle while the next batch's pages were the ones lost: once one syncfs
    fails, every later batch of the run is refused, never renamed into place."""
    calls = FileSystemSyncs(monkeypatch, store, fail_at=1)
    batch = calls.batch()
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    write(batch, first)
    write(batch, second)  # written while the first batch settles
    with pytest.raises(OSError, match="Input/output error"):
        batch.settle([first])
    with pytest.raises(BlobStoreError, match="write error earlier in this run"):
        batch.settle([second])  # the real syncfs would now succeed: it must not be believed
    assert calls.count("syncfs") == 1
    assert calls.count("rename") == 0
    assert list(store.blob_ids()) == []
    for blob_id in (first, second):
        batch.delete(blob_id)
    assert files(store.root) == []
    batch.close()


@needs_syncfs
def test_a_batch_settles_only_blobs_committed_in_it(store, monkeypatch):
    calls = FileSystemSyncs(monkeypatch, store)
    batch = calls.batch()
    blob_id, aborted, deleted = (uuid.uuid4().hex for _ in range(3))
    write(batch, blob_id)
    writer = batch.writer(aborted)
    writer.write(b"half")
    writer.abort()
    write(batch, deleted)
    batch.delete(deleted)  # before it settled: its temporary file goes
    for never in (aborted, deleted):
        with pytest.raises(BlobStoreError, match="not committed"):
            batch.settle([blob_id, never])
    assert calls.events == []
    batch.settle([blob_id])
    assert list(store.blob_ids()) == [blob_id]
    assert list(store.leftovers()) == []
    batch.close()


@needs_syncfs
def test_syncfs_reports_a_failure_as_oserror(tmp_path):
    assert blobstore.SYNCFS is not None
    descriptor = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        blobstore.SYNCFS(descriptor)  # works on a real file system
    finally:
        os.close(descriptor)
    with pytest.raises(OSError, match=os.strerror(errno.EBADF)) as raised:
        blobstore.SYNCFS(descriptor)  # closed now
    assert raised.value.errno == errno.EBADF


def test_batched_on_another_store_writes_through_and_settles_nothing(store, monkeypatch):
    class Other:  # e.g. S3: an object exists, durably, once its upload is complete
        def writer(self, blob_id):
            return store.writer(blob_id)

        def exists(self, blob_id):
            return store.exists(blob_id)

    view = blobstore.batched(Other())
    blob_id = uuid.uuid4().hex
    put(view, blob_id)
    assert view.exists(blob_id)
    synced = record_fsyncs(monkeypatch)
    view.settle([blob_id])
    assert synced == []


def test_abort_leaves_nothing(store, blob_id):
    writer = store.writer(blob_id)
    writer.write(b"partial")
    writer.abort()
    assert files(store.root) == []
    assert not store.exists(blob_id)
    with pytest.raises(BlobStoreError, match="not written completely"):
        writer.commit()
    assert files(store.root) == []


def test_a_blob_is_never_overwritten(store, blob_id):
    put(store, blob_id, b"original")
    with pytest.raises(BlobStoreError, match="exists already"):
        store.writer(blob_id)
    with store.open(blob_id) as handle:
        assert handle.read() == b"original"


def test_two_writers_for_one_id_use_separate_temporary_files(store, blob_id):
    first, second = store.writer(blob_id), store.writer(blob_id)
    assert len(list(store.leftovers())) == 2
    first.abort()
    second.abort()
    assert files(store.root) == []


def test_open_and_delete(store, blob_id):
    with pytest.raises(BlobStoreError, match="missing"):
        store.open(blob_id)
    put(store, blob_id)
    store.delete(blob_id)
    assert not store.exists(blob_id)
    store.delete(blob_id)  # idempotent


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "",
        "ab",
        "A" * 32,
        "g" * 32,
        "0" * 31,
        "0" * 33,
        "0" * 30 + "/.",
        pytest.param("0" * 32 + "\n", id="trailing-newline"),
        str(uuid.uuid4()),  # dashed form: ids are 32 hex digits
    ],
)
def test_ids_are_validated_everywhere(store, bad):
    for call in (store.writer, store.open, store.delete, store.exists):
        with pytest.raises(BlobStoreError, match="not a blob id"):
            call(bad)
    assert not store.root.exists() or files(store.root) == []


def test_blob_ids_lists_committed_blobs_only(store):
    ids = sorted(uuid.uuid4().hex for _ in range(3))
    for blob_id in ids:
        put(store, blob_id)
    store.writer(uuid.uuid4().hex).write(b"interrupted")
    stray = store.root / ids[0][:2] / ids[0][2:4] / "notes.txt"
    stray.write_text("not a blob")
    assert list(store.blob_ids()) == ids


def test_remove_leftover_removes_an_interrupted_write(store, blob_id):
    store.writer(blob_id).write(b"interrupted by a crash")
    [leftover] = store.leftovers()
    store.remove_leftover(leftover)
    assert files(store.root) == []


def test_remove_leftover_refuses_anything_else(store, blob_id, tmp_path):
    put(store, blob_id)
    committed = f"{blob_id[:2]}/{blob_id[2:4]}/{blob_id}"
    outside = tmp_path / f"precious{TEMP_MARK}1"
    outside.write_text("not the store's")
    for name in (committed, str(outside), f"../{outside.name}", str(store.root / committed)):
        with pytest.raises(BlobStoreError, match="not a leftover"):
            store.remove_leftover(name)
    assert store.exists(blob_id)
    assert outside.exists()


def test_remove_leftover_does_not_follow_a_link_out_of_the_store(store, blob_id, tmp_path):
    outside = tmp_path / f"precious{TEMP_MARK}2"
    outside.write_text("not the store's")
    folder = store.root / blob_id[:2] / blob_id[2:4]
    folder.mkdir(parents=True)
    (folder / f"{blob_id}{TEMP_MARK}link").symlink_to(outside)
    [leftover] = store.leftovers()
    with pytest.raises(BlobStoreError):
        store.remove_leftover(leftover)
    assert outside.exists()


def test_open_store(tmp_path):
    store = open_store((tmp_path / "s").as_uri())
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "s"
    with pytest.raises(BlobStoreError, match="not available"):
        open_store("ftp://example.org/x")
