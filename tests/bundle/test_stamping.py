"""The stamps on a rendition's pages (casefile/bundle/stamping.py): the mark on every page
with the exhibit's label, ERN and "page x of y", the banner only when the exhibit is not
public, each stamp inside its own page's crop box and upright on a rotated page, the
exhibit's own content left as it was, a Burmese label read back as written and a long one
kept inside a narrow page."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops, ImageFilter
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, FloatObject, NameObject, NumberObject
from reportlab.pdfgen import canvas

from casefile.bundle import stamping

ERN = "MMR-OTP-0001-0001"
BURMESE_LABEL = "ပူးတွဲ ၃"  # "Annex 3"

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="no pdftotext")


@dataclass(frozen=True)
class Word:
    page: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    text: str


def pdftotext(data: bytes, *arguments: str) -> str:
    return subprocess.run(["pdftotext", *arguments, "-", "-"], input=data,
                          capture_output=True, check=True, timeout=60).stdout.decode("utf-8")


def page_words(data: bytes) -> list[tuple[float, float, list[Word]]]:
    """Each page's width and height (its crop box, upright, as poppler shows it) and the
    words on it with their boxes (pt from the page's top left). Poppler leaves out text
    drawn outside the page: a stamp placed off the crop box is not found at all."""
    pages = []
    for number, (width, height, body) in enumerate(re.findall(
            r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>',
            pdftotext(data, "-bbox", "-cropbox"), re.DOTALL)):
        words = [Word(number, float(x0), float(y0), float(x1), float(y1), html.unescape(text))
                 for x0, y0, x1, y1, text in re.findall(
                     r'<word xMin="(-?[\d.]+)" yMin="(-?[\d.]+)" xMax="(-?[\d.]+)" '
                     r'yMax="(-?[\d.]+)">(.*?)</word>', body)]
        pages.append((float(width), float(height), words))
    return pages


def page_texts(data: bytes) -> list[str]:
    return [" ".join(page.split()) for page in pdftotext(data).split("\f")[:-1]]


def exhibit(sizes: list[tuple[float, float]]) -> bytes:
    """A PDF with a page of each size, "Witness statement, page n" in its middle (away from
    the stamps however the page is turned)."""
    out = io.BytesIO()
    drawing = canvas.Canvas(out)
    for number, size in enumerate(sizes, start=1):
        drawing.setPageSize(size)
        drawing.drawCentredString(size[0] / 2, size[1] / 2, f"Witness statement, page {number}")
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def stamped(data: bytes, label: str = "Annex 1", classification: str = "confidential") -> bytes:
    return stamping.stamp_pdf(data, stamping.Stamp(label, ERN, classification))


def test_every_page_has_its_mark_and_a_banner_only_when_not_public():
    data = exhibit([(595, 842)] * 3)
    for classification, banner in [("confidential", "CONFIDENTIAL"), ("under_seal", "UNDER SEAL"),
                                   ("ex_parte", "EX PARTE"), ("public", None)]:
        texts = page_texts(stamped(data, "Annex 12", classification))
        assert len(texts) == 3
        for number, text in enumerate(texts, start=1):
            assert f"Annex 12 · {ERN} · page {number} of 3" in text
            assert f"Witness statement, page {number}" in text
            for other in ("CONFIDENTIAL", "UNDER SEAL", "EX PARTE"):
                assert (other in text) == (other == banner), (classification, text)


def assert_stamped_in_place(page: tuple[float, float, list[Word]], number: int,
                            total: int) -> None:
    """The mark at the page's bottom right (its box 8 pt from the right edge, 6 pt from the
    bottom), the banner across the top, both inside the page."""
    width, height, words = page
    mark = [word for word in words if word.y_min > height * 3 / 4]
    assert " ".join(word.text for word in mark) == f"Annex 1 · {ERN} · page {number} of {total}"
    assert all(word.x_min >= 0 and word.x_max <= width and word.y_max <= height
               for word in words)
    assert width - 8 - 8 < mark[-1].x_max < width - 8  # the box's padding and border inside
    assert height - 6 - 12 < max(word.y_max for word in mark) < height - 6
    banner = [word for word in words if word.text == "CONFIDENTIAL"]
    assert len(banner) == 1 and banner[0].y_min < 14
    assert abs((banner[0].x_min + banner[0].x_max) / 2 - width / 2) < 1  # centred


def test_stamps_land_in_each_pages_crop_box_with_pages_of_different_sizes():
    sizes = [(595, 842), (842, 595), (200, 300)]
    pdf = pikepdf.open(io.BytesIO(exhibit(sizes)))
    pdf.pages[1].obj.CropBox = [100, 50, 700, 500]  # 600 x 450, off the media box's corner
    out = io.BytesIO()
    pdf.save(out)
    pages = page_words(stamped(out.getvalue()))
    assert [(width, height) for width, height, _ in pages] == [(595, 842), (600, 450),
                                                                (200, 300)]
    for number, page in enumerate(pages, start=1):
        assert_stamped_in_place(page, number, 3)


def rotated_exhibit() -> bytes:
    """Three pages: one turned 90 degrees, one 270 with its own crop box, one turned 180 by
    its page tree node (its /Rotate and /CropBox inherited: the first page's crop box too)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(exhibit([(595, 842)] * 3))))
    tree = writer.root_object["/Pages"]
    first, second, third = (kid.get_object() for kid in tree["/Kids"])
    first[NameObject("/Rotate")] = NumberObject(90)
    second[NameObject("/Rotate")] = NumberObject(270)
    second[NameObject("/CropBox")] = ArrayObject(FloatObject(v) for v in (15, 60, 555, 820))
    del third["/Rotate"]
    tree[NameObject("/Rotate")] = NumberObject(180)
    tree[NameObject("/CropBox")] = ArrayObject(FloatObject(v) for v in (10, 30, 510, 830))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rendered(data: bytes, folder: Path, name: str) -> list[Image.Image]:
    """Each page as poppler shows it (its crop box, upright after /Rotate), 1 px a pt."""
    subprocess.run(["pdftoppm", "-r", "72", "-cropbox", "-gray", "-", str(folder / name)],
                   input=data, check=True, timeout=60)
    return [Image.open(path) for path in sorted(folder.glob(f"{name}-*.pgm"))]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="no pdftoppm")
def test_a_rotated_page_is_stamped_upright_and_its_content_stays_where_it_was(tmp_path):
    original = rotated_exhibit()
    result = stamped(original)
    pages = page_words(result)
    assert [(width, height) for width, height, _ in pages] == [
        (800, 500), (760, 540), (500, 800)]  # turned a quarter: the crop box's sides swap
    before, after = rendered(original, tmp_path, "before"), rendered(result, tmp_path, "after")
    for number, (page, old, new) in enumerate(zip(pages, before, after, strict=True), start=1):
        assert_stamped_in_place(page, number, 3)
        assert old.size == new.size == (round(page[0]), round(page[1]))
        assert old.getextrema()[0] < 128  # the statement is on the page (dark text)
        # Everything but the banner's band and the mark's box is drawn as before, give or
        # take a pixel (text turned by the content's matrix rather than by /Rotate is
        # rasterised a pixel off here and there).
        mark = [word for word in page[2] if word.y_min > page[1] * 3 / 4]
        left, top = min(word.x_min for word in mark) - 8, min(word.y_min for word in mark) - 4
        for one, other in ((old, new), (new, old)):
            dark = one.point(lambda value: 255 if value < 128 else 0)
            near = other.filter(ImageFilter.MinFilter(5)).point(
                lambda value: 255 if value < 192 else 0)
            astray = ImageChops.subtract(dark, near)
            astray.paste(0, (0, 0, new.width, 17))
            astray.paste(0, (int(left), int(top), new.width, new.height))
            assert astray.getbbox() is None, (number, astray.getbbox())
        assert ImageChops.difference(old, new).getbbox() is not None  # the stamps are drawn


@pytest.mark.parametrize("turned", [False, True])
def test_the_exhibits_own_content_streams_are_kept_as_they_were(turned):
    data = rotated_exhibit() if turned else exhibit([(595, 842)] * 2)
    originals = [page.get_contents().get_data() for page in PdfReader(io.BytesIO(data)).pages]
    for page, original in zip(PdfReader(io.BytesIO(stamped(data))).pages, originals,
                              strict=True):
        parts = [part.get_object().get_data() for part in page["/Contents"]]
        # q, and the matrix turning a rotated page upright; the page's own stream as it was;
        # then Q and the stamp, drawn in the page's initial graphics state.
        assert parts[0].startswith(b"q\n") and parts[1:-1] == [original]
        assert parts[0].endswith(b" cm\n") == turned
        assert parts[-1].lstrip().startswith(b"Q\nq ") and b" Do Q" in parts[-1]


def test_a_burmese_label_reads_back_as_written_in_a_myanmar_font():
    data = stamped(exhibit([(595, 842)] * 2), BURMESE_LABEL)
    texts = page_texts(data)
    for number, text in enumerate(texts, start=1):
        assert f"{BURMESE_LABEL} · {ERN} · page {number} of 2" in text
    fonts = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for form in page["/Resources"]["/XObject"].values():
            for font in form.get_object()["/Resources"]["/Font"].values():
                fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Padauk" in name for name in fonts), fonts


def test_a_long_label_stays_whole_inside_a_narrow_page():
    label = "Annex 127 to the Prosecution's Second Request for Provisional Measures"
    data = stamped(exhibit([(150, 240), (595, 842)]), label)
    for number, (width, height, words) in enumerate(page_words(data), start=1):
        mark = [word for word in words if word.y_min > height * 3 / 4]
        assert all(word.x_min >= 0 and word.x_max <= width - 8 and word.y_max <= height - 6
                   for word in mark)
        assert " ".join(word.text for word in mark) == f"{label} · {ERN} · page {number} of 2"


def test_an_image_becomes_a_stamped_page():
    from PIL import Image  # noqa: PLC0415

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 90, 160)).save(out, "JPEG")
    header = {"mime": "image/jpeg", "label": "Annex 2", "ern": ERN, "classification": "public"}
    message = json.dumps(header).encode() + b"\n" + out.getvalue()
    pdf = base64.b64decode(stamping.render_in_helper(message)["pdf"])
    (text,) = page_texts(pdf)
    assert text == f"Annex 2 · {ERN} · page 1 of 1"


def test_a_page_with_no_content_of_its_own_is_stamped_too():
    writer = PdfWriter()
    writer.add_blank_page(300, 400)
    out = io.BytesIO()
    writer.write(out)
    (text,) = page_texts(stamped(out.getvalue(), "Annex 9", "ex_parte"))
    assert text == f"EX PARTE Annex 9 · {ERN} · page 1 of 1"


def awkward_boxes() -> bytes:
    """Two pages: one whose media box gives its corners in reverse order (the PDF spec allows
    any two opposite corners), one whose crop box reaches outside its media box on two sides
    (a viewer shows their intersection: 0 0 400 500)."""
    pdf = pikepdf.open(io.BytesIO(exhibit([(612, 792), (612, 792)])))
    pdf.pages[0].obj.MediaBox = [612, 792, 0, 0]
    pdf.pages[1].obj.CropBox = [-100, -50, 400, 500]
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="no pdftoppm")
def test_a_reversed_media_box_or_a_crop_box_outside_it_is_stamped_where_a_viewer_looks(
        tmp_path):
    result = stamped(awkward_boxes())
    pages = page_words(result)
    assert [(width, height) for width, height, _ in pages] == [(612, 792), (400, 500)]
    for number, page in enumerate(pages, start=1):
        assert_stamped_in_place(page, number, 2)
    subprocess.run(["pdftoppm", "-r", "72", "-cropbox", "-", str(tmp_path / "page")],
                   input=result, check=True, timeout=60)
    images = [Image.open(path).convert("RGB")
              for path in sorted(tmp_path.glob("page-*.ppm"))]
    for image, (width, _, _) in zip(images, pages, strict=True):
        assert image.width == round(width)
        # The banner's red band across the whole width of what is shown, at the top.
        row = [image.getpixel((x, 2)) for x in range(image.width)]
        red = sum(1 for r, g, b in row if r > 140 and g < 60 and b < 60)
        assert red >= image.width - 2, (red, image.width)


def test_a_page_whose_crop_box_lies_outside_its_media_box_is_refused():
    pdf = pikepdf.open(io.BytesIO(exhibit([(612, 792), (612, 792)])))
    pdf.pages[1].obj.CropBox = [700, 800, 900, 900]
    out = io.BytesIO()
    pdf.save(out)
    with pytest.raises(stamping.RenditionFailed, match="page 2 shows nothing"):
        stamped(out.getvalue())
