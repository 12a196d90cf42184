"""PDF renditions of exhibits, stamped on every page: the exhibit's number and ERN, "page x
of y" and, when the exhibit is not public, a classification banner across the top.

The stamps are drawn by our PDF text writer (stamp_layout.py, casefile/documents/pdf_text:
HarfBuzz shapes Burmese numbers and labels), one stamp page per page of the exhibit at the
size of what a viewer shows of that page (its crop box within its media box), then laid on
top of the exhibit's pages with pypdf (BSD licence; pikepdf's MPL-2.0 would do as well, but
pypdf is already a dependency) as a Form XObject drawn after the page's own content
streams, which are left as they were: cheaper than pypdf's merge_transformed_page, which
parses and rewrites both pages' content (a 3-page PDF's rendition 6.3 ms of CPU against
12.1 ms, bench/README.md). Images become one-page PDFs through Pillow first.

The exhibit's bytes are a collector's file, possibly hostile (a PDF whose page tree loops,
an image that decompresses to gigabytes): `render` runs in a helper process with limits on
time and memory (casefile/vault/bounded.py), and its answer is the PDF, base64 in JSON.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from casefile.vault import bounded

# Renditions are made of files up to this size; bigger ones are bundled as originals only,
# with a warning. The file and the stamped PDF pass through this process whole (to and from
# the helper, base64 in JSON on the way back), a few copies at once: 32 MiB keeps the
# exporting process's peak within its 250 MiB budget.
MAX_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 100_000_000
HELPER_MEMORY = 1536 * 1024 * 1024
HELPER_SECONDS = 180.0
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/tiff", "image/webp", "image/bmp"}
)
BANNERS = {
    "confidential": "CONFIDENTIAL",
    "under_seal": "UNDER SEAL",
    "ex_parte": "EX PARTE",
}
BOXES = ("/MediaBox", "/CropBox", "/BleedBox", "/TrimBox", "/ArtBox")


class RenditionFailed(Exception):
    """The file could not be made into a stamped PDF (the reason, for the report)."""


@dataclass(frozen=True)
class Stamp:
    label: str  # the exhibit number as the forum writes it, e.g. "Annex 3"
    ern: str
    classification: str  # public | confidential | under_seal | ex_parte

    @property
    def banner(self) -> str | None:
        if self.classification == "public":
            return None
        return BANNERS.get(self.classification, self.classification.replace("_", " ").upper())


def wants_rendition(mime: str, size: int) -> bool:
    return (mime == "application/pdf" or mime in IMAGE_TYPES) and size <= MAX_BYTES


def image_to_pdf(data: bytes) -> bytes:
    """A one-page PDF of the image (its first frame), at most A4's longer side in length."""
    from PIL import Image  # noqa: PLC0415

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # more is refused (DecompressionBombError)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        frame = image.convert("RGB")
    longest = max(frame.size)
    out = io.BytesIO()
    # Resolution so that the longer side is about 11 inches: a page a court prints as is.
    frame.save(out, "PDF", resolution=max(72.0, longest / 11.0))
    return out.getvalue()


def _upright(page: Any) -> bytes:
    """The page turned upright: its /Rotate dropped and its boxes turned, and the matrix
    (a "cm" operator) that turns its content the same way, to be put before it (b"" for a
    page not turned). pypdf's transfer_rotation_to_content does the same but parses the
    content and writes it anew: this leaves it as it is."""
    from pypdf import Transformation  # noqa: PLC0415
    from pypdf.generic import NameObject, NumberObject, RectangleObject  # noqa: PLC0415

    if not page.rotation % 360:
        return b""
    turn = -page.rotation
    page[NameObject("/Rotate")] = NumberObject(0)
    media = RectangleObject(page.mediabox)
    matrix = Transformation().translate(
        -float(media.left + media.width / 2), -float(media.bottom + media.height / 2)
    ).rotate(turn)
    corners = [matrix.apply_on(media.lower_left), matrix.apply_on(media.upper_right)]
    matrix = matrix.translate(-min(x for x, _ in corners), -min(y for _, y in corners))
    for key in BOXES:
        if key in page:
            box = RectangleObject(page[key])
            (x0, y0), (x1, y1) = matrix.apply_on(box.lower_left), matrix.apply_on(box.upper_right)
            page[NameObject(key)] = RectangleObject(
                (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return b" ".join(_number(round(value, 6)) for value in matrix.ctm) + b" cm\n"


def _visible(page: Any, number: int) -> tuple[float, float]:
    """The size of the page's visible area, its boxes made such that pypdf's `.width` and
    `.height` are that area's: each box's corners put in order (the PDF spec allows any two
    opposite corners: `/MediaBox [612 792 0 0]` came out as a negative width, and the stamp
    was drawn off the page), and the crop box cut down to the media box, as a viewer shows
    their intersection (a crop box reaching outside the media box had its stamp placed
    partly off the page). RenditionFailed for a page that shows nothing."""
    from pypdf.generic import NameObject, RectangleObject  # noqa: PLC0415

    for key in BOXES:
        if key in page:
            x0, y0, x1, y1 = (float(value.get_object()) for value in page[key])
            page[NameObject(key)] = RectangleObject(
                (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    media, crop = page.mediabox, page.cropbox
    shown = (max(float(media.left), float(crop.left)),
             max(float(media.bottom), float(crop.bottom)),
             min(float(media.right), float(crop.right)),
             min(float(media.top), float(crop.top)))
    width, height = shown[2] - shown[0], shown[3] - shown[1]
    if width <= 0 or height <= 0:
        raise RenditionFailed(
            f"page {number} shows nothing: its crop box lies outside its media box")
    if shown != tuple(float(value) for value in crop):
        page[NameObject("/CropBox")] = RectangleObject(shown)
    return width, height


def _overlay(writer: Any, page: Any, form: Any, turn: bytes) -> None:
    """The form drawn on top of the page at its crop box's lower left corner: the page's own
    content streams left as they are (not parsed or rewritten), after `turn` (the matrix
    putting it upright, if any) and wrapped in q ... Q so that the stamp is drawn in the
    page's initial graphics state whatever the content left set; the form named in the
    page's own copy of its resources."""
    from pypdf.generic import (  # noqa: PLC0415
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        IndirectObject,
        NameObject,
    )

    def stream(data: bytes) -> Any:
        content = DecodedStreamObject()
        content.set_data(data)
        return writer._add_object(content)  # noqa: SLF001 - pypdf's way to add an object

    # A copy of the page's resources (often one dictionary shared by every page) with the
    # form added. /Resources, /Rotate and the boxes are the page's own here even when the
    # PDF has them on a page tree node: pypdf's reader copies them onto each page.
    found = page.get("/Resources")
    resources = DictionaryObject(found.get_object() if found is not None else {})
    page[NameObject("/Resources")] = resources
    xobjects = resources.get("/XObject")
    xobjects = DictionaryObject(xobjects.get_object() if xobjects is not None else {})
    name = "/CasefileStamp"
    while name in xobjects:
        name += "_"
    xobjects[NameObject(name)] = form
    resources[NameObject("/XObject")] = xobjects
    box = page.cropbox
    existing = page.get("/Contents")
    contents = [] if existing is None else existing.get_object()
    parts = [part if isinstance(part, IndirectObject) else writer._add_object(part)  # noqa: SLF001
             for part in (contents if isinstance(contents, list) else [existing])]
    page[NameObject("/Contents")] = ArrayObject([
        stream(b"q\n" + turn), *parts,
        stream(b"\nQ\nq 1 0 0 1 %s %s cm %s Do Q\n" % (
            _number(float(box.left)), _number(float(box.bottom)), name.encode())),
    ])


def _number(value: float) -> bytes:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return (text if text not in {"-0", ""} else "0").encode()


def _forms(writer: Any, stamps: Any) -> list[Any]:
    """Each stamp page as a Form XObject in the writer (its content stream as it is, still
    deflated; the stamp document's fonts copied once, shared by every form)."""
    from pypdf.generic import ArrayObject, FloatObject, NameObject  # noqa: PLC0415

    forms = []
    for stamp_page in stamps.pages:
        form = stamp_page["/Contents"].get_object().clone(writer, force_duplicate=True)
        box = stamp_page.mediabox
        form.update({
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(
                FloatObject(value) for value in (0, 0, box.width, box.height)),
            NameObject("/Resources"): stamp_page.raw_get("/Resources").clone(writer),
        })
        forms.append(writer._add_object(form))  # noqa: SLF001 - pypdf's way to add an object
    return forms


def stamp_pdf(pdf: bytes, stamp: Stamp) -> bytes:
    """The PDF with its stamps on every page: each page upright (its /Rotate moved into a
    matrix before its content, as a reader sees it), the stamps drawn for the size of its
    visible area (its crop box within its media box, `_visible`), laid on top as a Form
    XObject; the page's own content streams are not touched."""
    from pypdf import PdfReader, PdfWriter  # noqa: PLC0415

    # Imported here, in the helper: the exporting process imports this module (bundle/warm.py)
    # and should not load ICU, HarfBuzz and pydyf for it (~30 ms of CPU before its helpers
    # start).
    from casefile.bundle import stamp_layout  # noqa: PLC0415

    reader = PdfReader(io.BytesIO(pdf))
    if reader.is_encrypted and not reader.decrypt(""):
        raise RenditionFailed("the PDF is encrypted with a password")
    writer = PdfWriter(clone_from=reader)
    pages = list(writer.pages)
    if not pages:
        raise RenditionFailed("the PDF has no pages")
    turns = [_upright(page) for page in pages]  # stamps go where a reader looks
    sizes = [_visible(page, number) for number, page in enumerate(pages, start=1)]
    stamps = PdfReader(io.BytesIO(stamp_layout.stamp_pages(
        stamp.label, stamp.ern, stamp.banner, sizes)))
    if len(stamps.pages) != len(pages):
        raise RenditionFailed("the stamps did not come out one per page")
    for page, form, turn in zip(pages, _forms(writer, stamps), turns, strict=True):
        _overlay(writer, page, form, turn)
    writer.add_metadata({"/Title": f"{stamp.label} {stamp.ern}", "/Producer": "Casefile"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def render_in_helper(message: bytes) -> dict[str, Any]:
    """The helper's side: a JSON line (mime and stamp), then the file's bytes."""
    header, _, data = message.partition(b"\n")
    fields = json.loads(header)
    stamp = Stamp(fields["label"], fields["ern"], fields["classification"])
    pdf = data if fields["mime"] == "application/pdf" else image_to_pdf(data)
    try:
        stamped = stamp_pdf(pdf, stamp)
    except RenditionFailed as error:
        return {"failed": str(error)}
    return {"pdf": base64.b64encode(stamped).decode("ascii")}


def render(data: bytes, mime: str, stamp: Stamp) -> bytes:
    """The stamped PDF rendition of a document or an image (RenditionFailed if none)."""
    header = json.dumps(
        {"mime": mime, "label": stamp.label, "ern": stamp.ern,
         "classification": stamp.classification}
    ).encode("utf-8")
    try:
        answer = bounded.run(
            render_in_helper,
            header + b"\n" + data,
            seconds=HELPER_SECONDS,
            memory_bytes=HELPER_MEMORY,
        )
    except (bounded.LimitExceeded, bounded.ParserFailed) as error:
        raise RenditionFailed(f"could not be rendered ({error})") from None
    if "failed" in answer:
        raise RenditionFailed(str(answer["failed"]))
    return base64.b64decode(answer["pdf"])
