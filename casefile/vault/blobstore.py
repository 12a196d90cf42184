"""Where encrypted blobs live. Paths come from item ids only, never from client names.

A blob becomes visible under its final name only when `commit()` has made it durable: the
bytes go to a temporary name in the same folder, are fsynced, renamed, and the folder is
fsynced. An interrupted write leaves a `.tmp-` file that `casefile scrub --repair` removes."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from io import RawIOBase
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import urlsplit

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


def _check(blob_id: str) -> str:
    if not BLOB_ID.fullmatch(blob_id):
        raise BlobStoreError(f"not a blob id: {blob_id!r}")
    return blob_id


class _LocalWriter(RawIOBase):
    """A file under a temporary name; close() makes the bytes durable, commit() the name."""

    def __init__(self, final: Path) -> None:
        super().__init__()
        final.parent.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in (final.parent.parent, final.parent):  # both levels private, not umask's
            folder.mkdir(mode=0o700, exist_ok=True)
        self._final = final
        self._temp = final.with_name(f"{final.name}{TEMP_MARK}{secrets.token_hex(4)}")
        descriptor = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
        directory = os.open(self._final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        super().close()
        self._temp.unlink(missing_ok=True)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, blob_id: str) -> Path:
        _check(blob_id)
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def writer(self, blob_id: str) -> BlobWriter:
        final = self._path(blob_id)
        if final.exists():
            raise BlobStoreError(f"blob {blob_id} exists already")
        return _LocalWriter(final)

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

    def remove_leftover(self, name: str) -> None:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents or TEMP_MARK not in path.name:
            raise BlobStoreError(f"{name} is not a leftover of an interrupted write")
        path.unlink(missing_ok=True)


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
