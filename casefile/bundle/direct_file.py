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
is an ordinary one. Where the file system refuses O_DIRECT (tmpfs on older kernels, some FUSE
and network file systems: EINVAL at open or at a write), the file is written through the page
cache as before: the same bytes, only slower. Durability is unchanged: O_DIRECT bypasses the
cache, not the device's write cache or the file's metadata, so the bundle is still settled by
`syncfs` or fsync before it is published (durable.py).
"""

from __future__ import annotations

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
    return mmap.mmap(-1, BUFFER)


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
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self._direct = bool(_O_DIRECT)
        try:
            self._descriptor = os.open(path, flags | _O_DIRECT, mode)
        except OSError as error:
            if not self._direct or error.errno != errno.EINVAL:
                raise
            self._direct = False  # the file system has no O_DIRECT: the page cache
            self._descriptor = os.open(path, flags, mode)
        self._buffer: mmap.mmap | None = _take_buffer() if self._direct else None
        self._filled = 0
        self.closed = False

    @property
    def direct(self) -> bool:
        """Whether the next aligned block would bypass the page cache."""
        return self._direct

    def fileno(self) -> int:
        return self._descriptor

    def write(self, data: bytes | bytearray | memoryview) -> int:
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
            self.closed = True
            buffer, self._buffer = self._buffer, None
            if buffer is not None:
                _give_back(buffer)
            os.close(self._descriptor)

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
        self.closed = True
        buffer, self._buffer = self._buffer, None
        if buffer is not None:
            _give_back(buffer)
        os.close(self._descriptor)


def _write_all(descriptor: int, view: memoryview) -> None:
    while view:
        view = view[os.write(descriptor, view) :]
