"""Metadata embedded in a file, extracted read-only at intake from bytes held in memory:
EXIF (camera, original time, GPS), PDF document info and page count, audio/video container
data, an image's dimensions, and the text of PDFs and text files, for search (under the key
"text", at most TEXT_LIMIT characters; registering keeps it apart from the metadata shown).
The parsers run in a child process with a time and memory limit
(casefile.vault.bounded): a hostile file cannot hang or exhaust the server. A failure never
blocks intake; it is noted in the result as {"error": ...}."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import imagesize

from casefile.vault import bounded

EXTRACT_LIMIT = 16 * 1024 * 1024  # whole files up to this size are examined in memory
EXTRACT_SECONDS = 10.0  # a parser taking longer is stopped
EXTRACT_MEMORY = 1024 * 1024 * 1024  # the parser's process address space
TEXT_LIMIT = 100_000  # characters of a file's text kept for search
PDF_TEXT_PAGES = 500  # pages whose text is read (within EXTRACT_SECONDS)
log = logging.getLogger("casefile.extract")

EXIF_TAGS = {
    "Image Make": "make",
    "Image Model": "model",
    "EXIF DateTimeOriginal": "original_time",
    "EXIF OffsetTimeOriginal": "original_time_offset",
    "Image Software": "software",
    "GPS GPSLatitude": "gps_latitude",
    "GPS GPSLatitudeRef": "gps_latitude_ref",
    "GPS GPSLongitude": "gps_longitude",
    "GPS GPSLongitudeRef": "gps_longitude_ref",
    "GPS GPSAltitude": "gps_altitude",
}


def _exif(data: bytes) -> dict[str, Any]:
    import exifread  # noqa: PLC0415 - loaded only for images

    tags = exifread.process_file(io.BytesIO(data), details=False)
    found: dict[str, Any] = {name: str(tags[tag]) for tag, name in EXIF_TAGS.items() if tag in tags}
    lat, lon = _gps(tags, "Latitude"), _gps(tags, "Longitude")
    if lat is not None and lon is not None:
        found["gps"] = {"lat": lat, "lon": lon}
    return {"exif": found} if found else {}


def _gps(tags: dict[str, Any], axis: str) -> str | None:
    value, ref = tags.get(f"GPS GPS{axis}"), tags.get(f"GPS GPS{axis}Ref")
    if value is None:
        return None
    try:
        degrees, minutes, seconds = (float(part) for part in value.values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    if str(ref) in ("S", "W"):
        decimal = -decimal
    return f"{decimal:.6f}"  # a string: custody details carry no floats


def _pdf(data: bytes) -> dict[str, Any]:
    from pypdf import PdfReader  # noqa: PLC0415

    reader = PdfReader(io.BytesIO(data))
    info = {
        key.lstrip("/").lower(): str(value)
        for key, value in (reader.metadata or {}).items()
        if isinstance(value, str | int)
    }
    pieces, length = [], 0
    for page in reader.pages[:PDF_TEXT_PAGES]:
        piece = page.extract_text() or ""
        pieces.append(piece)
        length += len(piece)
        if length >= TEXT_LIMIT:
            break
    text = _visible_nul("\n".join(pieces)[:TEXT_LIMIT])
    return {
        "pdf": {"pages": len(reader.pages), "info": info, "text_excerpt": text[:2000]},
        "text": text,
    }


def _text(data: bytes) -> dict[str, Any]:
    """A text file's text: UTF-8 (or UTF-16 with its byte order mark), bad bytes replaced."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        decoded = data.decode("utf-16", errors="replace")
    else:
        decoded = data.decode("utf-8-sig", errors="replace")
    return {"text": _visible_nul(decoded[:TEXT_LIMIT])}


def _visible_nul(text: str) -> str:
    """NUL made U+FFFD, as bad bytes are: a database text column cannot hold it (PostgreSQL
    refuses it), and a file taken for text may well have one (random bytes can look like
    text to libmagic)."""
    return text.replace("\x00", "\ufffd")


def _media(data: bytes) -> dict[str, Any]:
    import mutagen  # noqa: PLC0415

    media = mutagen.File(io.BytesIO(data))
    if media is None:
        return {}
    found: dict[str, Any] = {"container": type(media).__name__}
    if getattr(media, "info", None) is not None:
        length = getattr(media.info, "length", None)
        if length is not None:
            found["duration_seconds"] = f"{float(length):.3f}"
        for attribute in ("bitrate", "sample_rate", "channels", "codec"):
            value = getattr(media.info, attribute, None)
            if value is not None:
                found[attribute] = str(value)
    return {"media": found}


def _extractor(mime: str) -> Callable[[bytes], dict[str, Any]] | None:
    if mime in ("image/jpeg", "image/tiff", "image/heic", "image/webp", "image/png"):
        return _exif
    if mime == "application/pdf":
        return _pdf
    if mime.startswith(("audio/", "video/")):
        return _media
    if mime.startswith("text/"):
        return _text
    return None


def image_size(data: bytes) -> dict[str, Any]:
    """Width and height read from the image's header, without decoding a pixel (imagesize),
    so a 50,000 x 50,000 PNG of a few kilobytes costs nothing here."""
    width, height = imagesize.get(io.BytesIO(data))
    if width <= 0 or height <= 0:
        return {}
    return {"image": {"width": width, "height": height, "pixels": width * height}}


def extract(data: bytes | bytearray | None, head: bytes, mime: str, size: int) -> dict[str, Any]:
    whole = data is not None and len(data) == size
    examined = bytes(data) if whole and data is not None else head
    found: dict[str, Any] = {}
    if mime.startswith("image/"):
        found = image_size(examined)
    extractor = _extractor(mime)
    if extractor is None:
        return found
    if not whole and extractor is not _exif:
        return {**found, "note": f"not extracted: files over {EXTRACT_LIMIT // (1024 * 1024)} MiB"}
    try:
        found |= bounded.run(
            extractor, examined, seconds=EXTRACT_SECONDS, memory_bytes=EXTRACT_MEMORY
        )
    except bounded.LimitExceeded as error:
        log.warning("metadata extraction stopped for %s: %s", mime, error)
        return {**found, "error": f"extraction stopped: {error}"}
    except bounded.ParserFailed as error:
        log.info("metadata extraction failed for %s: %s", mime, error)
        return {**found, "error": f"extraction failed: {error}"}
    if not whole:
        found["note"] = "examined the first 64 KiB only"  # EXIF sits at the start of a file
    return found
