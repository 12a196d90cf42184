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
        try:
            handle = tink.proto_keyset_format.parse_encrypted(wrapped, self._aead, item_id)
        except tink.TinkError as error:
            raise KeyringError(f"cannot unwrap the data key: {error}") from None
        return bytes(tink.proto_keyset_format.serialize_encrypted(handle, self._aead, item_id))
