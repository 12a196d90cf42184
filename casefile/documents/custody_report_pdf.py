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
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from casefile.documents.pdf_text import fonts
from casefile.documents.pdf_text.flow import (
    MM,
    PADDING,
    Block,
    Cell,
    Flow,
    Geometry,
    Placed,
    columns,
    draw_on,
    header,
    page_number,
    place,
)
from casefile.documents.pdf_text.flow import plain as _plain
from casefile.documents.pdf_text.flow import text_block as _text
from casefile.documents.pdf_text.lines import Piece, Style
from casefile.documents.pdf_text.pdf import A4, Document
from casefile.documents.pdf_text.words import tokens

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


def breakable(text: str, *, emails: bool = True) -> Markup:
    """Text as HTML with line breaks allowed only where a reader expects them: at spaces,
    and in an e-mail address before its @ and after its dots, never inside a name, a domain
    label or an identifier such as an ERN. Without `emails`, only identifiers are kept whole
    (a web page wraps addresses itself). The web pages' form of the rules `pieces` gives the
    PDF."""
    html = []
    for part, token in tokens(text, emails=emails):
        if not token:
            html.append(str(escape(part)))
            continue
        escaped = str(escape(part))
        if "@" in part:
            escaped = escaped.replace("@", "<wbr>@").replace(".", ".<wbr>")
        html.append(f'<span class="token">{escaped}</span>')
    return Markup("".join(html))  # noqa: S704 - every piece of user text is escaped above


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
PAGE = Geometry(A4, (12 * MM, 10 * MM, 14 * MM, 10 * MM), line_height=1.3)
PAGE_WIDTH, PAGE_HEIGHT = PAGE.size
MARGINS = PAGE.margins  # top, right, bottom, left
LEFT, WIDTH, TOP, BOTTOM = PAGE.left, PAGE.width, PAGE.top, PAGE.bottom
LINE_HEIGHT = PAGE.line_height
LABEL = (0x40 / 255,) * 3  # labels and a transfer's notes: #404040
GREYED = (0x50 / 255,) * 3  # a redacted entry: #505050
# Columns in mm as the stylesheet gives them; a table is as wide as the page's text, its
# columns widened in proportion (table-layout: fixed).
ENTRY_COLUMNS = (9, 23, 42, 74, 36)
PROOF_COLUMNS = (9, 105, 70)
ITEM_COLUMNS = (38, 60)  # the SHA-256 takes the rest
SUBJECT_LABEL = 32 * MM


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
    flow = Flow(document, PAGE)
    flow.heading(title, 16, 1, 0, 3 * MM)
    flow.table([SUBJECT_LABEL, WIDTH - SUBJECT_LABEL], None,
               _subject_rows(subject, len(entries)), borders=False, padding=(0.5, 0.0),
               after=3 * MM)
    row_keep = 3 * LINE_HEIGHT * 8 + 4 * PADDING[0]  # a header row and a row of a line
    if subject.items:
        flow.heading("Item" if len(subject.items) == 1 else "Items", 12, 2, 5 * MM, 2 * MM,
                     keep=row_keep)
        widths = columns(ITEM_COLUMNS, WIDTH * sum(ITEM_COLUMNS) / 190)
        widths.append(WIDTH - sum(widths))
        flow.table(widths, header("ERN", "Name", "SHA-256 at intake", size=8), [
            [[Block((Piece(item.ern, Style("sans", 8), whole=True),), 8)],
             [_text(item.name or "", Style("sans", 8))],
             [_plain(item.sha256, Style("mono", 7), 7)]]
            for item in subject.items
        ])
    flow.heading("Chain of custody", 12, 2, 5 * MM, 2 * MM, keep=row_keep)
    flow.table(columns(ENTRY_COLUMNS, WIDTH),
               header("No.", "Time (UTC)", "Who", "What happened", "Item", size=8),
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
    flow.table(columns(PROOF_COLUMNS, WIDTH),
               header("No.", "Recorded fields (time, action, details)", "Hashes", size=6.5),
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
        numbering = page_number(document, page, PAGE, f"Page {number} of {total}", style)
        width = round(right - left - numbering - 12, 3)
        title = titles.get(width)
        if title is None:
            title = titles[width] = _footer_title(case_title, style, width)
        top = max(BOTTOM, middle - title.height / 2)
        draw_on(document, page, title, left, top)


def _footer_title(case_title: str, style: Style, width: float) -> Placed:
    """The case title in at most FOOTER_LINES lines of `width`: the longest start of it
    that fits with "…" after it, if the whole does not (a binary search over its length,
    cut before a character that is not a mark or joiner, so that a mark stays on its
    letter)."""
    title = place([_text(case_title, style)], width, LINE_HEIGHT)
    if len(title.lines) <= FOOTER_LINES:
        return title
    bounds = [index for index in range(1, len(case_title) + 1) if index == len(case_title)
              or not (unicodedata.category(case_title[index]).startswith("M")
                      or case_title[index] in "\u200c\u200d")]
    low, high = 0, len(bounds) - 1  # bounds[low] fits (or none does: low stays 0)
    best = place([_text("…", style)], width, LINE_HEIGHT)
    while low <= high:
        middle = (low + high) // 2
        shortened = case_title[: bounds[middle]].rstrip() + "…"
        cut = place([_text(shortened, style)], width, LINE_HEIGHT)
        if len(cut.lines) <= FOOTER_LINES:
            best, low = cut, middle + 1
        else:
            high = middle - 1
    return best


def load() -> None:
    """Load the report's fonts and shaper now (once per process): a process that lays out
    reports in a row (the bundle's helpers) pays for them before its first report."""
    fonts.load()
    render({"checkpoint": "casefile\n1\nAAAA=\n\n— casefile+00000000+AAAA\n",
            "verifier_key": "casefile+00000000+AAAA", "entries": []}, "Casefile မြန်မာ")
