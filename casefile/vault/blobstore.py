"""Where encrypted blobs live. Paths come from item ids only, never from client names.

A blob becomes visible under its final name only when `commit()` has made it durable: the
bytes go to a temporary name in the same folder, are fsynced, renamed, and the folder is
fsynced. An interrupted write leaves a `.tmp-` file that `casefile scrub --repair` removes.

Bulk intake writes many blobs at once: `batched(store)` gives a view of the store whose blobs
are durable only once `settle(blob_ids)` has returned, so none may be registered before (the
ingest settles a batch just before registering it). On Linux (5.17 or later: `syncfs` reports
write-back errors, the file system's own included) a batch's blobs are written under their
temporary names without an fsync each; `settle` makes them durable with one `syncfs` of the
store's file system, renames them, and makes the names durable with a second: two waits per
batch instead of one per blob and one per folder, and a blob still appears under its final name
only once its bytes are durable. Elsewhere each blob is fsynced and renamed as it is committed,
and `settle` fsyncs each of the batch's folders once."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from io import RawIOBase
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import urlsplit

from casefile.vault import folder_spread

if TYPE_CHECKING:
    from casefile.settings import Settings

BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
TEMP_MARK = ".tmp-"


class BlobStoreError(Exception):
    pass


class BlobWriter(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self, blob_id: str) -> BlobWriter: ...
    def open(self, blob_id: str) -> BinaryIO: ...
    def delete(self, blob_id: str) -> None: ...
    def exists(self, blob_id: str) -> bool: ...
    def blob_ids(self) -> Iterator[str]: ...
    def leftovers(self) -> Iterator[str]: ...
    def remove_leftover(self, name: str) -> None: ...


def _valid_blob_id(blob_id: str) -> str:
    if not BLOB_ID.fullmatch(blob_id):
        raise BlobStoreError(f"not a blob id: {blob_id!r}")
    return blob_id


class _LocalWriter(RawIOBase):
    """A file under a temporary name; close() makes the bytes durable, commit() the name."""

    def __init__(self, store: LocalBlobStore, final: Path, *, sync_folder: bool) -> None:
        super().__init__()
        self._final = final
        self._temp = final.with_name(f"{final.name}{TEMP_MARK}{secrets.token_hex(4)}")
        self._sync_folder = sync_folder
        descriptor = store.create_file(self._temp, batched=not sync_folder)
        self._file = os.fdopen(descriptor, "wb")
        self._synced = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        return self._file.write(data)

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._synced = True
        super().close()

    def commit(self) -> None:
        self.close()
        if not self._synced:
            raise BlobStoreError("blob was not written completely")
        self._temp.replace(self._final)
        if self._sync_folder:
            fsync_folder(self._final.parent)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        super().close()
        self._temp.unlink(missing_ok=True)


class _DeferredWriter(RawIOBase):
    """A batch's blob where the batch syncs the file system: close() leaves the bytes to the
    batch's `syncfs`, and commit() hands the temporary file to the batch, which renames it once
    its bytes are durable (LocalBatch.settle). The hot path of a bulk ingest (a worker writes
    thousands of small blobs): names as strings, the file written through its descriptor with
    a buffer of its own (no buffered file object: its fstat, ioctl and lseek), and no stat of
    the final name when its folder was made for it just now (a new folder holds no blob)."""

    def __init__(self, batch: LocalBatch, blob_id: str) -> None:
        super().__init__()
        store = batch.local
        self._batch = batch
        self._blob_id = blob_id
        self._final = store.blob_name(blob_id)
        folder = os.path.dirname(self._final)  # noqa: PTH120
        made = store.ensure_folder(folder, batched=True)
        if not made and os.path.lexists(self._final):
            raise BlobStoreError(f"blob {blob_id} exists already")
        self._temp = f"{self._final}{TEMP_MARK}{secrets.token_hex(4)}"
        self._descriptor: int | None = store.create_file(self._temp, batched=True)
        self._buffer = bytearray()
        self._synced = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        if self._descriptor is None:
            raise ValueError("write to a closed blob")
        size = len(data)
        if not self._buffer and size >= _WRITE_BUFFER:  # a large segment: no copy
            _write_all(self._descriptor, data)
            return size
        self._buffer += data
        if len(self._buffer) >= _WRITE_BUFFER:
            self._flush()
        return size

    def _flush(self) -> None:
        if self._descriptor is not None and self._buffer:
            _write_all(self._descriptor, self._buffer)
            del self._buffer[:]

    def close(self) -> None:
        descriptor = self._descriptor
        if descriptor is not None:
            try:
                self._flush()  # no fsync: the batch's syncfs makes it durable
            finally:
                self._descriptor = None
                os.close(descriptor)
            self._synced = True  # written completely (durable once the batch settles)
        super().close()

    def commit(self) -> None:
        self.close()
        if not self._synced:
            raise BlobStoreError("blob was not written completely")
        self._batch.written(self._blob_id, self._temp, self._final)

    def abort(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)
        super().close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp)  # noqa: PTH108


_WRITE_BUFFER = 256 * 1024  # bytes a deferred blob gathers before writing them


def _write_all(descriptor: int, data: bytes | bytearray) -> None:
    """All of `data` (a write to a regular file stops short only when the disk fills, and the
    next write then says why)."""
    written = os.write(descriptor, data)
    while written < len(data):
        with memoryview(data)[written:] as rest:
            written += os.write(descriptor, rest)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def fsync_folder(folder: str | Path) -> None:
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _libc_syncfs() -> Callable[[int], None] | None:
    """syncfs(2), where it says whether write-back failed: Linux 5.17 or later (before 5.8 it
    returned 0 even when blocks could not be written; before 5.17 it still ignored an error
    from the file system's own sync, so a batch could not know)."""
    system = os.uname()
    if system.sysname != "Linux":
        return None
    try:
        major, minor = (int(part) for part in system.release.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 17):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int

    def syncfs(descriptor: int) -> None:
        if function(descriptor) != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))

    return syncfs


# The whole-file-system sync that batches use, or None: each blob and folder fsynced instead.
SYNCFS = _libc_syncfs()


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        # Fan-out folders (their paths as text) known to exist (created, and their entry in
        # the parent fsynced): a blob's write then costs no mkdir. One removed underneath is
        # made again (create_file).
        self._folders: set[str] = set()
        self._pending: set[str] = set()  # made for a batch, their entries not yet synced
        self._tops: set[str] = set()  # first-level folders known to exist (not yet synced)
        self._folders_lock = threading.Lock()

    def _path(self, blob_id: str) -> Path:
        _valid_blob_id(blob_id)
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def writer(self, blob_id: str) -> BlobWriter:
        return self._writer(blob_id, sync_folder=True)

    def blob_name(self, blob_id: str) -> str:
        """A blob's path, as text (`_path`'s, without building a Path)."""
        _valid_blob_id(blob_id)
        return os.path.join(self.root, blob_id[:2], blob_id[2:4], blob_id)  # noqa: PTH118

    def _writer(self, blob_id: str, *, sync_folder: bool) -> _LocalWriter:
        final = self._path(blob_id)
        if final.exists():
            raise BlobStoreError(f"blob {blob_id} exists already")
        return _LocalWriter(self, final, sync_folder=sync_folder)

    def ensure_folder(self, folder: str, *, batched: bool) -> bool:
        """Make a blob's fan-out folder if it is not known to exist (see `_make_folders`).
        True if it was made just now, by this call: it holds no blob yet."""
        if folder in self._folders or (batched and folder in self._pending):
            return False
        return self._make_folders(folder, batched=batched)

    def create_file(self, temp: str | Path, *, batched: bool = False) -> int:
        """Open a new private file in its fan-out folder, making the folders first if they are
        not known to exist (or were removed underneath: then once more after making them).
        `batched`: a folder made for it is durable in its parent only once the batch settles."""
        name = os.fspath(temp)
        folder = os.path.dirname(name)  # noqa: PTH120
        self.ensure_folder(folder, batched=batched)
        try:
            return os.open(name, _NEW_FILE, 0o600)
        except FileNotFoundError:
            with self._folders_lock:
                self._folders.discard(folder)
                self._pending.discard(folder)
                self._tops.discard(os.path.dirname(folder))  # noqa: PTH120
            self._make_folders(folder, batched=batched)
            return os.open(name, _NEW_FILE, 0o600)

    def _make_folders(self, folder: str, *, batched: bool) -> bool:
        """Both fan-out levels, private (not umask's). Their entries are made durable in their
        parents before a blob in them is: at once, or for a batch when it settles. That holds
        for folders found existing too, once per process: another process (an ingest whose
        batch has not settled yet) may have made one and not yet fsynced its parent. True if
        this call made the leaf folder."""
        top = os.path.dirname(folder)  # noqa: PTH120
        if top not in self._tops:  # its first-level folder, once per process
            self._make_top(top)
        try:  # one mkdir for a new leaf, the common case: its parent and the root exist
            os.mkdir(folder, 0o700)  # noqa: PTH102
            made = True
        except FileExistsError:
            made = False
        except FileNotFoundError:  # its first-level folder was removed underneath
            self._make_top(top)
            try:
                os.mkdir(folder, 0o700)  # noqa: PTH102
                made = True
            except FileExistsError:
                made = False
        with self._folders_lock:
            if batched:
                self._pending.add(folder)
                return made
        fsync_folder(self.root)
        fsync_folder(top)
        with self._folders_lock:
            self._folders.add(folder)
        return made

    def _make_top(self, top: str) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(top, 0o700)  # noqa: PTH102
        with self._folders_lock:
            self._tops.add(top)

    def settle_folders(self, blob_ids: Iterable[str]) -> None:
        """Make committed blobs durable: the entries of folders made for batches in their
        parents (all of them, not only these blobs'), then each blob's folder, once each."""
        with self._folders_lock:
            made = set(self._pending)
        if made:
            tops = sorted({os.path.dirname(folder) for folder in made})  # noqa: PTH120
            for parent in [os.fspath(self.root), *tops]:
                fsync_folder(parent)
        for folder in sorted({self._path(blob_id).parent for blob_id in blob_ids}):
            fsync_folder(folder)
        if made:
            with self._folders_lock:
                self._pending -= made
                self._folders |= made

    def pending_folders(self) -> set[str]:
        """Folders made for batches whose entries are not yet known to be durable."""
        with self._folders_lock:
            return set(self._pending)

    def folders_durable(self, folders: set[str]) -> None:
        """These folders' entries are durable now (a syncfs of the store's file system)."""
        with self._folders_lock:
            self._pending -= folders
            self._folders |= folders

    def batched(self) -> LocalBatch:
        return LocalBatch(self)

    def open(self, blob_id: str) -> BinaryIO:
        try:
            return self._path(blob_id).open("rb")
        except FileNotFoundError:
            raise BlobStoreError(f"blob {blob_id} is missing") from None

    def delete(self, blob_id: str) -> None:
        self._path(blob_id).unlink(missing_ok=True)

    def exists(self, blob_id: str) -> bool:
        return self._path(blob_id).exists()

    def blob_ids(self) -> Iterator[str]:
        for path in sorted(self.root.glob("??/??/*")):
            if BLOB_ID.fullmatch(path.name):
                yield path.name

    def leftovers(self) -> Iterator[str]:
        for path in sorted(self.root.glob(f"??/??/*{TEMP_MARK}*")):
            yield str(path.relative_to(self.root))

    def remove_temporaries(self, blob_id: str) -> None:
        """Remove what an interrupted write of this blob left under temporary names (a bulk
        ingest's worker process that died while writing it)."""
        final = self._path(blob_id)
        for path in final.parent.glob(f"{blob_id}{TEMP_MARK}*"):
            path.unlink(missing_ok=True)

    def remove_leftover(self, name: str) -> None:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents or TEMP_MARK not in path.name:
            raise BlobStoreError(f"{name} is not a leftover of an interrupted write")
        path.unlink(missing_ok=True)


class Batch(Protocol):
    """A store whose committed blobs are durable only after `settle` (see `batched`)."""

    def writer(self, blob_id: str) -> BlobWriter: ...
    def settle(self, blob_ids: Iterable[str]) -> None: ...
    def open(self, blob_id: str) -> BinaryIO: ...
    def delete(self, blob_id: str) -> None: ...
    def exists(self, blob_id: str) -> bool: ...
    def blob_ids(self) -> Iterator[str]: ...
    def leftovers(self) -> Iterator[str]: ...
    def remove_leftover(self, name: str) -> None: ...
    def close(self) -> None: ...


class _Durable:
    """A store whose commits are durable already (S3: an object exists once complete)."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def writer(self, blob_id: str) -> BlobWriter:
        return self.store.writer(blob_id)

    def settle(self, blob_ids: Iterable[str]) -> None:
        del blob_ids

    def open(self, blob_id: str) -> BinaryIO:
        return self.store.open(blob_id)

    def delete(self, blob_id: str) -> None:
        self.store.delete(blob_id)

    def exists(self, blob_id: str) -> bool:
        return self.store.exists(blob_id)

    def blob_ids(self) -> Iterator[str]:
        return self.store.blob_ids()

    def leftovers(self) -> Iterator[str]:
        return self.store.leftovers()

    def remove_leftover(self, name: str) -> None:
        self.store.remove_leftover(name)

    def close(self) -> None:
        pass


class LocalBatch(_Durable):
    """The store for blobs written many at a time, durable once settled. With `syncfs`
    (SYNCFS): a commit leaves the blob under its temporary name, its bytes not yet synced;
    `settle` syncs the file system (the bytes, and new folders' entries), renames the blobs
    into place and syncs it again (the names). Without: a commit fsyncs the blob and renames it
    without fsyncing its folder; `settle` fsyncs each distinct folder once. Reads and deletes
    are the store's; `close` when done."""

    def __init__(self, store: LocalBlobStore, syncfs: Callable[[int], None] | None = None) -> None:
        super().__init__(store)
        self.local = store
        self._syncfs = syncfs if syncfs is not None else SYNCFS
        self._waiting: dict[str, tuple[str, str]] = {}  # committed: temporary, final name
        self._lock = threading.Lock()
        self._root: int | None = None  # the store's root, open: what syncfs is called on
        # A failed syncfs, kept: syncfs reports a write-back error once, to whichever call
        # comes first, and that call may be settling an earlier batch than the one whose
        # pages were lost (the next batch's blobs are being written meanwhile). So once one
        # fails, no blob written through this view is trusted: every later settle fails.
        self._failed: OSError | None = None

    def writer(self, blob_id: str) -> BlobWriter:
        if self._syncfs is None:
            return self.local._writer(blob_id, sync_folder=False)  # noqa: SLF001 - its own view
        self.begin()
        return _DeferredWriter(self, blob_id)

    def begin(self) -> None:
        """Open the store's root, which syncfs is called on, if it is not open yet. Before the
        batch's first byte is written (by this process or by worker processes whose blobs
        `adopt` takes over): syncfs on it reports every write-back failure of the file system
        since (and each one once)."""
        with self._lock:
            if self._root is None:
                self.local.root.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._root = os.open(self.local.root, os.O_RDONLY | os.O_DIRECTORY)
                folder_spread.mark_top(self._root)

    def written(self, blob_id: str, temp: str | Path, final: str | Path) -> None:
        with self._lock:
            self._waiting[blob_id] = (os.fspath(temp), os.fspath(final))

    def taken(self, blob_id: str) -> tuple[str, str]:
        """A committed blob handed over to another process's batch (see `adopt`): its
        temporary and final names, forgotten here."""
        with self._lock:
            return self._waiting.pop(blob_id)

    def adopt(self, blob_id: str, temp: str | Path, final: str | Path) -> None:
        """A blob committed by a worker process's batch (`taken`), settled by this one. Its
        name must be the one this store gives the id; `begin` was called before it was
        written."""
        temp, final = os.fspath(temp), os.fspath(final)
        folder = os.path.dirname(final)  # noqa: PTH120
        if final != self.local.blob_name(blob_id) or os.path.dirname(temp) != folder:  # noqa: PTH120
            raise BlobStoreError(f"blob {blob_id} was not written in this store")
        if not os.path.basename(temp).startswith(f"{blob_id}{TEMP_MARK}"):  # noqa: PTH119
            raise BlobStoreError(f"blob {blob_id} was not written in this store")
        self.written(blob_id, temp, final)

    def settle(self, blob_ids: Iterable[str]) -> None:
        if self._syncfs is None:
            self.local.settle_folders(blob_ids)
            return
        ids = list(blob_ids)
        with self._lock:
            missing = [blob_id for blob_id in ids if blob_id not in self._waiting]
            if missing:
                raise BlobStoreError(f"blob {missing[0]} was not committed in this batch")
            names = [self._waiting[blob_id] for blob_id in ids]
            root = self._root
        if root is None:  # pragma: no cover - a committed blob opened it
            raise BlobStoreError("nothing was written in this batch")
        made = self.local.pending_folders()
        self._sync(root)  # the bytes, and the entries of folders made for them
        self.local.folders_durable(made)
        for temp, final in names:
            Path(temp).replace(final)
        self._sync(root)  # the names
        with self._lock:
            for blob_id in ids:
                self._waiting.pop(blob_id, None)

    def _sync(self, root: int) -> None:
        if self._failed is not None:
            raise BlobStoreError(
                "the file system reported a write error earlier in this run: blobs written "
                "since cannot be trusted to be on disk"
            ) from self._failed
        if self._syncfs is None:  # pragma: no cover - settle took the fsync path
            raise BlobStoreError("syncfs is not usable here")
        try:
            self._syncfs(root)
        except OSError as error:
            self._failed = error
            raise

    def delete(self, blob_id: str) -> None:
        with self._lock:
            waiting = self._waiting.pop(blob_id, None)
        if waiting is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(waiting[0])  # noqa: PTH108 - not renamed yet; or renamed, then:
        self.local.delete(blob_id)

    def close(self) -> None:
        with self._lock:
            root, self._root = self._root, None
        if root is not None:
            os.close(root)


def batched(store: BlobStore) -> Batch:
    """A view of `store` for writing many blobs, made durable together by `settle`."""
    if isinstance(store, LocalBlobStore):
        return store.batched()
    return _Durable(store)


def open_store(url: str, settings: Settings | None = None) -> BlobStore:
    """`file:///path` or `s3://bucket/prefix`; the [storage] settings configure S3."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalBlobStore(Path(parts.path))
    if parts.scheme == "s3":
        from casefile.vault.s3store import S3BlobStore  # noqa: PLC0415 - boto3 only when used

        if settings is None:
            return S3BlobStore.from_url(url)
        return S3BlobStore.from_url(
            url,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            object_lock_days=settings.object_lock_days,
            part_mb=settings.s3_part_mb,
        )
    raise BlobStoreError(f"storage {parts.scheme}:// is not available in this version")
