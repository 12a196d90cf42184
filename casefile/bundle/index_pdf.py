"""The bundle's index of exhibits as PDF (data/index.pdf), what a person reads: a title, what
the bundle is (filing, case, forum, classification), a table of every exhibit (eleven
columns, its header on every page) and how the index ties to the signed checkpoint; A4
landscape, the classification in a red band at the top of every page when not public,
"Page x of y" at the bottom right.

Laid out in code with the custody report's writer (casefile/documents/pdf_text: HarfBuzz
shaping with Padauk for Burmese titles, ICU line breaks, text in subset fonts with a
ToUnicode map; user text only ever text), not by WeasyPrint: 200 rows take 0.29-0.36 s of
CPU in a fresh helper, where WeasyPrint took 2.8-3.0 s (bench/bundle_index_pdf.py). The
columns are the widths the HTML template gave them (mm, scaled to the page's text width)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from casefile.bundle.plan import BundlePlan
from casefile.bundle.stamping import BANNERS
from casefile.documents.pdf_text.flow import (
    MM,
    Block,
    Cell,
    Flow,
    Geometry,
    banners,
    columns,
    header,
    label_width,
    page_numbers,
    plain,
    text_block,
)
from casefile.documents.pdf_text.lines import Piece, Style
from casefile.documents.pdf_text.pdf import A4, Document

LANDSCAPE = (A4[1], A4[0])
COLUMNS = (15, 33, 42, 19, 24, 22, 23, 16, 26, 14, 45)  # mm, as the template's <col>s
# "Classification" and "Language" are a little wider than their columns' text: set smaller
# to fit, whole (flow.header), where WeasyPrint ran "Language" over the next column's border.
HEADINGS = ("Number", "ERN", "Title", "Date", "Type", "Source", "Classification", "Language",
            "Original name", "Size (bytes)", "SHA-256")
LABEL = (0x40 / 255,) * 3  # #404040
SIZE = 8.0  # the body's font size, pt
MONO = 5.6  # a SHA-256's and the verifier key's
PADDING = (1.5, 2.5)
TIE = (
    "Every exhibit's custody report proves its entries against this signed checkpoint of "
    "the custody log; the bundle's tag manifest is signed with the same key. VERIFY.txt says "
    "how to check all of it with public tools."
)


def banner(classification: str) -> str | None:
    """The words of a classification banner, or None for a public bundle."""
    return None if classification == "public" else BANNERS.get(classification)


def _geometry(banner: str | None) -> Geometry:
    return Geometry(LANDSCAPE, ((16 if banner else 10) * MM, 9 * MM, 12 * MM, 9 * MM),
                    line_height=1.35)


def _whole(text: str, style: Style) -> Block:
    """Text on one line (`white-space: nowrap`), broken only if wider than its column."""
    return Block((Piece(" ".join(text.split()), style, whole=True),), style.size)


def _size(size: str, style: Style) -> Block:
    """A size in bytes with thousands separators, broken after a separator only if the
    whole number is wider than its column (14 mm holds 1,111,104 only just)."""
    parts = re.split(r"(?<=,)", f"{int(size):,}")
    return Block(tuple(Piece(part, style, whole=True, wbr=number + 1 < len(parts))
                       for number, part in enumerate(parts)), style.size)


def _row(row: dict[str, str]) -> list[Cell]:
    sans = Style("sans", SIZE)
    return [
        [text_block(row["number"], sans)], [_whole(row["ern"], sans)],
        [text_block(row["title"], sans)], [_whole(row["date"], sans)],
        [text_block(row["type"], sans)], [text_block(row["source"], sans)],
        [text_block(row["classification"].replace("_", " "), sans)],
        [text_block(row["language"], sans)], [text_block(row["original_name"], sans)],
        [_size(row["size"], sans)],
        [plain(row["sha256"], Style("mono", MONO), SIZE)],  # breaks anywhere: it must
    ]


def subject_table(flow: Flow, rows: Sequence[tuple[str, str]], *, size: float, gap: float,
                  padding: tuple[float, float], after: float = 0.0,
                  values: Sequence[Cell | None] = ()) -> None:
    """Labels (grey, on one line) and their values, without rules: what a document is.
    `values`: a row's value laid out already (mono), where not None, instead of its text."""
    label, value = Style("sans", size, LABEL), Style("sans", size)
    first = label_width([name for name, _ in rows], label, gap)
    given = list(values) or [None] * len(rows)
    flow.table([first, flow.geometry.width - first], None,
               [[[plain(name, label)], cell or [text_block(text, value)]]
                for (name, text), cell in zip(rows, given, strict=True)],
               borders=False, padding=padding, after=after)


def document(plan: BundlePlan, rows: Sequence[dict[str, str]], checkpoint: str,
             key: str) -> Document:
    """The index laid out: its pages, not yet written."""
    words = banner(plan.classification)
    geometry = _geometry(words)
    laid_out = Document(geometry.size)
    flow = Flow(laid_out, geometry)
    flow.heading("Index of exhibits", 14, 1, 0, 2 * MM)
    subject = [("Filing", plan.filing_title)]
    subject += [("Case", plan.case_title)] if plan.case_title else []
    subject += [("Identifier", plan.filing_id), ("Forum", plan.forum),
                ("Classification", plan.classification.replace("_", " ")),
                ("Exhibits", str(len(rows)))]
    subject_table(flow, subject, size=SIZE, gap=4.0, padding=(0.5, 0.0))
    flow.table(columns(COLUMNS, geometry.width), header(*HEADINGS, size=SIZE),
               [_row(row) for row in rows], padding=PADDING, before=3 * MM)
    small = Style("sans", 7)
    flow.blocks([
        text_block(TIE, small, before=4 * MM, after=7),
        plain(checkpoint.removesuffix("\n"), Style("mono", 6.5), before=6.5, after=6.5),
        Block((Piece("Verifier key: ", small), Piece(key, Style("mono", MONO))), 7,
              before=7, after=7),
    ])
    if words:
        banners(laid_out, geometry, words, 10)
    page_numbers(laid_out, geometry, 7)
    return laid_out


def pdf(plan: BundlePlan, rows: Sequence[dict[str, str]], checkpoint: str, key: str) -> bytes:
    return document(plan, rows, checkpoint, key).write(
        title=f"Index of exhibits: {plan.filing_title}")
