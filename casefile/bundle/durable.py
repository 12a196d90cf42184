"""How a bundle's files become durable before it is published: written without an fsync
each, then made durable together, once, just before `before_publish` and the rename.

On Linux 5.17 or later (casefile/vault/blobstore.py's SYNCFS: syncfs reports write-back
errors, the file system's own included) one `syncfs` of the bundle's file system does it, the
folders' entries included; the descriptor it is called on is opened before the bundle's first
byte is written, so a write-back failure of any of its files, even one the kernel met long
before the end, is reported to it (each open descriptor sees each error once). Elsewhere each
file is fsynced as it is closed, as before, and `settle` fsyncs every folder of the bundle,
deepest first. Either way nothing is published until everything is on disk: the guarantee is
that, not one fsync per file, which cost a bundle of 200 exhibits ~1,400 waits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from casefile.vault import blobstore


class Flushable(Protocol):
    """A file being written: an open file object, or a DirectFile (direct_file.py)."""

    def flush(self) -> None: ...

    def fileno(self) -> int: ...


class Durability:
    """For one bundle folder: `written(handle)` as each file is closed, `settle()` once all
    are, `close()` at the end. With `needed=False` (a bag streamed into a zip: its owner
    fsyncs the zip file or stores the stream) files are only flushed."""

    def __init__(
        self,
        root: Path,
        *,
        needed: bool = True,
    ) -> None:
        self.root = root
        self.needed = needed
        self._syncfs: Callable[[int], None] | None = blobstore.SYNCFS if needed else None
        self._descriptor: int | None = None
        if self._syncfs is not None:
            self._descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

    def written(self, handle: Flushable) -> None:
        handle.flush()
        if self.needed and self._syncfs is None:
            os.fsync(handle.fileno())

    def settle(self) -> None:
        """Every file and folder entry of the bundle on disk, or OSError."""
        if not self.needed:
            return
        if self._syncfs is not None and self._descriptor is not None:
            self._syncfs(self._descriptor)
            return
        folders = [Path(path) for path, _, _ in os.walk(self.root)]
        for folder in reversed(folders):  # deepest first, the root last
            blobstore.fsync_folder(folder)

    def close(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)
