"""A PDF's page rendered to a PNG image, so a browser shows it as an image under the site's
Content-Security-Policy (a browser's own PDF viewer is blocked there, and would run the PDF's
scripts). PDFium (pypdfium2) renders in a helper process with a time and memory limit
(`bounded`): an untrusted PDF that makes PDFium spin, allocate without end or crash costs the
server nothing. The PDF goes over a pipe and the PNG comes back in memory: nothing is written
to disk."""

from __future__ import annotations

import base64
import io
import math
import struct
from dataclasses import dataclass
from typing import Any

from casefile.vault import bounded
from casefile.vault.extract import EXTRACT_MEMORY

MAX_BYTES = 64 * 1024 * 1024  # larger PDFs are offered for download, not rendered
SECONDS = 15.0  # a page taking longer is not shown
MEMORY = EXTRACT_MEMORY  # the helper's address space; the same as extraction's, so that
# rendering and extraction share idle helpers (one of another size is closed, not reused)
MAX_SIDE = 1600  # pixels of a page's longer side
MAX_PIXELS = 2_000_000  # pixels of a page image
REQUEST = struct.Struct(">II")  # page index, longest side
NO_PAGE = 0xFFFFFFFF  # a page index past every document's end: the answer is the count only


class RenderFailed(Exception):
    """The page could not be rendered (a damaged or hostile PDF, no such page, a limit)."""


@dataclass(frozen=True)
class Page:
    png: bytes
    number: int  # from 1
    pages: int
    width: int
    height: int


def render(pdf: bytes, number: int, *, longest_side: int = MAX_SIDE) -> Page:
    """Page `number` (from 1) of `pdf` as a PNG, its longer side at most `longest_side` and
    its pixels at most MAX_PIXELS. RenderFailed says why not."""
    if len(pdf) > MAX_BYTES:
        raise RenderFailed(f"PDFs over {MAX_BYTES // (1024 * 1024)} MiB are not rendered")
    if number < 1:
        raise RenderFailed("there is no such page")
    request = REQUEST.pack(number - 1, max(1, min(longest_side, MAX_SIDE))) + pdf
    try:
        answer = bounded.run(_render, request, seconds=SECONDS, memory_bytes=MEMORY)
    except bounded.LimitExceeded as error:
        raise RenderFailed(f"rendering stopped: {error}") from None
    except bounded.ParserFailed as error:
        raise RenderFailed(f"the PDF could not be read ({error})") from None
    pages = int(answer["pages"])
    if "png" not in answer:
        raise RenderFailed(f"there is no page {number}: the document has {pages}")
    return Page(
        png=base64.b64decode(answer["png"]),
        number=number,
        pages=pages,
        width=int(answer["width"]),
        height=int(answer["height"]),
    )


def count(pdf: bytes) -> int:
    """The number of pages of `pdf`, read by PDFium in the same bounded helper as `render`
    (asked for a page past any document's end, it answers only the count)."""
    if len(pdf) > MAX_BYTES:
        raise RenderFailed(f"PDFs over {MAX_BYTES // (1024 * 1024)} MiB are not read")
    request = REQUEST.pack(NO_PAGE, 1) + pdf
    try:
        answer = bounded.run(_render, request, seconds=SECONDS, memory_bytes=MEMORY)
    except bounded.LimitExceeded as error:
        raise RenderFailed(f"counting stopped: {error}") from None
    except bounded.ParserFailed as error:
        raise RenderFailed(f"the PDF could not be read ({error})") from None
    return int(answer["pages"])


# --- the helper's side ----------------------------------------------------------------------


def _render(data: bytes) -> dict[str, Any]:
    """In the helper process (bounded): the page's PNG, base64 in JSON (never pickle)."""
    import pypdfium2  # type: ignore[import-untyped]  # noqa: PLC0415 - in the helper only

    index, longest = REQUEST.unpack_from(data)
    document = pypdfium2.PdfDocument(data[REQUEST.size :])
    try:
        pages = len(document)
        if index >= pages:
            return {"pages": pages}
        page = document[index]
        try:
            width, height = page.get_size()  # points
            scale = min(longest / max(width, height, 1.0), 4.0)
            while math.ceil(width * scale) * math.ceil(height * scale) > MAX_PIXELS:
                scale *= 0.99  # PDFium rounds a bitmap's sides up
            bitmap = page.render(scale=scale, may_draw_forms=True)
            image = bitmap.to_pil()
            out = io.BytesIO()
            image.save(out, "PNG", compress_level=1)
            return {
                "pages": pages,
                "png": base64.b64encode(out.getvalue()).decode("ascii"),
                "width": image.width,
                "height": image.height,
            }
        finally:
            page.close()
    finally:
        document.close()
