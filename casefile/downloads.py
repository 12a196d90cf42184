"""The Content-Disposition of an item's download, for the web pages and the API alike."""

from __future__ import annotations

from urllib.parse import quote

from casefile.logic.evidence import naming
from casefile.model import Evidence


def attachment(item: Evidence, original_filename: str | None) -> str:
    """`attachment; filename="ASCII"; filename*=UTF-8''percent-encoded` (RFC 6266, RFC 5987):
    every current browser saves the UTF-8 name (Burmese as written); the ASCII one is for the
    rest."""
    name, fallback = naming.download_names(item, original_filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
