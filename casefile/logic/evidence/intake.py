"""One pass over an item's bytes, in bounded memory: hashes, the head kept in memory for
type detection, streaming authenticated encryption into the blob store. No plaintext byte
reaches disk. The stream knows nothing of cases or people; `registration` does."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from io import RawIOBase

from casefile.vault import polyglot, sniff
from casefile.vault.blobstore import BlobStore, BlobWriter
from casefile.vault.envelope import Keyring
from casefile.vault.extract import EXTRACT_LIMIT

HASH_ALGORITHMS = ("md5", "sha1", "sha256")  # what collectors' acquisition logs declare
SIDE_ALGORITHMS = ("md5", "sha1")  # computed only for a collector who declared them
SIDE_THREAD_FROM = 4 * 1024 * 1024


def side_algorithms(declared: Iterable[str]) -> tuple[str, ...]:
    """The digests besides SHA-256 that intake must compute to check these declared ones."""
    wanted = set(declared)
    return tuple(name for name in SIDE_ALGORITHMS if name in wanted)


class _Surfacing(RawIOBase):
    """The blob writer as Tink's encrypting stream sees it. Tink passes a failure of the
    sink through its C++ layer as a TinkError carrying only the text; this keeps the
    original (ENOSPC, an S3 endpoint unreachable) so that `reraise` can raise it, and the
    client is told what failed (casefile/failures.py) instead of an internal error."""

    def __init__(self, blob: BlobWriter) -> None:
        super().__init__()
        self._blob = blob
        self.failure: BaseException | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        try:
            return self._blob.write(data)
        except Exception as error:
            self.failure = error
            raise

    def close(self) -> None:
        try:
            self._blob.close()
        except Exception as error:
            self.failure = error
            raise
        finally:
            super().close()

    def reraise(self, error: Exception) -> None:
        """Raise the sink's own failure (from `error`, Tink's), if there was one."""
        if self.failure is not None:
            raise self.failure from error


@dataclass(frozen=True)
class Received:
    item_id: uuid.UUID
    size: int
    hashes: dict[str, str]  # SHA-256, and the declared algorithms' digests
    head: bytes
    wrapped_key: bytes
    content: bytes | bytearray | None  # the whole file when small enough to examine
    containers: tuple[str, ...] = ()  # other file types found inside (vault.polyglot)

    @property
    def sha256(self) -> str:
        return self.hashes["sha256"]


class IntakeStream(RawIOBase):
    """Write the plaintext in; `finish()` makes the encrypted blob durable. Also usable as
    Werkzeug's file stream for a multipart part (it calls write() and then seek(0))."""

    def __init__(
        self,
        store: BlobStore,
        keyring: Keyring,
        *,
        also: Iterable[str] = (),
        item_id: uuid.UUID | None = None,
    ) -> None:
        """`also`: digests to compute besides SHA-256 (those the collector declared);
        `item_id`: the new item's id when the caller chose it (a bulk ingest does, so that it
        knows which blob a worker process may have begun)."""
        super().__init__()
        self.item_id = item_id if item_id is not None else uuid.uuid4()
        self._store = store
        data_key = keyring.new_data_key(self.item_id.bytes)
        self._wrapped = data_key.wrapped
        self._blob = store.writer(self.item_id.hex)
        self._sink = _Surfacing(self._blob)
        self._encrypt = data_key.cipher.new_encrypting_stream(self._sink, self.item_id.bytes)
        self._sha256 = hashlib.sha256()
        self._side_hashes = {name: hashlib.new(name) for name in side_algorithms(also)}
        # MD5 and SHA-1 (for declared hashes) run on a second thread once a file is large:
        # hashlib releases the GIL, so they overlap with SHA-256 and encryption here.
        self._side: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._head = bytearray()
        self._small: bytearray | None = bytearray()  # dropped once past EXTRACT_LIMIT
        self._polyglot = polyglot.PolyglotScanner()
        self.size = 0
        self.state = "open"  # open → finished | aborted

    def writable(self) -> bool:
        return True

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        if self.state != "open":
            raise ValueError(f"intake stream is {self.state}")
        chunk = data if isinstance(data, bytes) else bytes(data)  # the side thread keeps it
        view = memoryview(chunk)
        self._sha256.update(view)
        if self._side_hashes:
            self._side_hash(chunk)
        if len(self._head) < sniff.HEAD_BYTES:
            self._head += view[: sniff.HEAD_BYTES - len(self._head)]
        if self._small is not None:
            if len(self._small) + len(view) > EXTRACT_LIMIT:
                self._small = None
            else:
                self._small += view
        self._polyglot.update(chunk)
        try:
            self._encrypt.write(chunk)
        except Exception as error:
            self._sink.reraise(error)
            raise
        self.size += len(view)
        return len(view)

    def _side_hash(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._pending.result()  # one chunk in flight at most: memory stays bounded
            self._pending = None
        if self._side is None and self.size + len(chunk) < SIDE_THREAD_FROM:
            self._update_side(chunk)
            return
        if self._side is None:
            self._side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-hash")
        self._pending = self._side.submit(self._update_side, chunk)

    def _update_side(self, chunk: bytes) -> None:
        for digest in self._side_hashes.values():
            digest.update(chunk)

    def _join_side(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        if self._side is not None:
            self._side.shutdown(wait=True)
            self._side = None

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Werkzeug rewinds a finished part; there is nothing to rewind to."""
        if offset != 0 or whence != 0:
            raise OSError("an intake stream cannot seek")
        return 0

    def finish(self) -> Received:
        if self.state != "open":
            raise ValueError(f"intake stream is {self.state}")
        self._join_side()
        try:
            self._encrypt.close()  # writes the last segment and closes (fsyncs) the blob
        except Exception as error:
            self._sink.reraise(error)
            raise
        self._blob.commit()
        self.state = "finished"
        return Received(
            item_id=self.item_id,
            size=self.size,
            hashes={"sha256": self._sha256.hexdigest()}
            | {name: digest.hexdigest() for name, digest in self._side_hashes.items()},
            head=bytes(self._head),
            wrapped_key=self._wrapped,
            content=self._small,  # no copy: nothing writes to it any more
            containers=self._polyglot.containers(),
        )

    def abort(self) -> None:
        """Drop everything written so far (a failed or abandoned upload)."""
        self._join_side()
        if self.state == "open":
            self._blob.abort()
        elif self.state == "finished":
            self._store.delete(self.item_id.hex)
        self.state = "aborted"

    def close(self) -> None:  # Werkzeug may close FileStorage streams; keep the state
        super().close()
