"""Downloads for the web pages and the API alike: the Content-Disposition of an item's, and
the response that streams a filing export's bundle."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, stream_with_context

from casefile.logic.evidence import naming
from casefile.logic.export import jobs as export_jobs
from casefile.model import Evidence, Export


def attachment(item: Evidence, original_filename: str | None) -> str:
    """`attachment; filename="ASCII"; filename*=UTF-8''percent-encoded` (RFC 6266, RFC 5987):
    every current browser saves the UTF-8 name (Burmese as written); the ASCII one is for the
    rest."""
    name, fallback = naming.download_names(item, original_filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def export_response(export: Export, chunks: Iterator[bytes]) -> Response:
    """The finished bundle (a zip, or the .zip.age), decrypted as it streams."""
    response = Response(stream_with_context(chunks), mimetype=export_jobs.media_type(export))
    response.headers["Content-Length"] = str(export.size)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export_jobs.file_name(export)}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Casefile-SHA256"] = export.sha256 or ""
    return response
