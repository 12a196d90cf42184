"""A custody report as PDF, for a court registry: first what it is about (the case, its court
and reference, the item or items), then a table of entries a person reads (when, who, what
happened, to which item), and last an appendix with what a verifier needs: each entry's
recorded fields, leaf hash and inclusion proof (RFC 9162), the signed checkpoint, the verifier
key and how to check them by hand. The JSON report beside it is the authoritative form.

The report is laid out here, in code, for exactly what it holds (A4 pages, a subject table,
the entries' table with its header on every page, the appendix on a page of its own, a footer
with the case title and "Page x of y"), and written by a small text writer of our own
(casefile/documents/pdf_text): not by WeasyPrint, whose CSS cascade, box layout and PDF
writer cost ~50 ms of CPU for a one-entry report, and a court bundle lays out one report per
exhibit (bench/custody_report_pdf.py --warm). What WeasyPrint brought that a plain PDF
library lacks is kept: text is shaped by HarfBuzz (Burmese titles and actor names come out
with their medials and vowel signs reordered and stacked as a reader expects, in Padauk from
Debian's fonts-sil-padauk, per character where DejaVu has no glyph) and lines are broken
where ICU finds break opportunities (UAX 14, and a dictionary for Burmese, which has no
spaces between words), never inside an identifier or an e-mail address's name or domain
labels. Text is text in embedded subset fonts, with a ToUnicode map; user text is only ever
text: no markup is interpreted, no file or URL read.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from casefile.documents.pdf_text import fonts
from casefile.documents.pdf_text.lines import Line, Piece, Style, lay_out
from casefile.documents.pdf_text.pdf import A4, Document, Mark, Page

HOW_TO_VERIFY = (
    "How to check this report without Casefile: (1) for each entry, serialise its fields "
    "action, actor, case, details, item, seq, time as JSON with sorted keys, no whitespace, "
    "UTF-8 (RFC 8785); its leaf hash is SHA-256 of the byte 0x00 followed by those bytes. "
    "(2) Check each inclusion proof against the root in the checkpoint, per RFC 9162 "
    "section 2.1.3.2. (3) Check the checkpoint's Ed25519 signature with the published "
    "verifier key (C2SP signed note). The JSON version of this report holds the same data "
    "in machine-readable form; docs/custody.md gives a 10-line script. A redacted entry "
    "concerns an item the reader has no access to: it shows only its sequence number, time "
    "and leaf hash, which its inclusion proof still checks against the checkpoint. The "
    "signed checkpoint below is one the log must extend from now on: keep it, and check "
    "the log against it with `casefile custody verify --trusted`."
)
REDACTED = "concerns an item you have no access to; its leaf hash is in the signed log"
# The appendix's headings before its table of proofs, and the heading of that table.
HEADINGS = ("Appendix: how to verify this report", "Signed checkpoint")
PROOFS_HEADING = "Recorded entries, leaf hashes and inclusion proofs"
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# An identifier: a run without spaces holding a digit and a hyphen (an ERN, a seal number, a
# date, a court reference), set on one line.
_PART = r"[^\s@()<>\"'“”,;]"
IDENTIFIER = re.compile(f"{_PART}*(?:\\d{_PART}*-|-{_PART}*\\d){_PART}*")
TOKENS = re.compile(f"{EMAIL.pattern}|{IDENTIFIER.pattern}")
TRANSFER_NOTES = (
    ("where", "where"),
    ("media", "what"),
    ("reason", "reason"),
    ("condition", "condition"),
    ("seal_number", "seal"),
)

@dataclass(frozen=True)
class ItemLine:
    """An item the report concerns, as the first page lists it."""

    id: str
    ern: str
    name: str | None
    sha256: str


@dataclass(frozen=True)
class Subject:
    """What the report is about: the case as the court knows it, and the item(s)."""

    case_title: str
    forum: str | None = None
    court: str | None = None
    reference: str | None = None
    items: Sequence[ItemLine] = field(default_factory=tuple)
    scope: str = "case"  # "case": every entry of the case the reader may see; "item": one item


def plain_sentence(entry: dict[str, Any]) -> str:
    """The sentence when the caller gives none: who, and the action's stored name."""
    return f"{entry['actor']['label']}: {entry['action'].replace('_', ' ')}"


def _tokens(text: str, *, emails: bool = True) -> Iterator[tuple[str, bool]]:
    """The text as (part, whether it is a token: an identifier or an e-mail address)."""
    last = 0
    for match in (TOKENS if emails else IDENTIFIER).finditer(text):
        yield text[last : match.start()], False
        yield match.group(0), True
        last = match.end()
    yield text[last:], False


def _email_parts(token: str) -> list[str]:
    """An e-mail address cut where a line may break: before its @ and after its dots."""
    return [part for part in re.split(r"(?=@)|(?<=\.)", token) if part]


def breakable(text: str, *, emails: bool = True) -> Markup:
    """Text as HTML with line breaks allowed only where a reader expects them: at spaces,
    and in an e-mail address before its @ and after its dots, never inside a name, a domain
    label or an identifier such as an ERN. Without `emails`, only identifiers are kept whole
    (a web page wraps addresses itself). The web pages' form of the rules `pieces` gives the
    PDF."""
    html = []
    for part, token in _tokens(text, emails=emails):
        if not token:
            html.append(str(escape(part)))
            continue
        escaped = str(escape(part))
        if "@" in part:
            escaped = escaped.replace("@", "<wbr>@").replace(".", ".<wbr>")
        html.append(f'<span class="token">{escaped}</span>')
    return Markup("".join(html))  # noqa: S704 - every piece of user text is escaped above


def pieces(text: str, style: Style, *, emails: bool = True) -> list[Piece]:
    """User text as pieces to lay out, white space collapsed: identifiers whole, e-mail
    addresses whole but between their parts (before the @, after a dot)."""
    text = " ".join(text.split())
    found: list[Piece] = []
    for part, token in _tokens(text, emails=emails):
        if not part:
            continue
        if not token:
            found.append(Piece(part, style))
        elif "@" in part:
            cut = _email_parts(part)
            found += [Piece(each, style, whole=True, wbr=number + 1 < len(cut))
                      for number, each in enumerate(cut)]
        else:
            found.append(Piece(part, style, whole=True))
    return found


def _notes(entry: dict[str, Any]) -> str:
    """What a transfer's sentence leaves out and a registry asks for: where, what, why, in
    which condition, under which seal, with which receipt."""
    if entry.get("action") != "custody_transferred":
        return ""
    details = entry.get("details") or {}
    notes = [f"{label}: {details[key]}" for key, label in TRANSFER_NOTES if details.get(key)]
    receipt = details.get("receipt")
    if isinstance(receipt, dict) and receipt.get("ern"):
        notes.append(f"receipt: {receipt['ern']}")
    return "; ".join(notes)


def _item_ern(entry: dict[str, Any], erns: dict[str, str]) -> str:
    details = entry.get("details") or {}
    named = details.get("item")
    if isinstance(named, dict) and isinstance(named.get("ern"), str):
        return str(named["ern"])
    if entry.get("item") in erns:
        return erns[entry["item"]]
    if isinstance(details.get("ern"), str):
        return str(details["ern"])
    return ""




def _hash_lines(entry: dict[str, Any]) -> list[str]:
    proof = entry["inclusion_proof"]
    hashes = (f"p{n} {value}" for n, value in enumerate(proof["hashes"]))
    return [f"leaf {entry['leaf_hash']}", *hashes]



# The page and the stylesheet's sizes (pt), as the WeasyPrint report had them.
MM = 72 / 25.4
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGINS = (12 * MM, 10 * MM, 14 * MM, 10 * MM)  # top, right, bottom, left
BODY_MARGIN = 6.0  # the body's 8 CSS px inside the page's margins
LEFT = MARGINS[3] + BODY_MARGIN
WIDTH = PAGE_WIDTH - MARGINS[1] - MARGINS[3] - 2 * BODY_MARGIN
TOP = MARGINS[0]
BOTTOM = PAGE_HEIGHT - MARGINS[2]
LINE_HEIGHT = 1.3
BLACK = (0.0, 0.0, 0.0)
LABEL = (0x40 / 255,) * 3  # labels and a transfer's notes: #404040
GREYED = (0x50 / 255,) * 3  # a redacted entry: #505050
BORDER = (0x80 / 255,) * 3  # table rules, 0.25 pt: #808080
HEADER = (0xE8 / 255, 0xEC / 255, 0xF0 / 255)  # a table's header row
RULE = 0.25
PADDING = (1.5, 3.0)  # a table cell's, vertical and horizontal
# Columns in mm as the stylesheet gives them; a table is as wide as the page's text, its
# columns widened in proportion (table-layout: fixed).
ENTRY_COLUMNS = (9, 23, 42, 74, 36)
PROOF_COLUMNS = (9, 105, 70)
ITEM_COLUMNS = (38, 60)  # the SHA-256 takes the rest
SUBJECT_LABEL = 32 * MM


@dataclass(frozen=True)
class Block:
    """A paragraph of a cell or the page: its pieces, the size of its strut (line boxes are
    LINE_HEIGHT times it, or its largest piece's), its font for the baseline, and its
    vertical margins."""

    pieces: tuple[Piece, ...]
    size: float
    font: str = "sans"
    before: float = 0.0
    after: float = 0.0


@dataclass
class Placed:
    """Lines laid out in a width: each line's top (from the block's top), baseline, line."""

    lines: list[tuple[float, float, Line]] = field(default_factory=list)
    height: float = 0.0


def _place(blocks: Sequence[Block], width: float) -> Placed:
    """Blocks one under the other in `width`, their margins collapsed between them."""
    placed = Placed()
    y = 0.0
    margin = 0.0
    for number, block in enumerate(blocks):
        y += max(margin, block.before) if number else block.before
        size = max([block.size, *(piece.style.size for piece in block.pieces)])
        height = LINE_HEIGHT * size
        font = fonts.font(block.font)
        content = (font.ascender + font.descender) * size
        baseline = (height - content) / 2 + font.ascender * size
        for line in lay_out(block.pieces, width):
            placed.lines.append((y, y + baseline, line))
            y += height
        margin = block.after
    placed.height = y + margin
    return placed


def _split(placed: Placed, room: float) -> tuple[Placed, Placed]:
    """The lines that fit in `room`, and the rest (moved up to start at 0)."""
    here, rest = Placed(), Placed()
    cut = None
    for index, (top, baseline, line) in enumerate(placed.lines):
        bottom = placed.lines[index + 1][0] if index + 1 < len(placed.lines) else placed.height
        if bottom > room and cut is None:
            cut = top
        if cut is None:
            here.lines.append((top, baseline, line))
        else:
            rest.lines.append((top - cut, baseline - cut, line))
    here.height = placed.height if cut is None else cut
    rest.height = 0.0 if cut is None else placed.height - cut
    return here, rest


def _columns(widths_mm: Sequence[float], total: float = WIDTH) -> list[float]:
    scale = total / sum(widths_mm)
    return [width * scale for width in widths_mm]


Cell = Sequence[Block]


class _Flow:
    """The document being laid out: the page and the y where the next block goes."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.page = document.new_page()
        self.y = TOP + BODY_MARGIN
        self.margin = 0.0  # the bottom margin of the last block, collapsed with the next

    def new_page(self) -> None:
        self.page = self.document.new_page()
        self.y = TOP
        self.margin = 0.0

    def draw(self, placed: Placed, x: float, top: float) -> None:
        _draw_on(self.document, self.page, placed, x, top)

    def heading(self, text: str, size: float, level: int, before: float, after: float,
                *, keep: float = 0.0) -> None:
        """A heading (bold), with an outline entry; moved to the next page with `keep` pt
        of what follows it if they would not fit (break-after: avoid)."""
        placed = _place([Block(tuple(pieces(text, Style("bold", size))), size, "bold")], WIDTH)
        top = self.y + (max(self.margin, before) if self.y > TOP else before)
        if top + placed.height + after + keep > BOTTOM and self.y > TOP:
            self.new_page()
            top = self.y + before
        self.document.marks.append(Mark(level, text, len(self.document.pages) - 1, top))
        self.draw(placed, LEFT, top)
        self.y = top + placed.height
        self.margin = after

    def blocks(self, blocks: Sequence[Block]) -> None:
        """Paragraphs across the page's width, onto the next pages if they must."""
        for block in blocks:
            placed = _place([Block(block.pieces, block.size, block.font)], WIDTH)
            top = self.y + max(self.margin, block.before)
            while True:
                here, rest = _split(placed, BOTTOM - top)
                self.draw(here, LEFT, top)
                if not rest.lines:
                    break
                self.new_page()
                placed, top = rest, self.y
            self.y = top + here.height
            self.margin = block.after

    def table(self, widths: Sequence[float], header: Sequence[Cell] | None,
              rows: Sequence[Sequence[Cell]], *, borders: bool = True,
              padding: tuple[float, float] = PADDING, after: float = 0.0) -> None:
        """A table of fixed columns: its header row on every page it spans, no row split
        across pages unless it is taller than a page."""
        vertical, horizontal = padding
        self.y += self.margin
        self.margin = 0.0
        laid_header = self._row(header, widths, horizontal) if header else None
        header_height = (max(cell.height for cell in laid_header) + 2 * vertical
                         if laid_header else 0.0)
        drawn_header = False
        for row in rows:
            cells = self._row(row, widths, horizontal)
            while True:
                height = max(cell.height for cell in cells) + 2 * vertical
                room = BOTTOM - self.y - (0.0 if drawn_header else header_height)
                if height <= room:
                    if laid_header and not drawn_header:
                        self._draw_row(laid_header, widths, header_height, padding=padding,
                                       header=True, borders=borders)
                    self._draw_row(cells, widths, height, padding=padding, header=False,
                                   borders=borders)
                    drawn_header = True
                    break
                page_room = BOTTOM - TOP - header_height
                if height <= page_room or room < page_room / 4:
                    self.new_page()  # the row whole on the next page, under the header
                    drawn_header = False
                    continue
                # Taller than a page: as much as fits here, the rest on the next pages.
                parts = [_split(cell, room - 2 * vertical) for cell in cells]
                if laid_header and not drawn_header:
                    self._draw_row(laid_header, widths, header_height, padding=padding,
                                   header=True, borders=borders)
                self._draw_row([part[0] for part in parts], widths, room, padding=padding,
                               header=False, borders=borders)
                cells = [part[1] for part in parts]
                self.new_page()
                drawn_header = False
        self.margin = after

    def _row(self, row: Sequence[Cell], widths: Sequence[float],
             horizontal: float) -> list[Placed]:
        return [_place(cell, width - 2 * horizontal) for cell, width in zip(row, widths,
                                                                              strict=True)]

    def _draw_row(self, cells: Sequence[Placed], widths: Sequence[float], height: float,
                  *, padding: tuple[float, float], header: bool, borders: bool) -> None:
        x = LEFT
        for cell, width in zip(cells, widths, strict=True):
            if header and borders:
                self.document.rectangle(self.page, x, self.y, width, height, fill=HEADER)
            if borders:
                self.document.rectangle(self.page, x, self.y, width, height, stroke=BORDER,
                                        line_width=RULE)
            self.draw(cell, x + padding[1], self.y + padding[0])
            x += width
        self.y += height


def _text(text: str, style: Style, size: float | None = None, **margins: float) -> Block:
    """User text as a block (identifiers and e-mail addresses kept whole)."""
    return Block(tuple(pieces(text, style)), size or style.size, _base(style.font), **margins)


def _plain(text: str, style: Style, size: float | None = None, **margins: float) -> Block:
    """Text as it is (pre-wrap: spaces and line breaks kept)."""
    return Block((Piece(text, style),), size or style.size, _base(style.font), **margins)


def _base(font: str) -> str:
    return "mono" if font == "mono" else "sans"


def _subject_rows(subject: Subject, entries: int) -> list[list[Cell]]:
    label, value = Style("sans", 9, LABEL), Style("sans", 9)
    rows = [("Case", subject.case_title)]
    rows += [(name, given) for name, given in (("Forum", subject.forum),
             ("Court", subject.court), ("Reference", subject.reference)) if given]
    scope = ("Every custody entry of the item below." if subject.scope == "item" else
             "Every custody entry of the case, as visible to the person who produced the "
             "report.")
    rows.append(("Scope", f"{scope} {entries} {'entry' if entries == 1 else 'entries'}."))
    return [[[_plain(name, label)], [_text(given, value)]] for name, given in rows]


def _header(*names: str, size: float) -> list[Cell]:
    return [[_plain(name, Style("bold", size))] for name in names]


def _entry_row(entry: dict[str, Any], describe: Callable[[dict[str, Any]], str],
               erns: dict[str, str]) -> list[Cell]:
    redacted = entry.get("redacted") is True
    style = Style("oblique", 8, GREYED) if redacted else Style("sans", 8)
    date, _, clock = entry["time"].partition("T")
    clock = clock.removesuffix("Z").split(".")[0]
    when = Block((Piece(date, style, whole=True), Piece(" ", style),
                  Piece(f"{clock} UTC", style, whole=True)), 8)
    if redacted:
        return [[_plain(str(entry["seq"]), style)], [when], [], [_text(REDACTED, style)], []]
    what = [_text(describe(entry), style)]
    notes = _notes(entry)
    if notes:
        what.append(_text(notes, Style("sans", 7.5, LABEL), 8))
    item = _item_ern(entry, erns)
    return [
        [_plain(str(entry["seq"]), style)], [when], [_text(entry["actor"]["label"], style)],
        what, [Block((Piece(item, style, whole=True),), 8)] if item else [],
    ]


def _proof_row(entry: dict[str, Any]) -> list[Cell]:
    redacted = entry.get("redacted") is True
    mono, sans = Style("mono", 6.5), Style("sans", 6.5)
    fields = [_plain(entry["time"], mono, 6.5),
              _plain("redacted" if redacted else entry["action"], mono, 6.5)]
    if redacted:
        fields.append(_text(REDACTED, sans))
    else:
        details = json.dumps(entry["details"], ensure_ascii=False, sort_keys=True, indent=1)
        fields.append(_plain(details, Style("mono", 6), 6.5, after=1 * MM))
    hashes = "\n".join(_hash_lines(entry))
    proof = [_plain(hashes, Style("mono", 4.6), 4.6),
             _plain(f"tree size {entry['inclusion_proof']['tree_size']}", sans)]
    return [[_plain(str(entry["seq"]), sans)], fields, proof]


def render(
    report: dict[str, Any],
    title: str,
    subject: Subject | None = None,
    describe: Callable[[dict[str, Any]], str] = plain_sentence,
) -> bytes:
    """The report as PDF (A4): `title` as its heading and Info title, `subject` what it is
    about (by default the case named by the title), `describe` an entry's sentence."""
    subject = subject or Subject(case_title=title)
    erns = {item.id: item.ern for item in subject.items}
    entries = report["entries"]
    document = Document()
    flow = _Flow(document)
    flow.heading(title, 16, 1, 0, 3 * MM)
    flow.table([SUBJECT_LABEL, WIDTH - SUBJECT_LABEL], None,
               _subject_rows(subject, len(entries)), borders=False, padding=(0.5, 0.0),
               after=3 * MM)
    row_keep = 3 * LINE_HEIGHT * 8 + 4 * PADDING[0]  # a header row and a row of a line
    if subject.items:
        flow.heading("Item" if len(subject.items) == 1 else "Items", 12, 2, 5 * MM, 2 * MM,
                     keep=row_keep)
        widths = _columns(ITEM_COLUMNS, WIDTH * sum(ITEM_COLUMNS) / 190)
        widths.append(WIDTH - sum(widths))
        flow.table(widths, _header("ERN", "Name", "SHA-256 at intake", size=8), [
            [[Block((Piece(item.ern, Style("sans", 8), whole=True),), 8)],
             [_text(item.name or "", Style("sans", 8))],
             [_plain(item.sha256, Style("mono", 7), 7)]]
            for item in subject.items
        ])
    flow.heading("Chain of custody", 12, 2, 5 * MM, 2 * MM, keep=row_keep)
    flow.table(_columns(ENTRY_COLUMNS),
               _header("No.", "Time (UTC)", "Who", "What happened", "Item", size=8),
               [_entry_row(entry, describe, erns) for entry in entries])
    flow.new_page()  # the appendix on a page of its own
    flow.heading(HEADINGS[0], 12, 2, 5 * MM, 2 * MM)
    flow.blocks([_plain(HOW_TO_VERIFY, Style("sans", 8.5), before=8.5, after=8.5)])
    flow.heading(HEADINGS[1], 12, 2, 5 * MM, 2 * MM)
    flow.blocks([
        _plain(report["checkpoint"].removesuffix("\n"), Style("mono", 7), after=1 * MM),
        _plain(f"Verifier key: {report.get('verifier_key')}", Style("sans", 7),
               before=7, after=7),
    ])
    flow.heading(PROOFS_HEADING, 12, 2, 5 * MM, 2 * MM, keep=row_keep)
    flow.table(_columns(PROOF_COLUMNS),
               _header("No.", "Recorded fields (time, action, details)", "Hashes", size=6.5),
               [_proof_row(entry) for entry in entries])
    _footers(document, subject.case_title)
    return document.write(title=title)


FOOTER_LINES = 2  # of the case title at 7 pt: what fits in the bottom margin with room


def _footers(document: Document, case_title: str) -> None:
    """Each page's footer, in its bottom margin: the case title at the left (wrapped if
    long, at most FOOTER_LINES lines, the last ending with "…" if cut: the whole title is
    in the first page's table), "Page x of y" at the right, both 7 pt, centred in the
    margin's height."""
    style = Style("sans", 7)
    total = len(document.pages)
    middle = BOTTOM + MARGINS[2] / 2
    left, right = MARGINS[3], PAGE_WIDTH - MARGINS[1]
    titles: dict[float, Placed] = {}
    for number, page in enumerate(document.pages, start=1):
        (numbering,) = _place([_plain(f"Page {number} of {total}", style)], WIDTH).lines
        document.text(page, right - numbering[2].width,
                      middle - LINE_HEIGHT * 7 / 2 + numbering[1], numbering[2])
        width = round(right - left - numbering[2].width - 12, 3)
        title = titles.get(width)
        if title is None:
            title = titles[width] = _footer_title(case_title, style, width)
        top = max(BOTTOM, middle - title.height / 2)
        _draw_on(document, page, title, left, top)


def _footer_title(case_title: str, style: Style, width: float) -> Placed:
    """The case title in at most FOOTER_LINES lines of `width`: the longest start of it
    that fits with "…" after it, if the whole does not (a binary search over its length,
    cut before a character that is not a mark or joiner, so that a mark stays on its
    letter)."""
    title = _place([_text(case_title, style)], width)
    if len(title.lines) <= FOOTER_LINES:
        return title
    bounds = [index for index in range(1, len(case_title) + 1) if index == len(case_title)
              or not (unicodedata.category(case_title[index]).startswith("M")
                      or case_title[index] in "\u200c\u200d")]
    low, high = 0, len(bounds) - 1  # bounds[low] fits (or none does: low stays 0)
    best = _place([_text("…", style)], width)
    while low <= high:
        middle = (low + high) // 2
        cut = _place([_text(case_title[: bounds[middle]].rstrip() + "…", style)], width)
        if len(cut.lines) <= FOOTER_LINES:
            best, low = cut, middle + 1
        else:
            high = middle - 1
    return best


def _draw_on(document: Document, page: Page, placed: Placed, x: float, top: float) -> None:
    for _, baseline, line in placed.lines:
        document.text(page, x, top + baseline, line)


def load() -> None:
    """Load the report's fonts and shaper now (once per process): a process that lays out
    reports in a row (the bundle's helpers) pays for them before its first report."""
    fonts.load()
    render({"checkpoint": "casefile\n1\nAAAA=\n\n— casefile+00000000+AAAA\n",
            "verifier_key": "casefile+00000000+AAAA", "entries": []}, "Casefile မြန်မာ")
