"""The tus 1.0.0 headers that carry more than a number: Upload-Metadata (`key base64(value)`
pairs) and Upload-Checksum (`<algorithm> <base64 digest>`), read from a request and written
into a response. The upload itself (state, encrypted chunks, completion) is the domain's:
casefile/logic/evidence/tus.py."""

from __future__ import annotations

import base64
import binascii

from casefile.logic.errors import DomainError, ValidationFailed
from casefile.logic.evidence.submission import clean_filename
from casefile.logic.evidence.tus import CHECKSUM_ALGORITHMS, FILENAME_KEYS, Checksum


class MalformedUpload(DomainError):
    """A header of the upload (its metadata, its checksum) cannot be read."""


def parse_metadata(header: str | None) -> dict[str, str]:
    """Upload-Metadata: `key base64(value)` pairs, comma-separated; a key may have no value."""
    result: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        if not key.isascii() or not key.isprintable() or key in result:
            raise MalformedUpload("Upload-Metadata keys must be unique, printable ASCII")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise MalformedUpload(f"Upload-Metadata value of {key!r} is not base64") from None
        result[key] = _text(key, raw)
    return result


def _text(key: str, raw: bytes) -> str:
    if key in FILENAME_KEYS:  # kept as metadata only: anything goes, made visible
        return clean_filename(raw.decode("utf-8", "replace")) or ""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed({key: "must be UTF-8 text"}) from None
    if "\x00" in text:
        raise ValidationFailed({key: "may not contain NUL characters"})
    return text


def encode_metadata(fields: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in fields.items()
    )


def parse_checksum(header: str | None) -> Checksum | None:
    """Upload-Checksum: `<algorithm> <base64 digest>`."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise MalformedUpload(
            f"unsupported checksum algorithm {algorithm!r}; use " + " or ".join(CHECKSUM_ALGORITHMS)
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise MalformedUpload("the Upload-Checksum digest is not base64") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]:
        raise MalformedUpload(f"a {algorithm} digest is {CHECKSUM_ALGORITHMS[algorithm]} bytes")
    return Checksum(algorithm, digest)
