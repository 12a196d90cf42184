"""One pass over an item's bytes, in bounded memory: hashes, the head kept in memory for
type detection, streaming authenticated encryption into the blob store. No plaintext byte
reaches disk. The stream knows nothing of cases or people; `evidence.register` does."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from io import RawIOBase

from casefile.vault import sniff
from casefile.vault.blobstore import BlobStore
from casefile.vault.extract import EXTRACT_LIMIT
from casefile.vault.keyring import Keyring

HASH_ALGORITHMS = ("md5", "sha1", "sha256")  # what collectors' acquisition logs declare


@dataclass(frozen=True)
class Received:
    item_id: uuid.UUID
    size: int
    hashes: dict[str, str]
    head: bytes
    wrapped_key: bytes
    content: bytes | None  # the whole file when small enough to examine in memory

    @property
    def sha256(self) -> str:
        return self.hashes["sha256"]


class IntakeStream(RawIOBase):
    """Write the plaintext in; `finish()` makes the encrypted blob durable. Also usable as
    Werkzeug's file stream for a multipart part (it calls write() and then seek(0))."""

    def __init__(self, store: BlobStore, keyring: Keyring) -> None:
        super().__init__()
        self.item_id = uuid.uuid4()
        self._store = store
        data_key = keyring.new_data_key(self.item_id.bytes)
        self._wrapped = data_key.wrapped
        self._blob = store.writer(self.item_id.hex)
        self._encrypt = data_key.cipher.new_encrypting_stream(self._blob, self.item_id.bytes)
        self._hashes = {name: hashlib.new(name) for name in HASH_ALGORITHMS}
        self._head = bytearray()
        self._small: bytearray | None = bytearray()  # dropped once past EXTRACT_LIMIT
        self.size = 0
        self.state = "open"  # open → finished | aborted

    def writable(self) -> bool:
        return True

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        if self.state != "open":
            raise ValueError(f"intake stream is {self.state}")
        view = memoryview(data)
        for digest in self._hashes.values():
            digest.update(view)
        if len(self._head) < sniff.HEAD_BYTES:
            self._head += view[: sniff.HEAD_BYTES - len(self._head)]
        if self._small is not None:
            if len(self._small) + len(view) > EXTRACT_LIMIT:
                self._small = None
            else:
                self._small += view
        self._encrypt.write(data)
        self.size += len(view)
        return len(view)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Werkzeug rewinds a finished part; there is nothing to rewind to."""
        if offset != 0 or whence != 0:
            raise OSError("an intake stream cannot seek")
        return 0

    def finish(self) -> Received:
        if self.state != "open":
            raise ValueError(f"intake stream is {self.state}")
        self._encrypt.close()  # writes the last segment and closes (fsyncs) the blob
        self._blob.commit()
        self.state = "finished"
        return Received(
            item_id=self.item_id,
            size=self.size,
            hashes={name: digest.hexdigest() for name, digest in self._hashes.items()},
            head=bytes(self._head),
            wrapped_key=self._wrapped,
            content=bytes(self._small) if self._small is not None else None,
        )

    def abort(self) -> None:
        """Drop everything written so far (a failed or abandoned upload)."""
        if self.state == "open":
            self._blob.abort()
        elif self.state == "finished":
            self._store.delete(self.item_id.hex)
        self.state = "aborted"

    def close(self) -> None:  # Werkzeug may close FileStorage streams; keep the state
        super().close()
