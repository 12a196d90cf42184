"""data/index.pdf as a reader sees it: every row's ERN and SHA-256 in its text, a Burmese
title as written, the header row on every page of a long index with no row cut across two
pages, the classification banner on every page of a bundle that is not public, "Page x of y"
on each; the same banner, header and page numbers in the consolidated PDF's front matter."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from casefile.bundle import front_matter, index_pdf
from casefile.bundle.plan import BundlePlan

BURMESE = "မြန်မာနိုင်ငံ လူ့အခွင့်အရေး"
CHECKPOINT = "casefile.example/log\n12\nq83vEjJgkq0Dn8Yb1pY0YcCwZqvl1Rzb+Kp2x0XoI0g=\n\n— x\n"
KEY = "casefile.example/log+1a2b3c4d+AU1vJ4fBV+5rZm3ZkD5h1qzVpS2hA0jJ9O4n9W0bXl5a"


def plan(classification: str = "confidential") -> BundlePlan:
    return BundlePlan(filing_id="F-1", filing_title=f"{BURMESE} — Memorial", forum="ICJ",
                      classification=classification, exhibits=())


def rows(count: int) -> list[dict[str, str]]:
    return [{
        "number": f"Annex {number}", "ern": f"MMR-OTP-0002-{number:04d}",
        "title": BURMESE if number % 2 else f"Witness statement of a resident, part {number}",
        "date": "2017-08-30", "type": "application/pdf", "source": "OTP field mission",
        "classification": "under_seal", "language": "my", "original_name": f"s{number}.pdf",
        "size": str(1234567 * number), "sha256": hashlib.sha256(bytes([number])).hexdigest(),
        "file": f"data/exhibits/{number}/s.pdf", "rendition": "", "custody_report": "",
    } for number in range(1, count + 1)]


def pages_text(pdf: bytes) -> list[str]:
    """Each page's text as pdftotext reads it in drawing order (-raw: a cell's lines one
    after the other)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-", "-"], input=pdf,
                          capture_output=True, check=True)
    return done.stdout.decode("utf-8").split("\f")[:-1]


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_row_s_ern_and_sha256_and_a_burmese_title_as_written():
    given = rows(12)
    pages = pages_text(index_pdf.pdf(plan(), given, CHECKPOINT, KEY))
    text = "\n".join(pages)
    for row in given:
        assert row["ern"] in text
        assert row["sha256"] in squeezed(text)  # broken across lines in its column
        assert f"{int(row['size']):,}" in squeezed(text)
    assert BURMESE in text  # shaped, and read back as typed
    assert "Memorial" in text and "F-1" in text and "Exhibits 12" in text
    assert KEY in squeezed(text) and "q83vEjJgkq0Dn8Yb1pY0YcCwZqvl1Rzb+Kp2x0XoI0g=" in text
    fonts = {str(font.get_object()["/BaseFont"])
             for page in PdfReader(io.BytesIO(
                 index_pdf.pdf(plan(), given, CHECKPOINT, KEY))).pages
             for font in page["/Resources"]["/Font"].values()}
    assert any("Padauk" in font for font in fonts), fonts


def test_a_long_index_repeats_its_header_and_never_cuts_a_row():
    given = rows(60)
    pages = pages_text(index_pdf.pdf(plan(), given, CHECKPOINT, KEY))
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert "Original name" in page and "SHA-256" in page, number
        # the header comes before the page's first row
        first = min(page.find(row["ern"]) for row in given if row["ern"] in page)
        assert page.find("Original name") < first, number
        assert page.rstrip().endswith(f"Page {number} of {len(pages)}"), page[-80:]
    for row in given:  # each row whole on one page: its ERN and its hash together
        holding = [page for page in pages if row["ern"] in page]
        assert len(holding) == 1, row["ern"]
        assert row["sha256"] in squeezed(holding[0])


def banner_heights(pdf: bytes, words: str) -> list[list[float]]:
    """For each page, how far from the page's top each drawing of `words` is (pt)."""
    found: list[list[float]] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        top = float(page.mediabox.top)
        heights: list[float] = []
        page.extract_text(visitor_text=_visitor(words, heights, top))
        found.append(heights)
    return found


def _visitor(words, heights, top):
    def visit(text, _matrix, text_matrix, *_rest):
        if words in text:
            heights.append(top - text_matrix[5])

    return visit


def test_the_banner_is_at_the_top_of_every_page_unless_public():
    pdf = index_pdf.pdf(plan("under_seal"), rows(60), CHECKPOINT, KEY)
    heights = banner_heights(pdf, "UNDER SEAL")
    assert len(heights) >= 3
    for page in heights:
        assert len(page) == 1 and page[0] < 16 * 72 / 25.4, page  # in the top margin
    public = index_pdf.pdf(plan("public"), rows(60), CHECKPOINT, KEY)
    assert not any("UNDER SEAL" in page or "CONFIDENTIAL" in page
                   for page in pages_text(public))
    assert len(PdfReader(io.BytesIO(public)).pages) <= len(heights)  # a smaller top margin


def test_the_consolidated_front_matter_repeats_its_header_and_bears_the_banner():
    """Cover and a long index of exhibits: the banner on every page, the index's header on
    each of its pages, "Page x of <the whole PDF's pages>" (the renditions counted)."""
    given = rows(60)
    counts = [None if number % 5 == 0 else 2 for number in range(1, 61)]
    laid_out = front_matter.document(plan(), given, counts, 3, CHECKPOINT, KEY, "2026-12-08")
    pdf = laid_out.write(title="front matter")
    pages = pages_text(pdf)
    total = 3 + 2 * 48
    assert len(pages) >= 3
    heights = banner_heights(pdf, "CONFIDENTIAL")
    assert all(len(page) == 1 and page[0] < 22 * 72 / 25.4 for page in heights), heights
    for number, page in enumerate(pages[1:], start=2):
        assert "Number" in page and "Pages" in page, number
        first = min(page.find(row["ern"]) for row in given if row["ern"] in page)
        assert page.find("Pages") < first, number
    for number, page in enumerate(pages, start=1):
        assert page.rstrip().endswith(f"Page {number} of {total}"), page[-60:]
    index_text = "\n".join(pages[1:])
    assert "4\u20135" in index_text  # the first exhibit, after 3 pages of front matter
    assert "native file only, see" in index_text and BURMESE in index_text


def word_boxes(pdf: bytes) -> dict[str, tuple[float, float]]:
    """The first page's words, each with its left and right edge (pdftotext -bbox, points)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", "-enc", "UTF-8", "-",
                           "-"], input=pdf, capture_output=True, check=True)
    boxes: dict[str, tuple[float, float]] = {}
    for match in re.finditer(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" '
                             r'yMax="[\d.]+">([^<]*)</word>', done.stdout.decode("utf-8")):
        boxes.setdefault(match.group(3), (float(match.group(1)), float(match.group(2))))
    return boxes


def test_a_heading_wider_than_its_column_is_set_smaller_not_run_over_the_next():
    """"Language" is wider in bold 8 pt than its 16 mm column: set smaller, it keeps its
    cell's padding on both sides (2.5 pt each) instead of running over the border."""
    boxes = word_boxes(index_pdf.pdf(plan(), rows(3), CHECKPOINT, KEY))
    for heading, following in (("Classification", "Language"), ("Language", "Original")):
        assert boxes[following][0] - boxes[heading][1] >= 4.5, (heading, boxes)
