"""Redaction of PDFs and images (casefile/vault/redaction.py): what was under a box is gone
from the file, not painted over. Text is extracted from the result with pypdf and poppler's
pdftotext; the pages are rendered with PDFium and the pixels under each box looked at."""

from __future__ import annotations

import io
import shutil
import subprocess

import pypdfium2
import pytest
from PIL import Image
from PIL.ExifTags import IFD
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from casefile.vault import redaction
from casefile.vault.redaction import Box

SECRET, KEPT = "WITNESSALPHA", "Situation report"
W, H = A4  # points


def two_page_pdf(*, rotate_second: bool = False) -> bytes:
    """Page 1: the secret in a known area near the top left, other text lower down; page 2:
    the secret again (left alone when only page 1 is redacted)."""
    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    doc.setTitle("Confidential title")
    doc.setAuthor("Investigator X")
    doc.setFont("Helvetica", 24)
    doc.drawString(72, H - 100, SECRET)  # baseline 100 pt from the top
    doc.drawString(72, H - 400, KEPT)
    doc.showPage()
    if rotate_second:
        doc.setPageRotation(90)
    doc.setFont("Helvetica", 24)
    doc.drawString(72, H - 100, SECRET)
    doc.showPage()
    doc.save()
    return out.getvalue()


# The secret's area on page 1 as fractions of the page: x 72..~260 pt, y ~75..~110 pt from top.
SECRET_BOX = Box(page=1, x=60 / W, y=70 / H, width=260 / W, height=45 / H)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def rendered(content: bytes, index: int) -> Image.Image:
    document = pypdfium2.PdfDocument(content)
    try:
        return document[index].render(scale=1).to_pil().convert("RGB")
    finally:
        document.close()


def interior(image: Image.Image, box: Box, margin: int = 3) -> Image.Image:
    left = int(box.x * image.width) + margin
    top = int(box.y * image.height) + margin
    right = int((box.x + box.width) * image.width) - margin
    bottom = int((box.y + box.height) * image.height) - margin
    return image.crop((left, top, right, bottom))


def assert_black(region: Image.Image) -> None:
    high = region.convert("L").getextrema()[1]
    assert high <= 40, f"pixels under the box are not black (brightest {high})"


def test_pdf_text_under_the_box_is_gone_and_the_rest_is_an_image():
    original = two_page_pdf()
    assert SECRET in pdf_text(original)
    result = redaction.redact(original, "application/pdf", [SECRET_BOX])
    assert result.mime == "application/pdf"
    assert result.pages == 2
    # No text layer at all: neither the covered words nor any other.
    assert SECRET not in pdf_text(result.content)
    assert pdf_text(result.content).strip() == ""
    reader = PdfReader(io.BytesIO(result.content))
    assert len(reader.pages) == 2
    assert reader.metadata is None or not any(
        value for value in reader.metadata.values()
    ), "document information survived"
    assert "/Annots" not in reader.pages[0]
    assert "/Names" not in reader.trailer["/Root"]  # no attachments, no scripts
    assert b"Investigator X" not in result.content
    assert b"Confidential title" not in result.content
    # Pixels under the box black; the rest of page 1 shows the other text (not blank).
    page = rendered(result.content, 0)
    assert_black(interior(page, SECRET_BOX))
    below = page.crop((0, int(page.height * 0.45), page.width, int(page.height * 0.55)))
    assert below.convert("L").getextrema()[0] < 100, "the text outside the box is gone"
    # Page 2 was not redacted: its secret is still drawn (as pixels).
    second = rendered(result.content, 1)
    assert interior(second, SECRET_BOX).convert("L").getextrema()[0] < 100
    assert interior(second, SECRET_BOX).convert("L").getextrema()[1] > 200


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdftotext_finds_nothing_under_the_box():
    result = redaction.redact(two_page_pdf(), "application/pdf", [SECRET_BOX])
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=result.content, capture_output=True, check=True
    ).stdout.decode()
    assert SECRET not in text
    assert text.strip() == ""


def test_pdf_page_size_is_kept_as_shown_rotation_included():
    """A page with /Rotate is redacted as it is shown (the preview renders it the same way)."""
    original = two_page_pdf(rotate_second=True)
    result = redaction.redact(original, "application/pdf", [SECRET_BOX])
    before, after = pypdfium2.PdfDocument(original), pypdfium2.PdfDocument(result.content)
    try:
        assert before[1].get_rotation() == 90
        for index in (0, 1):
            (w0, h0), (w1, h1) = before[index].get_size(), after[index].get_size()
            assert abs(w0 - w1) < 2 and abs(h0 - h1) < 2
            assert after[index].get_rotation() == 0
    finally:
        before.close()
        after.close()


def test_box_on_a_page_the_pdf_does_not_have_is_refused():
    with pytest.raises(redaction.Refused) as refused:
        redaction.redact(two_page_pdf(), "application/pdf", [Box(3, 0.1, 0.1, 0.1, 0.1)])
    assert refused.value.field == "boxes"
    assert "2 pages" in refused.value.message


def patch_photo(fmt: str = "JPEG") -> bytes:
    """A grey photograph with a saturated magenta patch, and EXIF with GPS."""
    image = Image.new("RGB", (400, 300), (128, 128, 128))
    image.paste((255, 0, 255), (100, 60, 200, 140))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[1], gps[2], gps[3], gps[4] = "N", (20.0, 50.0, 0.0), "E", (92.0, 22.0, 0.0)
    out = io.BytesIO()
    image.save(out, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


PATCH_BOX = Box(page=1, x=100 / 400, y=60 / 300, width=100 / 400, height=80 / 300)


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                           ("WEBP", "image/webp"), ("TIFF", "image/tiff")])
def test_image_patch_is_black_and_exif_gone(fmt, mime):
    original = patch_photo(fmt)
    if fmt != "TIFF":  # Pillow writes a TIFF's GPS IFD only with libtiff's help
        with Image.open(io.BytesIO(original)) as before:
            assert before.getexif().get_ifd(IFD.GPSInfo), "the fixture has GPS"
    result = redaction.redact(original, mime, [PATCH_BOX])
    with Image.open(io.BytesIO(result.content)) as after:
        assert after.size == (400, 300)
        assert not after.getexif(), "EXIF survived"
        assert "icc_profile" not in after.info and "xmp" not in after.info
        pixels = after.convert("RGB")
    assert_black(interior(pixels, PATCH_BOX, margin=2))
    # No magenta anywhere: the patch was entirely under the box.
    magenta = [p for p in pixels.get_flattened_data() if p[0] > 180 and p[2] > 180 and p[1] < 90]
    assert not magenta
    assert pixels.getpixel((20, 20))[0] > 100, "outside the box the picture is kept"
    assert b"CameraMaker" not in result.content


def test_exif_orientation_is_applied_before_the_boxes():
    """The browser shows an image turned as its EXIF says; boxes are drawn on that."""
    image = Image.new("RGB", (300, 200), (128, 128, 128))
    image.paste((255, 0, 255), (0, 0, 60, 60))  # top left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: the patch is then at the top right
    out = io.BytesIO()
    image.save(out, "PNG", exif=exif)
    box = Box(page=1, x=1 - 60 / 200, y=0, width=60 / 200, height=60 / 300)
    result = redaction.redact(out.getvalue(), "image/png", [box])
    with Image.open(io.BytesIO(result.content)) as after:
        assert after.size == (200, 300)
        assert_black(interior(after.convert("RGB"), box, margin=2))


def test_an_image_box_beyond_page_one_and_other_types_are_refused():
    with pytest.raises(redaction.Refused):
        redaction.redact(patch_photo(), "image/jpeg", [Box(2, 0.1, 0.1, 0.1, 0.1)])
    with pytest.raises(redaction.Refused) as refused:
        redaction.redact(b"hello", "text/plain", [PATCH_BOX])
    assert refused.value.field == "item"


def test_a_broken_file_fails_cleanly():
    with pytest.raises(redaction.RedactionFailed):
        redaction.redact(b"%PDF-1.4 not really", "application/pdf", [SECRET_BOX])


def test_an_orientation_written_only_in_xmp_is_not_followed():
    """Browsers ignore XMP's tiff:Orientation (the boxes are drawn on the picture as they
    show it); following it would turn the picture under the boxes and leave the patch."""
    image = Image.new("RGB", (200, 100), (128, 128, 128))
    image.paste((255, 0, 255), (0, 0, 100, 100))  # the left half is the secret
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
           b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    from PIL import PngImagePlugin  # noqa: PLC0415

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    box = Box(page=1, x=0, y=0, width=0.5, height=1)
    result = redaction.redact(out.getvalue(), "image/png", [box])
    with Image.open(io.BytesIO(result.content)) as after:
        assert after.size == (200, 100)
        pixels = after.convert("RGB")
        magenta = [
            p for p in pixels.get_flattened_data() if p[0] > 180 and p[2] > 180 and p[1] < 90
        ]
        assert not magenta
