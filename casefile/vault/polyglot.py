"""Files that are one type by their first bytes and another container too (a PDF that is
also a ZIP archive, an image with a ZIP appended): watched for during intake's single pass
over the bytes, in bounded memory (a 64 KiB tail and a few bytes carried between chunks).

A ZIP is recognised the way unzip finds one, by its end-of-central-directory record in the
last 64 KiB whose comment length reaches exactly to the end of the file, or by a local file
header with plausible fields after the first byte. A PDF by `%PDF-` within its first 1024
bytes, where PDF readers look for it."""

from __future__ import annotations

import struct

ZIP_LOCAL = b"PK\x03\x04"
ZIP_END = b"PK\x05\x06"
ZIP_END_SIZE = 22
TAIL_BYTES = ZIP_END_SIZE + 0xFFFF  # an end record with the longest possible comment
PDF_MAGIC = b"%PDF-"
PDF_WINDOW = 1024
ZIP_METHODS = frozenset({0, 1, 6, 8, 9, 12, 14, 93, 95, 98, 99})
CARRY = 29 + 1024  # a local header's fixed part and the longest name it is checked with

ZIP_FAMILY = frozenset(
    {
        "application/zip",
        "application/x-zip-compressed",
        "application/java-archive",
        "application/epub+zip",
        "application/vnd.android.package-archive",
    }
)
ZIP_PREFIXES = ("application/vnd.openxmlformats-", "application/vnd.oasis.opendocument.")


def _plausible_local_header(data: bytes | bytearray, at: int) -> bool:
    """A ZIP local file header at `at`: a known method, a name of sane length and bytes."""
    if at + 30 > len(data):
        return False
    version, _, method = struct.unpack_from("<HHH", data, at + 4)
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    if version > 63 or method not in ZIP_METHODS or not 0 < name_length <= 1024:
        return False
    if extra_length > 4096 or at + 30 + name_length > len(data):
        return False
    name = bytes(data[at + 30 : at + 30 + name_length])
    return all(byte >= 0x20 for byte in name) and b"\x00" not in name


class PolyglotScanner:
    """Feed every chunk in order; `containers()` names what else the file is."""

    def __init__(self) -> None:
        self.size = 0
        self._carry = bytearray()
        self._tail = bytearray()
        self._zip_inside = False
        self._pdf_at: int | None = None

    def update(self, chunk: bytes) -> None:
        if self.size < PDF_WINDOW and self._pdf_at is None:
            window = bytes(self._tail) + chunk[:PDF_WINDOW]  # the tail holds every byte so far
            found = window.find(PDF_MAGIC, 0, PDF_WINDOW + len(PDF_MAGIC) - 1)
            if found != -1:
                self._pdf_at = found
        if not self._zip_inside:
            self._scan_local_headers(chunk)
        if len(chunk) >= TAIL_BYTES:
            self._tail = bytearray(chunk[-TAIL_BYTES:])
        else:
            self._tail += chunk
            if len(self._tail) > TAIL_BYTES:
                del self._tail[: len(self._tail) - TAIL_BYTES]
        self.size += len(chunk)

    def _scan_local_headers(self, chunk: bytes) -> None:
        # Across the boundary: headers that began in the bytes carried from the last chunk.
        joined = bytes(self._carry) + chunk[:CARRY]
        carried = len(self._carry)
        at = joined.find(ZIP_LOCAL)
        while 0 <= at < carried:
            if self.size - carried + at > 0 and _plausible_local_header(joined, at):
                self._zip_inside = True
                return
            at = joined.find(ZIP_LOCAL, at + 1)
        # Within this chunk (one cut short by its end is checked again from the carry).
        at = chunk.find(ZIP_LOCAL)
        while at != -1:
            if self.size + at > 0 and _plausible_local_header(chunk, at):
                self._zip_inside = True
                return
            at = chunk.find(ZIP_LOCAL, at + 1)
        self._carry = bytearray((bytes(self._carry) + chunk[-CARRY:])[-CARRY:])

    def _zip_at_end(self) -> bool:
        tail = bytes(self._tail)
        at = tail.rfind(ZIP_END)
        while at != -1:
            if at + ZIP_END_SIZE <= len(tail):
                (comment_length,) = struct.unpack_from("<H", tail, at + 20)
                if at + ZIP_END_SIZE + comment_length == len(tail):
                    return True
            at = tail.rfind(ZIP_END, 0, at)
        return False

    def containers(self) -> tuple[str, ...]:
        found = []
        if self._zip_inside or self._zip_at_end():
            found.append("zip")
        if self._pdf_at is not None:
            found.append("pdf")
        return tuple(found)


def other_types(detected_mime: str, containers: tuple[str, ...]) -> list[str]:
    """The containers the file also is, besides the type its head says (`detected_mime`)."""
    others = []
    for kind in containers:
        if kind == "zip" and (
            detected_mime in ZIP_FAMILY or detected_mime.startswith(ZIP_PREFIXES)
        ):
            continue
        if kind == "pdf" and detected_mime == "application/pdf":
            continue
        others.append(kind)
    return others
