"""A custody report as PDF, for a court registry: first what it is about (the case, its court
and reference, the item or items), then a table of entries a person reads (when, who, what
happened, to which item), and last an appendix with what a verifier needs: each entry's
recorded fields, leaf hash and inclusion proof (RFC 9162), the signed checkpoint, the verifier
key and how to check them by hand. The JSON report beside it is the authoritative form.

The PDF is an HTML template (templates/custody_report.html) laid out by WeasyPrint, whose
Pango and HarfBuzz shape every script: Burmese titles and actor names come out with their
medials and vowel signs reordered and stacked as a reader expects, which ReportLab could not
do. The fonts are named by family in the stylesheet (templates/custody_report.css); Debian's
fonts-sil-padauk provides Padauk.

Laying out costs: the bundle lays out one report per exhibit (bench/custody_report_pdf.py
--warm). So the stylesheet is parsed once per process, not once per report, and the report
is laid out with a user agent stylesheet of the rules its elements need (templates/
print_ua.css) instead of WeasyPrint's whole HTML5 one, which it would match against every
element: both give the same PDF, byte for byte.

A process that lays out reports in a row (it passes a `font_config`: the bundle's helpers)
lays out the appendix's fixed part (how to verify, the signed checkpoint, the verifier key:
the same in every report of a bundle) once per checkpoint (`LaidOut`), and each report then
holds a block as high in its place: its page gets the drawing operators recorded from that
layout, in its own content stream with its own fonts (they gain the part's glyphs before
they are subset), so the text is still text, in the same fonts, at the same places. Each
proof's hash lines (fixed-width, one glyph per character) are likewise a block as high,
their lines drawn as WeasyPrint drew a recorded sample (`DrawnHashes`), put in the page's
stream where WeasyPrint would have drawn them. Only the order of a page's operators and
some repeated state operators differ from a report laid out whole (same text, fonts,
outline and pixels: tests/documents/test_custody_report_pdf.py); a report whose blocks do
not come out where expected, or that lacks a font the recorded text needs, is laid out
whole.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup, escape

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
TEMPLATE = "custody_report.html"
VERIFY_ALONE = "custody_report_verify_alone.html"
HASHES_ALONE = "custody_report_hashes_alone.html"
# Proof lines as a report holds them: "leaf " or "p<n> " and 64 hexadecimal digits.
HASH_SAMPLE = ("leaf 0123456789abcdef", "p0 fedcba9876543210", "p19 a1b2c3d4e5f6")
HASH_LINE = re.compile(r"(?:leaf|p\d{1,2}) [0-9a-f]{64}")  # what _hash_lines makes of SHA-256s
HASH_MARK = 9  # bookmark level of a hash block's mark (a report's headings are 1 and 2)
# The appendix's headings before its table of proofs, and the heading of that table.
HEADINGS = ("Appendix: how to verify this report", "Signed checkpoint")
PROOFS_HEADING = "Recorded entries, leaf hashes and inclusion proofs"
H2_MARGIN_TOP = 5 * 96 / 25.4  # custody_report.css: h2 { margin: 5mm 0 2mm }, in CSS px
# PDF operators the recorded part may hold: paths, colours, text, graphics states (WeasyPrint
# sets its opacity through one, recorded with the part). Anything naming another resource (an
# image, a pattern, a shading) or marked content is not replayed.
_REPLAYABLE = frozenset(
    b"q Q cm w J j M d re m l c h f f* S n W W* g G rg RG BT ET Tf Tm Td TD TJ Tj Tc Tw Tz "
    b"TL Ts Tr T* gs".split()
)
STYLESHEET = "custody_report.css"
USER_AGENT_STYLESHEET = "print_ua.css"
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

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("casefile.documents", "templates"),
    autoescape=True,  # titles, names and details are user text: shown, never interpreted
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
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
    """Text with line breaks allowed only where a reader expects them: at spaces, and in an
    e-mail address before its @ and after its dots, never inside a name, a domain label or
    an identifier such as an ERN. Without `emails`, only identifiers are kept whole (a web
    page wraps addresses itself)."""

    def token(match: re.Match[str]) -> str:
        part = str(escape(match.group(0)))
        if "@" in part:
            part = part.replace("@", "<wbr>@").replace(".", ".<wbr>")
        return f'<span class="token">{part}</span>'

    pieces: list[str] = []
    last = 0
    for match in (TOKENS if emails else IDENTIFIER).finditer(text):
        pieces.append(str(escape(text[last : match.start()])))
        pieces.append(token(match))
        last = match.end()
    pieces.append(str(escape(text[last:])))
    return Markup("".join(pieces))  # noqa: S704 - every piece of user text is escaped above


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


def _unshaped(text: str) -> bool:
    """Whether text is only of Latin letters without combining marks (below U+0300) and
    general punctuation (a signed note's em dash): one glyph per character."""
    return all(ord(char) < 0x0300 or 0x2000 <= ord(char) < 0x2070 for char in text)


def _hash_lines(entry: dict[str, Any]) -> list[str]:
    proof = entry["inclusion_proof"]
    hashes = (f"p{n} {value}" for n, value in enumerate(proof["hashes"]))
    return [f"leaf {entry['leaf_hash']}", *hashes]


def _row(
    entry: dict[str, Any], describe: Callable[[dict[str, Any]], str], erns: dict[str, str]
) -> dict[str, Any]:
    proof = entry["inclusion_proof"]
    redacted = entry.get("redacted") is True
    date, _, clock = entry["time"].partition("T")
    clock = clock.removesuffix("Z").split(".")[0]
    return {
        "seq": entry["seq"],
        "date": date,
        "clock": f"{clock} UTC",
        "time": entry["time"],
        "redacted": redacted,
        "actor": "" if redacted else breakable(entry["actor"]["label"]),
        "sentence": REDACTED if redacted else breakable(describe(entry)),
        "notes": "" if redacted else breakable(_notes(entry)),
        "item": "" if redacted else _item_ern(entry, erns),
        "action": "redacted" if redacted else entry["action"],
        "details": ""
        if redacted
        else json.dumps(entry["details"], ensure_ascii=False, sort_keys=True, indent=1),
        "hashes": _hash_lines(entry),
        "tree_size": proof["tree_size"],
    }


@dataclass(frozen=True)
class LaidOut:
    """The appendix's fixed part laid out once, at the top of a report's first appendix page:
    its height and its second heading's offset (CSS px), where its headings' bookmarks fall
    on the page, the PDF operators that draw it, and per font (by WeasyPrint's font key) its
    resource name and the glyphs it draws (glyph id: text, glyph id: width)."""

    height: float
    second: float
    marks: tuple[float, float, float]  # y of its two headings and of the proofs' heading
    operators: tuple[bytes, ...]
    glyphs: dict[int, tuple[str, dict[int, str], dict[int, int]]]
    states: dict[str, Any]  # the graphics states it sets, by name (pydyf dictionaries)


@dataclass(frozen=True)
class DrawnHashes:
    """How WeasyPrint draws a proof's hash lines (one monospace font and size, one glyph per
    character, no kerning to decide), recorded once: a report holds a block as high and
    its lines are drawn with the same operators, where the block's mark says."""

    level: int
    pitch: float  # CSS px from one line to the next
    baseline: float  # CSS px from the block's top to its first line's origin
    left: float  # CSS px from the block's left to its lines' origin
    after: tuple[float, float]  # from the block's bottom left to the next line's origin
    font: tuple[int, str]  # WeasyPrint's font key, its resource name
    start: tuple[bytes, bytes]  # the operators setting the lines' colour and font
    glyphs: dict[str, tuple[int, bytes]]  # character: glyph id, its TJ element
    to_unicode: dict[int, str]
    widths: dict[int, int]

    def operators(self, x: float, y: float, lines: Sequence[str]) -> list[bytes]:
        """The text of `lines`, drawn from a block whose top left is (x, y)."""
        drawn = []
        for number, line in enumerate(lines):
            drawn.append(b"1 0 0 -1 %s %s Tm" % (
                _number(x + self.left), _number(y + self.baseline + number * self.pitch)))
            drawn.append(b"[" + b"".join(self.glyphs[char][1] for char in line) + b"] TJ")
        return drawn


def _number(value: float) -> bytes:
    """A number as pydyf writes it in a content stream."""
    if float(value).is_integer():
        return str(int(value)).encode()
    return f"{value:f}".rstrip("0").encode()


class _NotShared(Exception):
    """The report cannot take the recorded part (a font it draws with is not in the report)."""


def html(
    report: dict[str, Any],
    title: str,
    subject: Subject | None = None,
    describe: Callable[[dict[str, Any]], str] = plain_sentence,
    *,
    laid_out: LaidOut | None = None,
    drawn: DrawnHashes | None = None,
) -> str:
    """The report as the HTML document the PDF is laid out from; with `laid_out`, the
    appendix's fixed part is a block as high, to be drawn from what was recorded; with
    `drawn`, so is each proof's block of hash lines (not a redacted entry's)."""
    subject = subject or Subject(case_title=title)
    erns = {item.id: item.ern for item in subject.items}
    return _templates.get_template(TEMPLATE).render(
        title=title,
        subject=subject,
        headings=HEADINGS,
        how_to_verify=HOW_TO_VERIFY,
        checkpoint=report["checkpoint"],
        verifier_key=str(report.get("verifier_key")),
        rows=[_row(entry, describe, erns) for entry in report["entries"]],
        laid_out=laid_out,
        drawn=drawn,
    )


def _stylesheet(name: str) -> str:
    return (files("casefile.documents") / "templates" / name).read_text("utf-8")


@functools.cache
def _weasyprint() -> tuple[Any, Any, Any]:
    """WeasyPrint's HTML class with the report's user agent stylesheet, the report's
    stylesheet, and WeasyPrint's URLFetcher class. The stylesheets are parsed once per
    process and shared by every report, in any thread: a parsed WeasyPrint CSS is only read,
    as WeasyPrint's own user agent sheet, a module global, is by every document."""
    # Imported on first use: WeasyPrint loads Pango and fontTools (about 23 MiB and 0.4 s CPU
    # per process), which every server worker would otherwise pay for a rarely used route.
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - no type hints shipped

    user_agent = weasyprint.CSS(string=_stylesheet(USER_AGENT_STYLESHEET))

    class ReportHTML(weasyprint.HTML):  # type: ignore[misc]  # untyped base
        """An HTML document laid out with print_ua.css as its user agent stylesheet.
        `_ua_stylesheets` is WeasyPrint's own (private) hook for it, the one its HTML
        class calls (weasyprint/css/__init__.py, get_all_computed_styles);
        test_custody_report_pdf checks that it still takes effect."""

        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:  # noqa: ARG002 - no forms
            return [user_agent]

    return ReportHTML, weasyprint.CSS(string=_stylesheet(STYLESHEET)), weasyprint.urls.URLFetcher


def load() -> None:
    """Import WeasyPrint and parse the report's stylesheets now (once per process), for a
    process that lays out reports in a row and wants them ready (and then frozen: see
    casefile/bundle/custody_pdfs.py)."""
    _weasyprint()


@functools.cache
def _no_margin_boxes() -> Any:
    """A stylesheet without the page's footer, for laying out a part alone."""
    import weasyprint  # noqa: PLC0415 - imported by _weasyprint() already

    return weasyprint.CSS(
        string="@page { @bottom-left { content: none } @bottom-right { content: none } }"
    )


def _alone(template: str, font_config: Any, **fields: Any) -> Any:
    """A part laid out alone (a WeasyPrint Document), with the report's stylesheets and no
    footer."""
    report_html, stylesheet, url_fetcher = _weasyprint()
    return report_html(
        string=_templates.get_template(template).render(**fields),
        url_fetcher=url_fetcher(allowed_protocols=set()),
    ).render(stylesheets=[stylesheet, _no_margin_boxes()], font_config=font_config)


def _marks(document: Any, level: int = 2) -> dict[str, tuple[int, float, float]]:
    """Each bookmark of `level`: its page index and its x, y (CSS px), the first per label."""
    found: dict[str, tuple[int, float, float]] = {}
    for index, page in enumerate(document.pages):
        for mark_level, label, (x, y), _ in page.bookmarks:
            if mark_level == level:
                found.setdefault(label, (index, x, y))
    return found


def _painted(document: Any, index: int) -> tuple[list[Any], dict[str, Any]]:
    """The PDF operators that paint page `index` of the document, and the graphics states
    (by name) the document's pages set."""
    operators: list[Any] = []
    states: dict[str, Any] = {}
    page = document.pages[index]
    paint = page.paint

    def record(stream: Any, scale: float = 1) -> None:
        start = len(stream.stream)
        paint(stream, scale)
        operators.extend(stream.stream[start:])
        states.update(stream._resources["ExtGState"])  # noqa: SLF001 - WeasyPrint's Stream

    page.paint = record
    document.write_pdf()
    return operators, states


def _state_names(operators: Sequence[bytes]) -> set[str]:
    return {operator.split()[0][1:].decode() for operator in operators
            if operator.split()[-1:] == [b"gs"]}


def _lay_out_alone(checkpoint: str, verifier_key: str, font_config: Any) -> LaidOut | None:
    """The fixed part laid out alone where a report lays it out (the top of the second
    page, same page and stylesheets, no footer): once to measure it (followed by the
    proofs' heading), once to record its drawing. None if it drew with anything but fonts
    and paths, or a glyph no font had."""
    fields = {"headings": HEADINGS, "how_to_verify": HOW_TO_VERIFY,
              "checkpoint": checkpoint, "verifier_key": verifier_key}
    labels = (*HEADINGS, PROOFS_HEADING)
    measured = _marks(_alone(VERIFY_ALONE, font_config, then=PROOFS_HEADING, **fields))
    if [measured.get(label, (None,))[0] for label in labels] != [1, 1, 1]:
        return None
    first, second, then = (measured[label][2] for label in labels)
    document = _alone(VERIFY_ALONE, font_config, then=None, **fields)
    if len(document.pages) != 2:  # the empty first page and the part's
        return None
    operators, states = _painted(document, 1)
    if not all(
        isinstance(operator, bytes) and (operator.split() or [b"q"])[-1] in _REPLAYABLE
        for operator in operators
    ) or any(font.missing for font in document.fonts.values()):
        return None
    named = _state_names(operators)
    if not named <= set(states):
        return None
    return LaidOut(
        height=then - first - H2_MARGIN_TOP,
        second=second - first,
        marks=(first, second, then),
        operators=tuple(operators),
        glyphs={
            key: (font.hash, dict(font.to_unicode), dict(font.widths))
            for key, font in document.fonts.items()
            if font.to_unicode
        },
        states={name: states[name] for name in named},
    )


_laid_out: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], LaidOut | None]] = (
    weakref.WeakKeyDictionary()
)
_drawn: weakref.WeakKeyDictionary[Any, DrawnHashes | None] = weakref.WeakKeyDictionary()
_recording = threading.Lock()
KEEP_LAID_OUT = 4  # checkpoints per font configuration (a bundle has one)


def laid_out(checkpoint: str, verifier_key: str, font_config: Any) -> LaidOut | None:
    """The fixed part for this checkpoint and key, laid out once per font configuration
    (its fonts are that configuration's)."""
    with _recording:
        known = _laid_out.setdefault(font_config, {})
        if (checkpoint, verifier_key) not in known:
            if len(known) >= KEEP_LAID_OUT:
                known.clear()
            known[checkpoint, verifier_key] = _lay_out_alone(
                checkpoint, verifier_key, font_config
            )
        return known[checkpoint, verifier_key]


def drawn_hashes(font_config: Any) -> DrawnHashes | None:
    """How the hash lines are drawn, recorded once per font configuration."""
    with _recording:
        if font_config not in _drawn:
            _drawn[font_config] = _record_hashes(font_config)
        return _drawn[font_config]


def _add_glyphs(
    document: Any, stream: Any, fonts: dict[int, tuple[str, dict[int, str], dict[int, int]]],
    states: dict[str, Any],
) -> None:
    """Give the document's fonts the glyphs recorded operators draw (so they are kept in its
    subsets, with their widths and text), and its pages the graphics states they set. Each
    font must be in the document already, under the same resource name."""
    for key, (name, to_unicode, widths) in fonts.items():
        font = document.fonts.get(key)
        if font is None or font.hash != name:
            raise _NotShared(name)
        for glyph, text in to_unicode.items():
            font.to_unicode.setdefault(glyph, text)
        for glyph, width in widths.items():
            font.widths.setdefault(glyph, width)
    for name, state in states.items():
        stream._resources["ExtGState"].setdefault(name, state)  # noqa: SLF001


def _replaying(document: Any, part: LaidOut) -> bool:
    """Make the page where the document's block is draw the recorded part, first, with the
    document's fonts; False if the block is not exactly where the part was."""
    marks = _marks(document)
    labels = (*HEADINGS, PROOFS_HEADING)
    if not all(label in marks for label in labels):
        return False
    pages = {marks[label][0] for label in labels}
    if len(pages) != 1 or any(
        abs(marks[label][2] - expected) > 1e-6
        for label, expected in zip(labels, part.marks, strict=True)
    ):
        return False
    page = document.pages[pages.pop()]
    paint = page.paint

    def replay(stream: Any, scale: float = 1) -> None:
        start = len(stream.stream)
        paint(stream, scale)
        # Once the page has drawn its own text, so that the fonts are there.
        _add_glyphs(document, stream, part.glyphs, part.states)
        stream.stream[start:start] = part.operators

    page.paint = replay
    return True


_TEXT_LINE = re.compile(rb"1 0 0 -1 (\S+) (\S+) Tm")
_GLYPH = re.compile(rb"<([0-9a-f]{4})>(-?[0-9.]+)")
_Line = tuple[float, float, tuple[tuple[bytes, bytes], ...], bytes, bytes]


def _text_lines(
    operators: Sequence[bytes], x: float, top: float, bottom: float
) -> tuple[list[_Line], list[bytes]]:
    """The text lines drawn from (x, top) down to `bottom`: each line's origin, its glyphs
    and kerning, the font and fill colour set for it; and their own operators (Tm, TJ)."""
    state: dict[bytes, bytes] = {}
    lines: list[_Line] = []
    own: list[bytes] = []
    placed: bytes | None = None  # the last text line's Tm
    for operator in operators:
        if (
            _TEXT_LINE.fullmatch(operator) and lines and abs(float(operator.split()[4]) - x) < 1
            and float(operator.split()[5]) > bottom
        ):
            own.append(operator)  # the next line's origin, below the block
            break
        if operator.split()[-1:] in ([b"rg"], [b"Tf"]):
            state[operator.split()[-1]] = operator
        if _TEXT_LINE.fullmatch(operator):
            placed = operator
        elif operator.endswith(b"] TJ") and placed is not None:
            line_x, line_y = float(placed.split()[4]), float(placed.split()[5])
            if line_x > x - 1e-3 and top < line_y < bottom:
                own += [placed, operator]
                lines.append((line_x, line_y, tuple(_GLYPH.findall(operator)),
                              state.get(b"Tf", b""), state.get(b"rg", b"")))
            placed = None
    return lines, own


def _glyph_elements(lines: Sequence[_Line]) -> dict[str, tuple[int, bytes]] | None:
    """Each character of HASH_SAMPLE: its glyph and its TJ element; None unless each line
    is a glyph per character and a character always the same glyph and kerning."""
    glyphs: dict[str, tuple[int, bytes]] = {}
    for text, (_, _, elements, _, _) in zip(HASH_SAMPLE, lines, strict=True):
        if len(elements) != len(text):
            return None
        for char, (glyph, kerning) in zip(text, elements, strict=True):
            element = (int(glyph, 16), b"<" + glyph + b">" + kerning)
            if glyphs.setdefault(char, element) != element:
                return None
    return glyphs


def _record_hashes(font_config: Any) -> DrawnHashes | None:
    """How WeasyPrint draws HASH_SAMPLE's lines in the proofs table: recorded, then checked
    by drawing the sample again from the record (the same operators). None if anything is
    not as expected (another font or colour per line, kerning, not a glyph per character)."""
    document = _alone(HASHES_ALONE, font_config, level=HASH_MARK, lines=HASH_SAMPLE)
    marks = _marks(document, HASH_MARK)
    if len(document.pages) != 1 or set(marks) != {"top", "end"}:
        return None
    _, x, y = marks["top"]
    end = marks["end"][2]
    operators, _ = _painted(document, 0)
    if not all(isinstance(operator, bytes) for operator in operators):
        return None
    lines, own = _text_lines(operators, x, y, end)
    if len(lines) != len(HASH_SAMPLE) or len({line[3:] for line in lines}) != 1:
        return None
    after = own.pop()  # "tree size", the line after the block
    glyphs = _glyph_elements(lines)
    font_operator, colour = lines[0][3], lines[0][4]
    name = font_operator.split()[0][1:].decode()
    fonts = {font.hash: (key, font) for key, font in document.fonts.items()}
    if (
        glyphs is None or name not in fonts or fonts[name][1].missing
        or not _TEXT_LINE.fullmatch(after)
    ):
        return None
    key, font = fonts[name]
    pitch = (end - y) / len(HASH_SAMPLE)  # the block is its lines, each as high
    if any(abs(line[1] - lines[0][1] - number * pitch) > 1e-5
           for number, line in enumerate(lines)):
        return None
    used = {glyph for glyph, _ in glyphs.values()}
    drawn = DrawnHashes(
        level=HASH_MARK, pitch=pitch, baseline=lines[0][1] - y, left=lines[0][0] - x,
        after=(float(after.split()[4]) - x, float(after.split()[5]) - end),
        font=(key, name), start=(colour, font_operator), glyphs=glyphs,
        to_unicode={glyph: font.to_unicode[glyph] for glyph in used},
        widths={glyph: font.widths[glyph] for glyph in used},
    )
    return drawn if _same_text(drawn.operators(x, y, HASH_SAMPLE), own) else None


def _same_text(drawn: list[bytes], expected: list[bytes]) -> bool:
    """The same operators, a line's position within 2e-6 CSS px (WeasyPrint adds up its
    lines' heights where the record multiplies: the sixth decimal may differ)."""
    if len(drawn) != len(expected):
        return False
    for mine, theirs in zip(drawn, expected, strict=True):
        if mine != theirs and not (
            _TEXT_LINE.fullmatch(mine) and _TEXT_LINE.fullmatch(theirs)
            and all(abs(float(a) - float(b)) <= 2e-6
                    for a, b in zip(mine.split()[4:6], theirs.split()[4:6], strict=True))
        ):
            return False
    return True


def _drawing_hashes(document: Any, blocks: dict[str, list[str]], drawn: DrawnHashes) -> bool:
    """Make each page draw the hash lines of the blocks on it, where their marks are (and
    take the marks out of the outline); False unless each block is found once."""
    found: set[str] = set()
    for page in document.pages:
        marks = [(label, x, y) for level, label, (x, y), _ in page.bookmarks
                 if level == drawn.level]
        if not marks:
            continue
        page.bookmarks[:] = [mark for mark in page.bookmarks if mark[0] != drawn.level]
        if any(label in found or label not in blocks for label, _, _ in marks):
            return False
        found.update(label for label, _, _ in marks)
        glyphs = {drawn.glyphs[char][0] for label, _, _ in marks
                  for line in blocks[label] for char in line}
        page.paint = _hashes_painter(
            document, page.paint, drawn, [(x, y, blocks[label]) for label, x, y in marks],
            {drawn.font[0]: (drawn.font[1],
                             {glyph: drawn.to_unicode[glyph] for glyph in glyphs},
                             {glyph: drawn.widths[glyph] for glyph in glyphs})})
    return found == set(blocks)


def _hashes_painter(
    document: Any, paint: Callable[..., None], drawn: DrawnHashes,
    blocks: list[tuple[float, float, list[str]]],
    fonts: dict[int, tuple[str, dict[int, str], dict[int, int]]],
) -> Callable[..., None]:
    """The page's painting, then each block's lines put in its stream where WeasyPrint
    would have drawn them: just before the line after the block ("tree size"), in the same
    text object, the colour and font set for them and set back after them."""

    def painter(stream: Any, scale: float = 1) -> None:
        start = len(stream.stream)
        paint(stream, scale)
        _add_glyphs(document, stream, fonts, {})
        waiting = [  # where the line after each block starts
            (x + drawn.after[0], y + len(lines) * drawn.pitch + drawn.after[1], (x, y, lines))
            for x, y, lines in blocks
        ]
        operators = stream.stream
        state: dict[bytes, bytes] = {}
        index = start
        while waiting and index < len(operators):
            operator = operators[index]
            index += 1
            if not isinstance(operator, bytes):
                continue
            words = operator.split()
            if words[-1:] in ([b"rg"], [b"Tf"]):
                state[words[-1]] = operator
            elif words[-1:] == [b"Tm"] and _TEXT_LINE.fullmatch(operator):
                line_x, line_y = float(words[4]), float(words[5])
                matching = [
                    number for number, (after_x, after_y, _) in enumerate(waiting)
                    if abs(after_x - line_x) < 1e-3 and abs(after_y - line_y) < 1e-3
                ]
                if matching:
                    block = waiting.pop(matching[0])[2]
                    lines = [*drawn.start, *drawn.operators(*block)]
                    lines += [state[key] for key in (b"rg", b"Tf") if key in state]
                    operators[index - 1 : index - 1] = lines
                    index += len(lines)
        if waiting:
            raise _NotShared("a block of hash lines")

    return painter


def render(
    report: dict[str, Any],
    title: str,
    subject: Subject | None = None,
    describe: Callable[[dict[str, Any]], str] = plain_sentence,
    *,
    font_config: Any = None,
) -> bytes:
    """The report as PDF. `font_config` (a weasyprint FontConfiguration) may be shared by the
    reports one process lays out in a row: fontconfig's lookups are then paid once, not per
    report (a quarter of a short report's time), and so are the appendix's fixed part and
    the shaping of the proofs' hash lines (module docstring)."""
    report_html, stylesheet, url_fetcher = _weasyprint()
    # The report needs nothing from outside (fonts come from fontconfig): refuse every URL,
    # so no text in it could make the writer read a local file or the network.
    fetcher = url_fetcher(allowed_protocols=set())
    if font_config is not None:
        checkpoint, key = report["checkpoint"], str(report.get("verifier_key"))
        # Only text set one glyph per character is replayed: a glyph of a shaped script
        # (Burmese) may stand for other text elsewhere on the page, and the page's text layer
        # would then read differently.
        part = laid_out(checkpoint, key, font_config) if _unshaped(checkpoint + key) else None
        drawn = drawn_hashes(font_config)
        blocks = {
            str(number): _hash_lines(entry) for number, entry in enumerate(report["entries"])
            if entry.get("redacted") is not True
        }
        # Recorded lines are never wrapped: only lines as wide as the sample's (a SHA-256)
        # are drawn from it, anything else is laid out, and wrapped, as before.
        if drawn is not None and not all(
            HASH_LINE.fullmatch(line) and all(char in drawn.glyphs for char in line)
            for lines in blocks.values() for line in lines
        ):
            drawn = None
        if part is not None or drawn is not None:
            document = report_html(
                string=html(report, title, subject, describe, laid_out=part, drawn=drawn),
                url_fetcher=fetcher,
            ).render(stylesheets=[stylesheet], font_config=font_config)
            if (part is None or _replaying(document, part)) and (
                drawn is None or _drawing_hashes(document, blocks, drawn)
            ):
                try:
                    return _bytes(document.write_pdf())
                except _NotShared:
                    pass
    document = html(report, title, subject, describe)
    return _bytes(report_html(string=document, url_fetcher=fetcher).write_pdf(
        stylesheets=[stylesheet], font_config=font_config
    ))


def _bytes(pdf: bytes | None) -> bytes:
    if not isinstance(pdf, bytes):  # None only when given a target to write to
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
