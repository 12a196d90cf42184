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
they are subset), so the text is still text, in the same fonts, at the same places. Only the
order of the page's operators differs from a report laid out whole; a report whose block
does not come out where the part was is laid out whole.
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
        "hashes": [f"leaf {entry['leaf_hash']}"]
        + [f"p{n} {value}" for n, value in enumerate(proof["hashes"])],
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


class _NotShared(Exception):
    """The report cannot take the recorded part (a font it draws with is not in the report)."""


def html(
    report: dict[str, Any],
    title: str,
    subject: Subject | None = None,
    describe: Callable[[dict[str, Any]], str] = plain_sentence,
    laid_out: LaidOut | None = None,
) -> str:
    """The report as the HTML document the PDF is laid out from; with `laid_out`, the
    appendix's fixed part is a block as high, to be drawn from what was recorded."""
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
    """A stylesheet without the page's footer, for laying out the fixed part alone."""
    import weasyprint  # noqa: PLC0415 - imported by _weasyprint() already

    return weasyprint.CSS(
        string="@page { @bottom-left { content: none } @bottom-right { content: none } }"
    )


def _marks(document: Any) -> dict[str, tuple[int, float]]:
    """Each level-2 heading's page index and y (CSS px), the first of each label."""
    found: dict[str, tuple[int, float]] = {}
    for index, page in enumerate(document.pages):
        for level, label, (_, y), _ in page.bookmarks:
            if level == 2:
                found.setdefault(label, (index, y))
    return found


def _lay_out_alone(checkpoint: str, verifier_key: str, font_config: Any) -> LaidOut | None:
    """The fixed part laid out alone where a report lays it out (the top of the second
    page, same page and stylesheets, no footer): once to measure it (followed by the
    proofs' heading), once to record its drawing. None if it drew with anything but fonts
    and paths, or a glyph no font had."""
    report_html, stylesheet, url_fetcher = _weasyprint()
    fetcher = url_fetcher(allowed_protocols=set())
    stylesheets = [stylesheet, _no_margin_boxes()]
    template = _templates.get_template(VERIFY_ALONE)
    fields = {"headings": HEADINGS, "how_to_verify": HOW_TO_VERIFY,
              "checkpoint": checkpoint, "verifier_key": verifier_key}

    measured = _marks(report_html(
        string=template.render(then=PROOFS_HEADING, **fields), url_fetcher=fetcher
    ).render(stylesheets=stylesheets, font_config=font_config))
    if [measured.get(label, (None,))[0] for label in (*HEADINGS, PROOFS_HEADING)] != [1, 1, 1]:
        return None
    first, second, then = (measured[label][1] for label in (*HEADINGS, PROOFS_HEADING))

    document = report_html(
        string=template.render(then=None, **fields), url_fetcher=fetcher
    ).render(stylesheets=stylesheets, font_config=font_config)
    if len(document.pages) != 2:  # the empty first page and the part's
        return None
    recorded: list[Any] = []
    states: dict[str, Any] = {}
    page = document.pages[1]
    paint = page.paint

    def record(stream: Any, scale: float = 1) -> None:
        start = len(stream.stream)
        paint(stream, scale)
        recorded.extend(stream.stream[start:])
        states.update(stream._resources["ExtGState"])  # noqa: SLF001 - WeasyPrint's Stream

    page.paint = record
    document.write_pdf()
    if not all(
        isinstance(operator, bytes) and (operator.split() or [b"q"])[-1] in _REPLAYABLE
        for operator in recorded
    ):
        return None
    if any(font.missing for font in document.fonts.values()):
        return None
    named = {operator.split()[0][1:].decode() for operator in recorded
             if operator.split()[-1:] == [b"gs"]}
    if not named <= set(states):
        return None
    return LaidOut(
        height=then - first - H2_MARGIN_TOP,
        second=second - first,
        marks=(first, second, then),
        operators=tuple(recorded),
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
_laying_out = threading.Lock()
KEEP_LAID_OUT = 4  # checkpoints per font configuration (a bundle has one)


def laid_out(checkpoint: str, verifier_key: str, font_config: Any) -> LaidOut | None:
    """The fixed part for this checkpoint and key, laid out once per font configuration
    (its fonts are that configuration's)."""
    with _laying_out:
        known = _laid_out.setdefault(font_config, {})
        if (checkpoint, verifier_key) not in known:
            if len(known) >= KEEP_LAID_OUT:
                known.clear()
            known[checkpoint, verifier_key] = _lay_out_alone(
                checkpoint, verifier_key, font_config
            )
        return known[checkpoint, verifier_key]


def _replaying(document: Any, part: LaidOut) -> bool:
    """Make the page where the document's block is draw the recorded part, first, with the
    document's fonts; False if the block is not exactly where the part was."""
    marks = _marks(document)
    labels = (*HEADINGS, PROOFS_HEADING)
    if not all(label in marks for label in labels):
        return False
    pages = {marks[label][0] for label in labels}
    if len(pages) != 1 or any(
        abs(marks[label][1] - expected) > 1e-6
        for label, expected in zip(labels, part.marks, strict=True)
    ):
        return False
    page = document.pages[pages.pop()]
    paint = page.paint

    def replay(stream: Any, scale: float = 1) -> None:
        start = len(stream.stream)
        paint(stream, scale)
        # The document's fonts, once the page has drawn its own text: the part needs each of
        # its fonts drawn in the report already (the same resource name), and adds its glyphs.
        fonts = document.fonts
        for key, (name, to_unicode, widths) in part.glyphs.items():
            font = fonts.get(key)
            if font is None or font.hash != name:
                raise _NotShared(name)
            for glyph, text in to_unicode.items():
                font.to_unicode.setdefault(glyph, text)
            for glyph, width in widths.items():
                font.widths.setdefault(glyph, width)
        for name, state in part.states.items():
            stream._resources["ExtGState"].setdefault(name, state)  # noqa: SLF001
        stream.stream[start:start] = part.operators

    page.paint = replay
    return True


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
    report (a quarter of a short report's time), and so is the appendix's fixed part."""
    report_html, stylesheet, url_fetcher = _weasyprint()
    # The report needs nothing from outside (fonts come from fontconfig): refuse every URL,
    # so no text in it could make the writer read a local file or the network.
    fetcher = url_fetcher(allowed_protocols=set())
    if font_config is not None:
        part = laid_out(report["checkpoint"], str(report.get("verifier_key")), font_config)
        if part is not None:
            document = report_html(
                string=html(report, title, subject, describe, part), url_fetcher=fetcher
            ).render(stylesheets=[stylesheet], font_config=font_config)
            if _replaying(document, part):
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
