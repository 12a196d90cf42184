"""The name an item is saved under: `ERN_original-name.ext`, the ERN first (so a saved file
always says which item it is, and a hostile name can never choose where it lands), the
original name made safe to save on any system. When there is no original name: the ERN and
an extension for the type detected from the content."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from casefile.model import Evidence
from casefile.vault import bidi, sniff

MAX_BYTES = 200  # UTF-8 bytes of the whole name; file systems allow 255, browsers add " (1)"
WINDOWS_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10))}
)
# Extensions for types mimetypes spells oddly or not at all; "" for no extension.
EXTENSIONS = {
    "application/x-empty": "",
    "application/octet-stream": "",
    "text/plain": ".txt",
    "image/jpeg": ".jpg",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "video/quicktime": ".mov",
}


def _clean(text: str) -> str:
    """No control characters, bidi controls or characters Windows refuses; NFC."""
    text = unicodedata.normalize("NFC", text)
    kept = (
        "_" if WINDOWS_FORBIDDEN.match(char) else char
        for char in text
        if char not in bidi.CONTROLS and unicodedata.category(char) not in ("Cc", "Zl", "Zp")
        and not 0xD800 <= ord(char) <= 0xDFFF
    )
    return re.sub(r"\s+", " ", "".join(kept))


def _truncate(stem: str, extension: str, limit: int) -> str:
    while stem and len((stem + extension).encode()) > limit:
        stem = stem[:-1]
    return stem + extension


def type_extension(mime: str) -> str:
    canonical = sniff.canonical(mime)
    if canonical in EXTENSIONS:
        return EXTENSIONS[canonical]
    return mimetypes.guess_extension(canonical, strict=False) or ""


def safe_original(name: str | None) -> str:
    """The last path component of `name`, cleaned: no leading dots or spaces, no trailing
    dots or spaces, not a reserved Windows device name. "" when nothing is left."""
    if not name:
        return ""
    last = re.split(r"[/\\]", name)[-1]  # `../../x` is `x`; a Windows path too
    cleaned = _clean(last).strip(" .")
    cleaned = cleaned.lstrip(".")
    stem = cleaned.split(".")[0].strip().upper()
    if stem in WINDOWS_RESERVED:
        cleaned = "_" + cleaned
    return cleaned


def _ascii(text: str) -> str:
    simple = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", " ", re.sub(r"[^A-Za-z0-9._()+,=@ -]", "_", simple))


def download_names(item: Evidence, original_filename: str | None) -> tuple[str, str]:
    """(`ERN_original.ext`, its ASCII fallback). `ERN.ext` (the extension of the detected
    type) when there is no usable original name; the fallback is `ERN.ext` too when nothing
    ASCII is left of the original name (Burmese). `original_filename` as revealed to a viewer
    who may read the item (a restricted item's name is sealed metadata)."""
    ern = _clean(item.ern).strip(" .") or "item"
    ascii_ern = _ascii(ern)
    original = safe_original(original_filename)
    if not original:
        extension = type_extension(item.mime)
        return _truncate(ern, extension, MAX_BYTES), _truncate(ascii_ern, extension, MAX_BYTES)
    stem, dot, extension = original.rpartition(".")
    if not dot or not stem or len(extension) > 16 or " " in extension:
        stem, extension = original, ""
    else:
        extension = "." + extension
    name = _truncate(f"{ern}_{stem}", extension, MAX_BYTES)
    ascii_stem = _ascii(stem).strip(" .")
    ascii_extension = extension if re.fullmatch(r"\.[A-Za-z0-9]+", extension) else ""
    if not re.search(r"[A-Za-z0-9]", ascii_stem):
        fallback_extension = ascii_extension or type_extension(item.mime)
        return name, _truncate(ascii_ern, fallback_extension, MAX_BYTES)
    return name, _truncate(f"{ascii_ern}_{ascii_stem}", ascii_extension, MAX_BYTES)
