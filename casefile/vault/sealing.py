"""Sealed metadata: a restricted item's descriptive fields as one JSON document, encrypted
with the item's own data key (the Tink streaming AEAD its blob is encrypted with), bound to
the item by associated data. Destroying the data key (crypto-shredding) makes it noise.

Each sealed document also carries a random commitment key: the custody log records an
HMAC-SHA256 of the file name under it instead of the name, which only someone who can open
the seal can check, and which is unverifiable once the item is shredded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import secrets
import uuid
from typing import Any

from tink import TinkError, streaming_aead

from casefile.vault.envelope import KeyringError

PURPOSE = b"metadata:"
FORMAT = 1


class _Buffer(io.BytesIO):
    """Tink closes the destination when the stream closes; keep the bytes readable."""

    def close(self) -> None:
        pass


def associated_data(item_id: uuid.UUID) -> bytes:
    return PURPOSE + item_id.bytes


def new_commitment_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def commitment(key: str, value: str) -> str:
    """`hmac-sha256:<hex>` of a value under a sealed commitment key."""
    mac = hmac.new(base64.b64decode(key), value.encode("utf-8"), hashlib.sha256)
    return f"hmac-sha256:{mac.hexdigest()}"


def seal(cipher: streaming_aead.StreamingAead, item_id: uuid.UUID, fields: dict[str, Any]) -> bytes:
    document = json.dumps({"v": FORMAT, **fields}, ensure_ascii=False, sort_keys=True)
    out = _Buffer()
    with cipher.new_encrypting_stream(out, associated_data(item_id)) as stream:
        stream.write(document.encode("utf-8"))
    return out.getvalue()


def unseal(
    cipher: streaming_aead.StreamingAead, item_id: uuid.UUID, sealed: bytes
) -> dict[str, Any]:
    try:
        with cipher.new_decrypting_stream(io.BytesIO(sealed), associated_data(item_id)) as stream:
            document = stream.read()
    except TinkError as error:
        raise KeyringError(f"the sealed metadata does not open: {error}") from None
    fields: dict[str, Any] = json.loads(document)
    if fields.pop("v", None) != FORMAT:
        raise KeyringError("the sealed metadata is in an unknown format")
    return fields
