"""A bulk write's store root marked for ext4 to spread its fan-out folders over the file
system (FS_TOPDIR_FL), keeping the root's other flags, and nothing failing where a file system
has no such flags."""

from __future__ import annotations

import fcntl
import os
import struct
import uuid

import pytest

from casefile.vault import folder_spread
from casefile.vault.blobstore import LocalBlobStore

GET_FLAGS, SET_FLAGS = 0x80086601, 0x40086602
NOATIME = 0x00000080  # FS_NOATIME_FL: a flag of the owner's to keep
LONG = struct.Struct("l")


def flags_of(path):
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return LONG.unpack(fcntl.ioctl(descriptor, GET_FLAGS, bytes(LONG.size)))[0]
    finally:
        os.close(descriptor)


def set_flags(path, flags):
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(descriptor, SET_FLAGS, LONG.pack(flags))
    finally:
        os.close(descriptor)


@pytest.fixture
def flagged_root(tmp_path):
    """A store root on a file system that keeps the top-of-hierarchy flag (ext2/3/4)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        set_flags(probe, flags_of(probe) | folder_spread.TOPDIR)
        kept = flags_of(probe) & folder_spread.TOPDIR
    except OSError:
        kept = 0
    if not kept:
        pytest.skip("this file system does not keep FS_TOPDIR_FL")
    root = tmp_path / "blobs"
    root.mkdir(mode=0o700)
    return root


def test_a_batch_marks_the_store_root_before_its_first_blob(flagged_root):
    assert not flags_of(flagged_root) & folder_spread.TOPDIR
    batch = LocalBlobStore(flagged_root).batched()
    try:
        blob_id = uuid.uuid4().hex
        writer = batch.writer(blob_id)
        writer.write(b"ciphertext")
        writer.commit()
        assert flags_of(flagged_root) & folder_spread.TOPDIR
        batch.settle([blob_id])
    finally:
        batch.close()
    # the blob where its id puts it, as before
    assert (flagged_root / blob_id[:2] / blob_id[2:4] / blob_id).read_bytes() == b"ciphertext"


def test_the_roots_other_flags_are_kept(flagged_root):
    try:
        set_flags(flagged_root, flags_of(flagged_root) | NOATIME)
    except OSError:
        pytest.skip("noatime cannot be set here")
    descriptor = os.open(flagged_root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert folder_spread.mark_top(descriptor)
        assert folder_spread.mark_top(descriptor)  # already marked: left as it is
    finally:
        os.close(descriptor)
    assert flags_of(flagged_root) & (NOATIME | folder_spread.TOPDIR) == NOATIME | (
        folder_spread.TOPDIR
    )


def test_a_file_system_without_flags_is_left_alone():
    read, write = os.pipe()  # no inode flags on a pipe: the ioctl fails, the hint is skipped
    try:
        assert folder_spread.mark_top(read) is False
    finally:
        os.close(read)
        os.close(write)


def test_the_batch_writes_where_the_hint_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_spread, "_SET_FLAGS", 0)  # an ioctl no file system knows
    root = tmp_path / "blobs"
    batch = LocalBlobStore(root).batched()
    blob_id = uuid.uuid4().hex
    try:
        writer = batch.writer(blob_id)
        writer.write(b"ciphertext")
        writer.commit()
        batch.settle([blob_id])
    finally:
        batch.close()
    assert (root / blob_id[:2] / blob_id[2:4] / blob_id).read_bytes() == b"ciphertext"
