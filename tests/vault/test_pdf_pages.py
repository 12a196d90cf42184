"""PDF pages rendered to PNG by PDFium in a bounded helper process."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from reportlab.pdfgen import canvas

from casefile.vault import pdf_pages


def pdf(pages: int = 2, size: tuple[float, float] = (595, 842)) -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out, pagesize=size)
    for number in range(pages):
        document.drawString(72, 72, f"Witness statement, page {number + 1}")
        document.showPage()
    document.save()
    return out.getvalue()


def test_a_page_is_a_png_within_the_size_cap():
    page = pdf_pages.render(pdf(2), 2)
    image = Image.open(io.BytesIO(page.png))
    assert image.format == "PNG" and image.size == (page.width, page.height)
    assert (page.number, page.pages) == (2, 2)
    assert max(image.size) == pdf_pages.MAX_SIDE  # A4 portrait: its height
    assert abs(image.width / image.height - 595 / 842) < 0.01


def test_an_enormous_page_is_held_to_the_pixel_cap():
    page = pdf_pages.render(pdf(1, size=(14400, 14400)), 1)  # 200 x 200 inches
    assert page.width * page.height <= pdf_pages.MAX_PIXELS


@pytest.mark.parametrize(
    ("data", "number", "why"),
    [
        (pdf(2), 3, "there is no page 3: the document has 2"),
        (pdf(2), 0, "there is no such page"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 64, 1, "the PDF could not be read"),
    ],
)
def test_what_cannot_be_rendered_says_why(data, number, why):
    with pytest.raises(pdf_pages.RenderFailed, match=why):
        pdf_pages.render(data, number)


def test_a_render_over_its_time_is_stopped(monkeypatch):
    monkeypatch.setattr(pdf_pages, "SECONDS", 0.001)
    with pytest.raises(pdf_pages.RenderFailed, match="rendering stopped: took longer"):
        pdf_pages.render(pdf(1, size=(14400, 14400)), 1)
    monkeypatch.undo()
    assert pdf_pages.render(pdf(1), 1).pages == 1  # the next render gets a fresh helper
