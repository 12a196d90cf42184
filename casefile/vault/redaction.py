"""Redaction of a PDF or an image by boxes: the content under each box is gone from the file,
not painted over.

A PDF is rasterised page by page with PDFium (pypdfium2: Apache-2.0 / BSD-3-Clause), each box
filled with opaque black in the raster, and the pages written as a new PDF holding one image
per page and nothing else: no text layer, no fonts, no document information, no XMP, no
attachments, no annotations, no forms, no scripts of the original survive (Pillow writes the
pages, pypdf joins them). The price: the redacted PDF has no text to select or search.
PyMuPDF, which can remove text under a box and keep the rest, is AGPL-3.0: it would put the
whole server under the AGPL, so it is not used (docs/derivatives.md).

An image is decoded with Pillow, turned as its EXIF orientation says (as a browser shows it,
and as the boxes were drawn), the boxes filled, and only its pixels written into a new file:
EXIF (GPS!), XMP, IPTC, ICC profiles, comments and every other frame are left behind.

Both run in a bounded helper process (`bounded`): the bytes are hostile until proven
otherwise. Boxes are fractions of the page as shown (0..1, top-left origin), so the
browser's drawing and an API client agree whatever the resolution; each is widened to whole
pixels outwards, never inwards."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from casefile.vault import bounded
from casefile.vault.extract import EXTRACT_MEMORY

MAX_BYTES = 64 * 1024 * 1024  # the original's size; larger ones are not redacted
MAX_PAGES = 100  # pages of a PDF redacted in one go: the helper holds the whole result (and
# its base64 in the JSON answer); 200 dense pages peaked at 674 MiB of its 1 GiB (bench)
DPI = 150  # PDF pages are rasterised at this resolution (legible print, moderate size)
MAX_PAGE_PIXELS = 12_000_000  # a page larger than this at DPI is rendered smaller
MAX_IMAGE_PIXELS = 100_000_000  # a larger image is refused (decompression bomb)
JPEG_QUALITY = 80  # of PDF pages: text stays crisp at 150 dpi; about 400 KiB a dense page
SECONDS = 180.0
MEMORY = EXTRACT_MEMORY  # as extraction's; each redaction gets a fresh helper (bounded.run)
HEADER = struct.Struct(">I")  # length of the JSON request before the file's bytes

PDF = "pdf"
IMAGE = "image"
# Image types redacted, and the format each is written back in (JPEG stays JPEG, so a
# photograph does not grow tenfold; everything else becomes a PNG).
IMAGE_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "PNG",
    "image/webp": "PNG",
    "image/tiff": "PNG",
    "image/bmp": "PNG",
}
OUTPUT_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "PDF": "application/pdf"}


@dataclass(frozen=True)
class Box:
    page: int  # from 1
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Redacted:
    content: bytes
    mime: str
    extension: str
    pages: int


class Refused(Exception):
    """The input cannot be redacted as asked (a box on a page the document does not have, an
    animated image); `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class RedactionFailed(Exception):
    """The file could not be read or the helper ran out of time or memory."""


def kind_of(mime: str) -> str | None:
    if mime == "application/pdf":
        return PDF
    if mime in IMAGE_TYPES:
        return IMAGE
    return None


def redact(content: bytes, mime: str, boxes: Sequence[Box]) -> Redacted:
    """The redacted file; Refused or RedactionFailed if not."""
    kind = kind_of(mime)
    if kind is None:
        raise Refused("item", f"files of type {mime} cannot be redacted; only PDFs and images")
    if len(content) > MAX_BYTES:
        raise Refused("item", f"files over {MAX_BYTES // (1024 * 1024)} MiB are not redacted")
    request = json.dumps(
        {
            "kind": kind,
            "format": IMAGE_TYPES.get(mime, "PDF"),
            "boxes": [[b.page, b.x, b.y, b.width, b.height] for b in boxes],
        }
    ).encode()
    try:
        answer = bounded.run(
            _redact,
            HEADER.pack(len(request)) + request + content,
            seconds=SECONDS,
            memory_bytes=MEMORY,
            fresh=True,  # a helper no earlier file touched, closed after this one
        )
    except bounded.LimitExceeded as error:
        raise RedactionFailed(f"redaction stopped: {error}") from None
    except bounded.ParserFailed as error:
        raise RedactionFailed(f"the file could not be read ({error})") from None
    if "refused" in answer:
        raise Refused(str(answer["field"]), str(answer["refused"]))
    out_format = str(answer["format"])
    return Redacted(
        content=base64.b64decode(answer["content"]),
        mime=OUTPUT_MIME[out_format],
        extension={"JPEG": ".jpg", "PNG": ".png", "PDF": ".pdf"}[out_format],
        pages=int(answer["pages"]),
    )


# --- the helper's side ----------------------------------------------------------------------


def _pixel_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The box in pixels, rounded outwards: (left, top, right, bottom), right/bottom exclusive."""
    _, x, y, w, h = box
    left = max(0, math.floor(x * width))
    top = max(0, math.floor(y * height))
    right = min(width, math.ceil((x + w) * width))
    bottom = min(height, math.ceil((y + h) * height))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def _fill(image: Any, boxes: Sequence[Sequence[float]]) -> None:
    from PIL import ImageDraw  # noqa: PLC0415 - in the helper only

    draw = ImageDraw.Draw(image)
    black = 0 if image.mode in ("L", "1") else (0, 0, 0, 255) if image.mode == "RGBA" else (0, 0, 0)
    for box in boxes:
        left, top, right, bottom = _pixel_box(box, image.width, image.height)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=black)


def _grey_if_grey(image: Any) -> Any:
    """A page with no colour as a greyscale image (a third of the bytes for the same page)."""
    from PIL import ImageChops  # noqa: PLC0415 - in the helper only

    red, green, blue = image.split()
    if ImageChops.difference(red, green).getbbox() or ImageChops.difference(green, blue).getbbox():
        return image
    return red


def _redact(data: bytes) -> dict[str, Any]:
    (length,) = HEADER.unpack_from(data)
    request = json.loads(data[HEADER.size : HEADER.size + length])
    content = data[HEADER.size + length :]
    del data
    boxes = [list(box) for box in request["boxes"]]
    if request["kind"] == PDF:
        return _redact_pdf(content, boxes)
    return _redact_image(content, boxes, request["format"])


def _refused(field: str, message: str) -> dict[str, Any]:
    return {"refused": message, "field": field}


def _upright(image: Any) -> Any:
    """The image turned as its EXIF orientation says, and as nothing else says: browsers
    show it so (the boxes were drawn on that), while they ignore an orientation written only
    in XMP, which Pillow's exif_transpose would also follow: boxes drawn on the picture as
    shown would then land on a turned one, and leave what they covered."""
    from PIL import Image  # noqa: PLC0415 - in the helper only

    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(_exif_orientation(image))
    return image.copy() if method is None else image.transpose(method)


def _exif_orientation(image: Any) -> int:
    """The orientation in the image's own EXIF block (Image.getexif() would fill it in from
    XMP when EXIF has none). A TIFF keeps it among its own tags."""
    from PIL import Image  # noqa: PLC0415 - in the helper only

    if image.format == "TIFF":
        return int(getattr(image, "tag_v2", {}).get(0x0112, 1))
    raw = image.info.get("exif")
    if not raw:
        return 1
    exif = Image.Exif()
    exif.load(raw)
    return int(exif.get(0x0112, 1))


def _redact_pdf(content: bytes, boxes: list[list[Any]]) -> dict[str, Any]:
    import pypdfium2  # type: ignore[import-untyped]  # noqa: PLC0415 - in the helper only
    from pypdf import PdfReader, PdfWriter  # noqa: PLC0415

    document = pypdfium2.PdfDocument(content)
    writer = PdfWriter()
    try:
        pages = len(document)
        beyond = sorted({int(box[0]) for box in boxes if int(box[0]) > pages})
        if beyond:
            return _refused(
                "boxes", f"the document has {pages} pages; there is no page {beyond[0]}"
            )
        if pages > MAX_PAGES:
            return _refused("item", f"documents over {MAX_PAGES} pages are not redacted")
        for index in range(pages):
            page = document[index]
            try:
                width, height = page.get_size()  # points, as shown (PDFium turns it)
                scale = DPI / 72.0
                while math.ceil(width * scale) * math.ceil(height * scale) > MAX_PAGE_PIXELS:
                    scale *= 0.95
                bitmap = page.render(scale=scale, may_draw_forms=True, draw_annots=True)
                image = bitmap.to_pil().convert("RGB")
                bitmap.close()
            finally:
                page.close()
            _fill(image, [box for box in boxes if int(box[0]) == index + 1])
            image = _grey_if_grey(image)
            resolution = image.width * 72.0 / max(width, 1.0)
            one = io.BytesIO()
            # No document information at all: Pillow would write a title and dates.
            image.save(
                one,
                "PDF",
                resolution=resolution,
                quality=JPEG_QUALITY,
                title=None,
                creationDate=None,
                modDate=None,
            )
            del image
            writer.append(PdfReader(io.BytesIO(one.getvalue())))
    finally:
        document.close()
    writer.metadata = None  # no /Info dictionary (pypdf would name itself as producer)
    out = io.BytesIO()
    writer.write(out)
    return {
        "content": base64.b64encode(out.getvalue()).decode("ascii"),
        "format": "PDF",
        "pages": pages,
    }


def _redact_image(content: bytes, boxes: list[list[Any]], out_format: str) -> dict[str, Any]:
    from PIL import Image  # noqa: PLC0415 - in the helper only

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # larger: DecompressionBombError, refused
    if any(int(box[0]) != 1 for box in boxes):
        return _refused("boxes", "an image has one page: every box must be on page 1")
    with Image.open(io.BytesIO(content)) as opened:
        if getattr(opened, "n_frames", 1) > 1:
            return _refused(
                "item", "animated or multi-page images are not redacted; convert it first"
            )
        opened.load()
        turned = _upright(opened)
    mode = turned.mode
    if out_format == "JPEG":
        wanted = "L" if mode in ("L", "1", "I;16", "I") else "RGB"
    else:
        has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in turned.info)
        wanted = "RGBA" if has_alpha else ("L" if mode in ("L", "1") else "RGB")
    pixels = turned.convert(wanted)
    # Only the pixels go on: a new image knows nothing of the original's metadata.
    clean = Image.frombytes(wanted, pixels.size, pixels.tobytes())
    del pixels, turned
    _fill(clean, boxes)
    out = io.BytesIO()
    if out_format == "JPEG":
        clean.save(out, "JPEG", quality=92, optimize=True)
    else:
        clean.save(out, "PNG", optimize=False)
    return {
        "content": base64.b64encode(out.getvalue()).decode("ascii"),
        "format": out_format,
        "pages": 1,
    }
