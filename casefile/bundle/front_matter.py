"""The consolidated PDF's front matter: a cover (the filing's title, what the PDF is, the
bundle's particulars, the signed checkpoint it ties to) and the index of exhibits with each
one's page range in the PDF, or the native file a reader finds it in; A4 portrait, the
classification in a red band at the top of every page when not public, "Page x of <the
PDF's pages>" at the bottom right.

Laid out in code with the custody report's writer (casefile/documents/pdf_text: Burmese
shaped by HarfBuzz in Padauk, ICU line breaks, user text only ever text), not by WeasyPrint:
the two passes of 200 exhibits (laid out for 2 pages, then for the 12 they take) cost
0.24-0.27 s of CPU in a fresh helper, where WeasyPrint took 2.7-3.0 s, so consolidated.py's
passes are cheap. `document`
lays out a pass without writing it: only the pass that settles is written."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from casefile.bundle.index_pdf import LABEL, banner, subject_table
from casefile.bundle.plan import BundlePlan
from casefile.documents.pdf_text.flow import (
    MM,
    Block,
    Cell,
    Flow,
    Geometry,
    banners,
    header,
    page_numbers,
    text_block,
)
from casefile.documents.pdf_text.lines import Piece, Style
from casefile.documents.pdf_text.pdf import A4, Document
from casefile.verifier.signed_note import Checkpoint

SIZE = 9.0  # the body's font size, pt
MONO = 7.5  # the log's name, the root hash, the verifier key
COLUMNS = (22, 40, 34)  # mm: number, ERN, pages; the title takes the rest
PADDING = (2.0, 3.0)
TIE_COLOUR = (0x30 / 255,) * 3  # #303030
TIES = (
    ("This PDF is a file of the bundle (data/consolidated.pdf), listed in its signed "
     "manifests. The bundle's custody reports prove each exhibit's history against this "
     "signed checkpoint of the custody log:"),
    ("Each page of an exhibit carries its stamp: the exhibit's number, its ERN and its own "
     "page numbers. VERIFY.txt in the bundle says how to check all of it."),
)


def _geometry(banner: str | None) -> Geometry:
    return Geometry(A4, ((22 if banner else 16) * MM, 16 * MM, 16 * MM, 16 * MM),
                    line_height=1.4)


def page_ranges(counts: Sequence[int | None], front: int) -> list[tuple[int, int] | None]:
    """Each exhibit's first and last page (1-based) in the consolidated PDF, after `front`
    pages of cover and index; None for an exhibit without a rendition (count None)."""
    ranges: list[tuple[int, int] | None] = []
    page = front
    for count in counts:
        if count is None:
            ranges.append(None)
            continue
        ranges.append((page + 1, page + count))
        page += count
    return ranges


def _checkpoint_fields(note: str) -> dict[str, Any]:
    body = note.split("\n\n", maxsplit=1)[0] + "\n"
    checkpoint = Checkpoint.parse(body)
    return {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root_base64": base64.b64encode(checkpoint.root).decode("ascii"),
        "root_hex": checkpoint.root.hex(),
    }


def _mono(text: str) -> Block:
    """A hash or key: in mono, broken anywhere if it must (a line break keeps its lines)."""
    return Block((Piece(text, Style("mono", MONO)),), SIZE)


def _index_row(row: dict[str, str], pages: tuple[int, int] | None) -> list[Cell]:
    sans = Style("sans", SIZE)
    if pages is None:
        where = text_block(f"native file only, see {row['file']}",
                           Style("sans", 7.5, LABEL), SIZE)
    else:
        shown = str(pages[0]) if pages[0] == pages[1] else f"{pages[0]}\u2013{pages[1]}"
        where = Block((Piece(shown, sans, whole=True),), SIZE)
    return [[text_block(row["number"], sans)], [text_block(row["ern"], sans)],
            [text_block(row["title"], sans)], [where]]


def _labelled(flow: Flow, rows: Sequence[tuple[str, Sequence[Block] | str]]) -> None:
    """The cover's tables: labels and values, some of them in mono."""
    names = [(name, value if isinstance(value, str) else "") for name, value in rows]
    subject_table(flow, names, size=SIZE, gap=8.0, padding=(1.2, 0.0), after=8 * MM,
                  values=[value if not isinstance(value, str) else None
                          for _, value in rows])


def document(  # noqa: PLR0917 - what the cover and the index show
    plan: BundlePlan,
    rows: Sequence[dict[str, str]],
    counts: Sequence[int | None],
    front: int,
    checkpoint: str,
    key: str,
    date: str,
) -> Document:
    """Cover and index laid out assuming they take `front` pages: their pages, not yet
    written (their count decides whether this pass settles: more than `front`, it does not;
    fewer are padded to `front` with blank pages bearing the banner and page number)."""
    words = banner(plan.classification)
    geometry = _geometry(words)
    laid_out = Document(geometry.size)
    flow = Flow(laid_out, geometry)
    flow.y = geometry.top  # the body's top margin collapses with the title's 30 mm
    total = front + sum(count for count in counts if count is not None)
    documentary = sum(1 for count in counts if count is not None)
    native = len(rows) - documentary
    flow.heading(" ".join(plan.filing_title.split()), 20, 1, 30 * MM, 4 * MM,
                 line_height=1.5)
    flow.blocks([text_block("Consolidated documentary exhibits", Style("sans", 12, LABEL),
                            after=10 * MM)])
    subject: list[tuple[str, Sequence[Block] | str]] = []
    subject += [("Case", plan.case_title)] if plan.case_title else []
    subject += [
        ("Forum", plan.forum), ("Identifier", plan.filing_id),
        ("Classification", plan.classification.replace("_", " ")), ("Date", date),
        ("Exhibits", (f"{len(rows)} in the bundle: {documentary} in this PDF, {native} as "
                     f"{'a native file' if native == 1 else 'native files'} only")),
        ("Pages", str(total)), ("Submitted by", plan.organization),
    ]
    _labelled(flow, subject)
    tie = Style("sans", 8, TIE_COLOUR)
    flow.blocks([text_block(TIES[0], tie, before=8, after=8)])
    fields = _checkpoint_fields(checkpoint)
    _labelled(flow, [
        ("Log", [_mono(fields["origin"])]), ("Tree size", str(fields["size"])),
        ("Root hash", [_mono(f"{fields['root_base64']}\n(hex {fields['root_hex']})")]),
        ("Verifier key", [_mono(key)]),
    ])
    flow.blocks([text_block(TIES[1], tie, before=8, after=8)])
    flow.new_page()  # the cover's section breaks after it
    flow.heading("Index of exhibits", 14, 2, 2 * MM, 3 * MM)
    fixed = [width * MM for width in COLUMNS]
    widths = [fixed[0], fixed[1], geometry.width - sum(fixed), fixed[2]]
    flow.table(widths, header("Number", "ERN", "Title", "Pages", size=SIZE),
               [_index_row(row, pages)
                for row, pages in zip(rows, page_ranges(counts, front), strict=True)],
               padding=PADDING)
    # Shorter than assumed: blank pages pad it to `front`, so that the ranges printed stay
    # true; added here, before the banners and page numbers, so that they bear them too.
    while len(laid_out.pages) < front:
        laid_out.new_page()
    if words:
        banners(laid_out, geometry, words, 11)
    page_numbers(laid_out, geometry, 7.5, total)
    return laid_out
