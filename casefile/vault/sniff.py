"""The type of a file decided by its content (libmagic), never by its name or a header."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

import magic

HEAD_BYTES = 64 * 1024  # what libmagic looks at; kept in memory only


def detect(head: bytes) -> str:
    if not head:
        return "application/x-empty"
    return str(magic.from_buffer(head, mime=True))


def _family(mime: str) -> str:
    aliases = {"application/x-zip-compressed": "application/zip", "image/jpg": "image/jpeg"}
    return aliases.get(mime, mime)


def mismatches(detected: str, filename: str | None, declared: str | None) -> list[str]:
    """Which of the file name's extension and the client's declared type disagree."""
    found: list[str] = []
    declared_type = _family((declared or "").split(";")[0].strip().lower())
    if declared_type not in ("", "application/octet-stream") and declared_type != _family(detected):
        found.append("declared_type")
    if filename:
        guessed, _ = mimetypes.guess_type(PurePosixPath(filename).name, strict=False)
        if guessed not in (None, "application/octet-stream") and _family(guessed) != _family(
            detected
        ):
            found.append("extension")
    return found
