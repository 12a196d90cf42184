"""The type of a file decided by its content (libmagic), never by its name or a header."""

from __future__ import annotations

import mimetypes
import queue
from pathlib import PurePosixPath

import magic

HEAD_BYTES = 64 * 1024  # what libmagic looks at; kept in memory only

# Names in use for the same type: browsers, operating systems and libmagic spell several types
# differently (Chromium declares a WAV file audio/wav, libmagic says audio/x-wav). Each maps to
# one canonical name; a comparison of two types compares their canonical names.
EQUIVALENT: dict[str, str] = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-pn-wav": "audio/wav",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "application/x-pdf": "application/pdf",
    "application/acrobat": "application/pdf",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "video/x-quicktime": "video/quicktime",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
}
# Declared types that claim nothing about the content: a client that does not know the type
# sends one of these.
NO_CLAIM = frozenset({"", "application/octet-stream", "binary/octet-stream"})


# libmagic handles, each used by one thread at a time. `magic.from_buffer` shares one handle
# behind a lock, so that threads examining files (bulk ingest's workers, the server's request
# threads) took turns; libmagic runs without the GIL (ctypes), so with a handle each they run
# at once. A handle is made when none is free: at most one per thread that detects at once.
_handles: queue.SimpleQueue[magic.Magic] = queue.SimpleQueue()


def detect(head: bytes) -> str:
    if not head:
        return "application/x-empty"
    try:
        handle = _handles.get_nowait()
    except queue.Empty:
        handle = magic.Magic(mime=True)
    try:
        return str(handle.from_buffer(head))
    finally:
        _handles.put(handle)


def canonical(mime: str) -> str:
    """The one name of a type among its equivalent spellings (parameters and case dropped).
    Plain text under any name (text/x-python, text/x-c: libmagic's and browsers' guesses of
    what a text is *about*) is plain text."""
    value = mime.split(";", maxsplit=1)[0].strip().lower()
    if value.startswith("text/x-"):
        return "text/plain"
    return EQUIVALENT.get(value, value)


def same_type(first: str, second: str) -> bool:
    return canonical(first) == canonical(second)


def mismatches(detected: str, filename: str | None, declared: str | None) -> list[str]:
    """Which of the file name's extension and the client's declared type disagree with the
    content. Equivalent names of one type agree; a declared application/octet-stream claims
    nothing. The one comparison for every way in (web form, API, tus, bulk ingest)."""
    found: list[str] = []
    declared_type = canonical(declared or "")
    if declared_type not in NO_CLAIM and not same_type(declared_type, detected):
        found.append("declared_type")
    if filename:
        guessed, _ = mimetypes.guess_type(PurePosixPath(filename).name, strict=False)
        if guessed is not None and guessed not in NO_CLAIM and not same_type(guessed, detected):
            found.append("extension")
    return found
