"""A bundle's files written around the page cache (casefile/bundle/direct_file.py): the same
bytes whatever the chunk sizes, O_DIRECT while the blocks are whole, and the page cache
wherever the file system refuses O_DIRECT, at open or at a write."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

import pytest

from casefile.bundle import direct_file
from casefile.bundle.direct_file import ALIGN, BUFFER, DirectFile

O_DIRECT = getattr(os, "O_DIRECT", 0)


def _direct_supported(folder: Path) -> bool:
    if not O_DIRECT:
        return False
    probe = folder / ".probe"
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | O_DIRECT, 0o600)
    except OSError as error:
        if error.errno == errno.EINVAL:
            return False
        raise
    os.close(descriptor)
    probe.unlink()
    return True


def _pattern(size: int, seed: int = 7) -> bytes:
    return bytes((seed + index * 31) % 251 for index in range(size))


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [1],
        [ALIGN - 1],
        [ALIGN],
        [BUFFER],
        [BUFFER + 1],
        [3, ALIGN, BUFFER - 5, 17, 2 * BUFFER + 123],
        [BUFFER // 2] * 5,
    ],
    ids=["empty", "one", "under-a-block", "a-block", "a-buffer", "a-buffer-and-one", "mixed",
         "halves"],
)
def test_the_file_holds_exactly_what_was_written(tmp_path, sizes):
    chunks = [_pattern(size, seed) for seed, size in enumerate(sizes)]
    path = tmp_path / "out.bin"
    with DirectFile(path) as handle:
        for chunk in chunks:
            assert handle.write(chunk) == len(chunk)
    assert path.read_bytes() == b"".join(chunks)


def test_whole_blocks_bypass_the_page_cache_then_the_tail_does_not(tmp_path):
    if not _direct_supported(tmp_path):
        pytest.skip("this file system refuses O_DIRECT (the page cache path is tested below)")
    path = tmp_path / "out.bin"
    data = _pattern(2 * BUFFER + 100)
    with DirectFile(path) as handle:
        handle.write(data[: 2 * BUFFER])
        assert handle.direct
        assert fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & O_DIRECT
        assert os.fstat(handle.fileno()).st_size == 2 * BUFFER  # written, not held
        handle.write(data[2 * BUFFER :])
        handle.flush()  # the partial block: through the page cache, O_DIRECT cleared
        assert not handle.direct
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & O_DIRECT
        assert os.fstat(handle.fileno()).st_size == len(data)
        handle.write(b"after the flush")
    assert path.read_bytes() == data + b"after the flush"


def test_a_file_system_without_o_direct_gets_the_page_cache(tmp_path, monkeypatch):
    # Linux refuses O_DIRECT (EINVAL) where the file system has none: asked at open, after
    # it has created the file; asked with fcntl, with nothing changed. The file is created
    # once, without it, and written through the page cache.
    real = fcntl.fcntl
    refused = []

    def refusing(descriptor, command, *argument):
        if command == fcntl.F_SETFL and argument and argument[0] & O_DIRECT:
            refused.append(descriptor)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(descriptor, command, *argument)

    monkeypatch.setattr(direct_file.fcntl, "fcntl", refusing)
    path = tmp_path / "out.bin"
    data = _pattern(BUFFER + ALIGN + 9)
    with DirectFile(path) as handle:
        assert not handle.direct
        handle.write(data)
    assert (refused != []) == bool(O_DIRECT)
    assert path.read_bytes() == data
    assert sorted(tmp_path.iterdir()) == [path]


def test_o_direct_is_never_asked_for_at_open(tmp_path, monkeypatch):
    """Open with O_DIRECT creates the file before it is refused: a retry would meet it."""
    opened = os.open
    flags_seen = []

    def recording(path, flags, mode=0o777):
        flags_seen.append(flags)
        return opened(path, flags, mode)

    monkeypatch.setattr(direct_file.os, "open", recording)
    with DirectFile(tmp_path / "out.bin") as handle:
        handle.write(b"x")
    assert flags_seen
    assert not any(O_DIRECT and flags & O_DIRECT for flags in flags_seen)


def test_a_direct_write_refused_midway_goes_on_through_the_page_cache(tmp_path, monkeypatch):
    if not _direct_supported(tmp_path):
        pytest.skip("this file system refuses O_DIRECT at open already")
    written = os.write
    refusals = []

    def refusing(descriptor, data):
        if fcntl.fcntl(descriptor, fcntl.F_GETFL) & O_DIRECT and len(refusals) < 1 and \
                os.fstat(descriptor).st_size >= BUFFER:
            refusals.append(descriptor)
            raise OSError(errno.EINVAL, "Invalid argument")
        return written(descriptor, data)

    monkeypatch.setattr(direct_file.os, "write", refusing)
    path = tmp_path / "out.bin"
    data = _pattern(3 * BUFFER + 77)
    with DirectFile(path) as handle:
        handle.write(data)
        assert refusals  # the second buffer's write was refused...
        assert not handle.direct  # ...and the rest went through the page cache
    assert path.read_bytes() == data


def test_other_write_errors_are_not_hidden(tmp_path, monkeypatch):
    def full(descriptor, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(direct_file.os, "write", full)
    with pytest.raises(OSError, match="No space") as raised, \
            DirectFile(tmp_path / "out.bin") as handle:
        handle.write(_pattern(BUFFER))
    assert raised.value.errno == errno.ENOSPC


def test_it_never_replaces_a_file_and_keeps_the_mode_given(tmp_path):
    existing = tmp_path / "there.bin"
    existing.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        DirectFile(existing)
    assert existing.read_bytes() == b"keep"
    with DirectFile(tmp_path / "private.bin", 0o600) as handle:
        handle.write(b"x" * 10)
    assert stat.S_IMODE((tmp_path / "private.bin").stat().st_mode) == 0o600


def test_a_failure_inside_the_block_closes_the_file_and_propagates(tmp_path):
    path = tmp_path / "out.bin"
    descriptor = -1
    with pytest.raises(RuntimeError, match="taking side"), DirectFile(path) as handle:  # noqa: PT012
        handle.write(_pattern(ALIGN + 1))
        descriptor = handle.fileno()
        raise RuntimeError("the taking side failed")
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(descriptor)


def test_it_refuses_writes_once_closed_and_closes_once(tmp_path, monkeypatch):
    closed = []
    real_close = os.close
    monkeypatch.setattr(direct_file.os, "close",
                        lambda descriptor: (closed.append(descriptor), real_close(descriptor)))
    with DirectFile(tmp_path / "out.bin") as handle:
        handle.write(b"abc")
        handle.close()
        with pytest.raises(ValueError, match="closed"):
            handle.write(b"more")
    assert len(closed) == 1
    assert (tmp_path / "out.bin").read_bytes() == b"abc"
