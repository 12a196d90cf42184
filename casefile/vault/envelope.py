"""Envelope encryption with Tink.

The key-encryption key (KEK) is a Tink AEAD keyset (AES-256-GCM). Each evidence item gets a
fresh Tink streaming AEAD keyset (AES256-GCM-HKDF, 1 MiB segments: it detects truncation,
reordering and splicing), stored only wrapped by the KEK with the item's id as associated
data, so a wrapped key cannot be moved to another item. Rotating the KEK adds a key to the
KEK keyset and rewraps data keys; blobs are never rewritten. Destroying an item's wrapped key
makes its blob unreadable (crypto-shredding).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import tink
from tink import aead, secret_key_access, streaming_aead
from tink.proto import tink_pb2

aead.register()
streaming_aead.register()

DATA_KEY_TEMPLATE = streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB
KEK_TEMPLATE = aead.aead_key_templates.AES256_GCM
FILE_NAME = "kek.json"


class KeyringError(Exception):
    """The KEK is missing or cannot unwrap a data key (wrong KEK, or a shredded item)."""


@dataclass(frozen=True)
class DataKey:
    cipher: streaming_aead.StreamingAead
    wrapped: bytes


class Keyring:
    def __init__(self, kek: tink.KeysetHandle) -> None:
        self._kek = kek
        self._aead = kek.primitive(aead.Aead)

    # --- the KEK file -----------------------------------------------------------------------

    @staticmethod
    def create_file(path: Path) -> bool:
        """Write a new KEK keyset (mode 0600); never replaces one. True if created."""
        handle = tink.new_keyset_handle(KEK_TEMPLATE)
        text = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        return True

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        try:
            return cls(tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN))
        except tink.TinkError as error:
            raise KeyringError(f"the key-encryption key is not a valid keyset: {error}") from None

    @classmethod
    def load(cls, path: Path) -> Keyring | None:
        return cls.from_text(path.read_text()) if path.exists() else None

    def to_text(self) -> str:
        return str(tink.json_proto_keyset_format.serialize(self._kek, secret_key_access.TOKEN))

    @property
    def aead(self) -> aead.Aead:
        """The KEK as an AEAD, for wrapping keys other than data keys (the blind index's)."""
        return self._aead

    @property
    def primary_key_id(self) -> int:
        return int(self._kek.keyset_info().primary_key_id)

    # --- data keys --------------------------------------------------------------------------

    def new_data_key(self, item_id: bytes) -> DataKey:
        handle = tink.new_keyset_handle(DATA_KEY_TEMPLATE)
        wrapped = tink.proto_keyset_format.serialize_encrypted(handle, self._aead, item_id)
        return DataKey(cipher=handle.primitive(streaming_aead.StreamingAead), wrapped=wrapped)

    def unwrap(self, wrapped: bytes | None, item_id: bytes) -> streaming_aead.StreamingAead:
        if wrapped is None:
            raise KeyringError("this item's data key was destroyed")
        try:
            handle = tink.proto_keyset_format.parse_encrypted(wrapped, self._aead, item_id)
        except tink.TinkError as error:
            raise KeyringError(f"cannot unwrap the data key: {error}") from None
        return handle.primitive(streaming_aead.StreamingAead)

    def rewrap(self, wrapped: bytes, item_id: bytes) -> bytes:
        """The same data key, wrapped under the KEK's current primary key."""
        return self.rewrap_for(wrapped, item_id, item_id)

    def rewrap_for(self, wrapped: bytes, item_id: bytes, other_item_id: bytes) -> bytes:
        """The same data key, wrapped under the current primary key for `other_item_id` (an
        item that shares this item's blob)."""
        try:
            handle = tink.proto_keyset_format.parse_encrypted(wrapped, self._aead, item_id)
        except tink.TinkError as error:
            raise KeyringError(f"cannot unwrap the data key: {error}") from None
        wrapped_again = tink.proto_keyset_format.serialize_encrypted(
            handle, self._aead, other_item_id
        )
        return bytes(wrapped_again)

    # --- small secrets (e.g. TOTP seeds) ----------------------------------------------------

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Tink AEAD under the KEK's primary key, bound to `associated_data`."""
        return bytes(self._aead.encrypt(plaintext, associated_data))

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        try:
            return bytes(self._aead.decrypt(ciphertext, associated_data))
        except tink.TinkError as error:
            raise KeyringError(f"cannot decrypt: {error}") from None


# --- rotation -------------------------------------------------------------------------------


def _keyset(handle: tink.KeysetHandle) -> tink_pb2.Keyset:
    raw = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    return tink_pb2.Keyset.FromString(raw)


def _handle(keyset: tink_pb2.Keyset) -> tink.KeysetHandle:
    return tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)


def with_new_primary(keyring: Keyring) -> Keyring:
    """The same KEK keyset plus a fresh key that becomes primary (old keys still unwrap)."""
    keyset = _keyset(keyring._kek)  # noqa: SLF001 - rotation is the keyring's own business
    fresh = _keyset(tink.new_keyset_handle(KEK_TEMPLATE)).key[0]
    while fresh.key_id in {key.key_id for key in keyset.key}:
        fresh = _keyset(tink.new_keyset_handle(KEK_TEMPLATE)).key[0]
    keyset.key.add().CopyFrom(fresh)
    keyset.primary_key_id = fresh.key_id
    return Keyring(_handle(keyset))


def only_primary(keyring: Keyring) -> Keyring:
    """Retire every key but the primary: what they wrapped can no longer be unwrapped."""
    keyset = _keyset(keyring._kek)  # noqa: SLF001
    keep = [key for key in keyset.key if key.key_id == keyset.primary_key_id]
    del keyset.key[:]
    keyset.key.extend(keep)
    return Keyring(_handle(keyset))


def key_ids(keyring: Keyring) -> list[int]:
    return [int(key.key_id) for key in _keyset(keyring._kek).key]  # noqa: SLF001


def wrapped_by(wrapped: bytes) -> int | None:
    """The KEK key id a wrapped data key was encrypted under (Tink's 5-byte prefix)."""
    ciphertext = tink_pb2.EncryptedKeyset.FromString(wrapped).encrypted_keyset
    if len(ciphertext) < 5 or ciphertext[0] != 1:
        return None
    return int.from_bytes(ciphertext[1:5], "big")


def encrypted_by(ciphertext: bytes) -> int | None:
    """The KEK key id a Keyring.encrypt ciphertext was made under (Tink's 5-byte prefix)."""
    if len(ciphertext) < 5 or ciphertext[0] != 1:
        return None
    return int.from_bytes(ciphertext[1:5], "big")


def write_file(keyring: Keyring, path: Path) -> None:
    """Replace the KEK file atomically (mode 0600), so a crash leaves the old or the new."""
    temp = path.with_name(f".{path.name}.new")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(keyring.to_text())
        out.flush()
        os.fsync(out.fileno())
    temp.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class KeyringSource:
    """The KEK for a running server: from the environment (fixed) or from a file, reloaded
    when `casefile keys rotate` replaces it, so servers keep up with a rotation."""

    def __init__(self, *, text: str | None = None, path: Path | None = None) -> None:
        self._path = path
        self._fixed = Keyring.from_text(text) if text else None
        self._loaded: tuple[float, Keyring] | None = None

    @property
    def path(self) -> Path | None:
        return None if self._fixed is not None else self._path

    def get(self) -> Keyring:
        if self._fixed is not None:
            return self._fixed
        if self._path is None or not self._path.exists():
            raise KeyringError("no key-encryption key: run `casefile init`")
        stamp = self._path.stat().st_mtime
        if self._loaded is None or self._loaded[0] != stamp:
            keyring = Keyring.load(self._path)
            if keyring is None:
                raise KeyringError("no key-encryption key: run `casefile init`")
            self._loaded = (stamp, keyring)
        return self._loaded[1]
