"""A bundle's files written around the page cache (O_DIRECT), where the file system allows it.

A bundle is gigabytes written once and not read again by this server: through the page cache
every byte is first copied into a cache page the kernel must find (evicting the database's and
the vault's pages), then written back. Measured on this project's VMs (2 vCPUs, virtio disk),
2 GiB of 10 MiB files hashed and written: 4.0-5.8 s of system time through the page cache with
an fsync per file, 0.6-0.8 s with O_DIRECT (bench/README.md, "Court bundles"); `dd` of 2 GiB
the same, 1.3-6.0 s against 0.26-0.29 s. On VMs whose balloon hands freed memory back to the
host, a fresh cache page costs ten times more again.

O_DIRECT wants the memory, the length and the file offset of each write aligned to the
device's logical block: the bytes are gathered in a page-aligned buffer (an anonymous mmap)
and written ALIGN-multiples at a time; the last partial block goes through the page cache
(O_DIRECT cleared with fcntl, which Linux allows on an open file), and from then on the file
is an ordinary one. The file is created without O_DIRECT and switched to it with fcntl: an
open with O_DIRECT on a file system without it creates the file, then fails. Where the file
system refuses O_DIRECT (ramfs, tmpfs before Linux 6.6, some FUSE and network file systems:
EINVAL from fcntl or at a write), the file is written through the page cache as before: the
same bytes, only slower. Durability is unchanged: O_DIRECT bypasses the
cache, not the device's write cache or the file's metadata, so the bundle is still settled by
`syncfs` or fsync before it is published (durable.py).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

ALIGN = 4096  # a multiple of every logical block size in use (512 and 4096 bytes)
BUFFER = 1 << 20
_O_DIRECT = getattr(os, "O_DIRECT", 0)  # Linux; elsewhere the page cache, as before
_KEPT_BUFFERS = 4

_free: list[mmap.mmap] = []
_free_lock = threading.Lock()


def _take_buffer() -> mmap.mmap:
    """A page-aligned BUFFER, reused: a fresh mapping costs a page fault per page."""
    with _free_lock:
        if _free:
            return _free.pop()
    return mmap.mmap(-1, BUFFER, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _give_back(buffer: mmap.mmap) -> None:
    with _free_lock:
        if len(_free) < _KEPT_BUFFERS:
            _free.append(buffer)
            return
    buffer.close()


class DirectFile:
    """A new file (created exclusively, as open(path, "xb")) to write once, in order: `write`,
    `flush` (everything given so far reaches the file), `fileno`, `close`. Not thread-safe:
    one writer."""

    def __init__(self, path: Path | str, mode: int = 0o666) -> None:
        # Created without O_DIRECT, then switched to it: Linux creates the file before it
        # checks O_DIRECT, so open(O_CREAT | O_EXCL | O_DIRECT) on a file system without it
        # fails with EINVAL and leaves the file behind (and a retry fails with EEXIST).
        self._descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                                   mode)
        self.closed = False
        self._filled = 0
        self._buffer: mmap.mmap | None = None
        self._direct = False
        try:
            self._direct = _direct_on(self._descriptor)
            if self._direct:
                self._buffer = _take_buffer()
        except BaseException:
            os.close(self._descriptor)
            self.closed = True
            raise

    @property
    def direct(self) -> bool:
        """Whether the next aligned block would bypass the page cache."""
        return self._direct

    def fileno(self) -> int:
        return self._descriptor

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed file")
        view = memoryview(data).cast("B")
        size = len(view)
        if self._buffer is None or not self._direct:
            self._drain()
            _write_all(self._descriptor, view)
            return size
        buffer = self._buffer
        while view:
            take = min(len(view), BUFFER - self._filled)
            buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == BUFFER:
                self._write_buffered_blocks(BUFFER)
        return size

    def flush(self) -> None:
        """Everything written so far into the file (the last partial block through the page
        cache, after which the file stays an ordinary one)."""
        self._drain()

    def _drain(self) -> None:
        if not self._filled:
            return
        aligned = self._filled - self._filled % ALIGN
        if aligned:
            self._write_buffered_blocks(aligned)
        if self._filled:  # a partial block: the page cache from here on
            self._stop_direct()
            assert self._buffer is not None  # noqa: S101 - filled implies a buffer
            _write_all(self._descriptor, memoryview(self._buffer)[: self._filled])
            self._filled = 0

    def _write_buffered_blocks(self, length: int) -> None:
        """The buffer's first `length` bytes (ALIGN-multiple) written, the rest moved down."""
        assert self._buffer is not None  # noqa: S101 - only called with a buffer
        view = memoryview(self._buffer)
        done = 0
        try:
            while done < length:
                try:
                    done += os.write(self._descriptor, view[done:length])
                except OSError as error:
                    # Refused by the file system here (an alignment it wants larger, a
                    # partial write that left the offset unaligned): the page cache.
                    if not self._direct or error.errno != errno.EINVAL:
                        raise
                    self._stop_direct()
            rest = self._filled - length
            if rest:
                self._buffer.move(0, length, rest)
            self._filled = rest
        finally:
            view.release()

    def _stop_direct(self) -> None:
        if self._direct:
            flags = fcntl.fcntl(self._descriptor, fcntl.F_GETFL)
            fcntl.fcntl(self._descriptor, fcntl.F_SETFL, flags & ~_O_DIRECT)
            self._direct = False

    def close(self) -> None:
        """Flush and close (once); the buffer goes back for the next file."""
        if self.closed:
            return
        try:
            self._drain()
        finally:
            self._release()

    def _release(self) -> None:
        """The descriptor closed first (whatever happens next), then the buffer given back,
        unless a failed write's traceback may still hold a view of it: then dropped."""
        if self.closed:
            return
        self.closed = True
        buffer, self._buffer = self._buffer, None
        try:
            os.close(self._descriptor)
        finally:
            if buffer is not None:
                # Still exported (a view in a failed write's traceback): freed with it.
                with contextlib.suppress(BufferError):
                    _give_back(buffer)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
            return
        # Failing already: the descriptor closed, what was not written is dropped.
        self._release()


def _direct_on(descriptor: int) -> bool:
    """O_DIRECT set on an open file; False where the system or the file system has none
    (EINVAL: nothing has changed, the file is written through the page cache)."""
    if not _O_DIRECT:
        return False
    flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    try:
        fcntl.fcntl(descriptor, fcntl.F_SETFL, flags | _O_DIRECT)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
        return False
    return True


def _write_all(descriptor: int, view: memoryview) -> None:
    while view:
        view = view[os.write(descriptor, view) :]
