"""Pages of text, rules and filled boxes written as PDF with pydyf: each font embedded as a
subset made by HarfBuzz (glyph ids kept, so a glyph's code is its id: Type0 font,
CIDFontType2, Identity-H), with its widths (W) and a ToUnicode CMap giving each cluster's
text on its first glyph, so that text extraction (pdftotext, a reader's copy) gives the
text; an outline of headings and the document's Info. Pages are the document's size unless
one is given its own (a bundle's stamps: each the size of the exhibit page it goes on)."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pydyf  # type: ignore[import-untyped]  # no type hints shipped
import uharfbuzz as hb  # type: ignore[import-untyped]

from casefile.documents.pdf_text import fonts
from casefile.documents.pdf_text.lines import Line, Run

A4 = (595.2756, 841.8898)  # pt
SUBSETS_KEPT = 64
_ASCII = tuple(range(0x20, 0x7F))  # in every subset of a font with them: subsets repeat
_DROPPED_TABLES = ("GSUB", "GPOS", "GDEF", "morx", "kerx", "kern", "DSIG", "BASE", "JSTF")


def _number(value: float) -> bytes:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return (text if text not in {"-0", ""} else "0").encode()


def _colour(color: tuple[float, float, float], stroke: bool = False) -> bytes:
    return b" ".join(_number(part) for part in color) + (b" RG" if stroke else b" rg")


@dataclass
class _Used:
    """What a document draws with one font: its resource name, each glyph's text."""

    name: str
    text: dict[int, str] = field(default_factory=dict)


@dataclass
class Page:
    size: tuple[float, float] = A4  # width, height (pt)
    operators: list[bytes] = field(default_factory=list)


@dataclass
class Mark:
    """An outline entry: its level (1, 2), title, page index and y from the page's top."""

    level: int
    title: str
    page: int
    top: float


class Document:
    """Pages drawn in pt from the page's top left, written as PDF by `write`."""

    def __init__(self, size: tuple[float, float] = A4) -> None:
        self.width, self.height = size
        self.pages: list[Page] = []
        self.marks: list[Mark] = []
        self._fonts: dict[fonts.Font, _Used] = {}

    def new_page(self, size: tuple[float, float] | None = None) -> Page:
        """A page of the document's size, or of its own."""
        page = Page(size or (self.width, self.height))
        self.pages.append(page)
        return page

    def rectangle(self, page: Page, x: float, top: float, width: float, height: float,
                  *, fill: tuple[float, float, float] | None = None,
                  stroke: tuple[float, float, float] | None = None,
                  line_width: float = 0.25) -> None:
        rect = b" ".join(_number(value) for value in
                         (x, page.size[1] - top - height, width, height)) + b" re"
        if fill is not None:
            page.operators += [_colour(fill), rect, b"f"]
        if stroke is not None:
            page.operators += [_colour(stroke, stroke=True), _number(line_width) + b" w",
                               rect, b"S"]

    def text(self, page: Page, x: float, baseline: float, line: Line) -> None:
        """A line's glyphs, its start at x, on the baseline (both pt from the top left)."""
        drawn: list[bytes] = []
        y = page.size[1] - baseline
        exact = True
        for run in line.runs:
            used = self._fonts.get(run.font)
            if used is None:
                used = self._fonts[run.font] = _Used(f"F{len(self._fonts)}")
            drawn += [b"BT", _colour(run.color),
                      b"/%s %s Tf" % (used.name.encode(), _number(run.size)),
                      b"1 0 0 1 %s %s Tm" % (_number(x + run.x), _number(y))]
            shown, run_exact = _shown(run, used)
            drawn += shown
            drawn.append(b"ET")
            exact = exact and run_exact
        if not exact:
            # The ToUnicode map gives a glyph one text, the first it stood for: where a glyph
            # stands for other text here (a shaped script), the line says its text
            # (ActualText, which pdftotext and a reader's copy use), spaces included. Its
            # characters follow the glyphs left to right (a right-to-left cluster's
            # reversed): readers put right-to-left text back in logical order themselves.
            text = "".join(glyph[4][::-1] if run.rtl else glyph[4]
                           for run in line.runs for glyph in run.glyphs)
            drawn = [b"/Span <</ActualText <FEFF%s>>> BDC" % _utf16(text).encode(), *drawn,
                     b"EMC"]
        page.operators += drawn

    def write(self, *, title: str, author: str = "Casefile", creator: str = "Casefile",
              lang: str = "en") -> bytes:
        """The PDF; `lang`: the document's language (the catalog's /Lang, for a screen
        reader), as WeasyPrint wrote it from <html lang>."""
        pdf = pydyf.PDF()
        pdf.catalog["Lang"] = pydyf.String(lang)
        resources = pydyf.Dictionary({"Font": pydyf.Dictionary()})
        for font, used in self._fonts.items():
            resources["Font"][used.name] = _embed(pdf, font, used).reference
        pdf.add_object(resources)
        references = []
        for page in self.pages:
            content = _stream(b"\n".join(page.operators))
            pdf.add_object(content)
            dictionary = pydyf.Dictionary({
                "Type": "/Page", "Parent": pdf.pages.reference,
                "MediaBox": pydyf.Array([0, 0, _number(page.size[0]).decode(),
                                         _number(page.size[1]).decode()]),
                "Contents": content.reference, "Resources": resources.reference,
            })
            pdf.add_page(dictionary)
            references.append(dictionary.reference)
        if self.marks:
            pdf.catalog["Outlines"] = _outline(pdf, self.marks, references,
                                               [page.size[1] for page in self.pages])
            pdf.catalog["PageMode"] = "/UseOutlines"
        pdf.info.update({
            "Title": pydyf.String(title), "Author": pydyf.String(author),
            "Creator": pydyf.String(creator), "Producer": pydyf.String(creator),
        })
        output = io.BytesIO()
        pdf.write(output, version=b"1.7", compress=True)
        return output.getvalue()


def _shown(run: Run, used: _Used) -> tuple[list[bytes], bool]:
    """The operators showing a run's glyphs, and whether the document's ToUnicode map reads
    them as the run's text. A glyph's text in the map is the first it stood for ("" for a
    glyph that is not its cluster's first); a mark's offsets split the text for a reader."""
    operators, texts, exact = _encoding(run)
    for glyph, text in texts.items():
        if used.text.setdefault(glyph, text) != text:
            exact = False
    return list(operators), exact


def _encoding(run: Run) -> tuple[tuple[bytes, ...], dict[int, str], bool]:
    """A run's TJ arrays (HarfBuzz's advances and x offsets as adjustments, a y offset as a
    text rise), each glyph's text, and whether one text per glyph and no offsets let a
    ToUnicode map read it exactly; worked out once per run."""
    found = run.memo.get("pdf")
    if found is None:
        found = run.memo["pdf"] = _Encoder(run).encode()
    return found


class _Encoder:
    """A run's glyphs as TJ arrays: glyphs in a row as one hex string, an adjustment where
    HarfBuzz's advance is not the glyph's own width, a text rise around a raised mark."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.scale = 1000 / run.font.upem
        self.operators: list[bytes] = []
        self.shown: list[bytes] = []  # the TJ array being built
        self.codes: list[int] = []  # glyphs shown in a row without adjustments

    def flush(self) -> None:
        if self.codes:
            packed = struct.pack(f">{len(self.codes)}H", *self.codes)
            self.shown.append(b"<" + packed.hex().encode() + b">")
            self.codes.clear()

    def close(self) -> None:
        self.flush()
        if self.shown:
            self.operators.append(b"[" + b" ".join(self.shown) + b"] TJ")
            self.shown = []

    def encode(self) -> tuple[tuple[bytes, ...], dict[int, str], bool]:
        run, scale = self.run, self.scale
        texts: dict[int, str] = {}
        exact = True
        widths = _widths(run.font)
        codes = self.codes
        for glyph, advance, x_offset, y_offset, text in run.glyphs:
            if texts.setdefault(glyph, text) != text:  # the map can say only one
                exact = False
            if y_offset:
                self.close()
                self.operators.append(_number(y_offset * run.size / run.font.upem) + b" Ts")
            if x_offset:
                self.flush()
                self.shown.append(_number(-x_offset * scale))
            codes.append(glyph)
            width = widths.get(glyph)
            if width is None:
                width = _width(run.font, glyph)
            adjust = width - (advance - x_offset) * scale
            if adjust > 0.01 or adjust < -0.01:  # below, a hundredth of a thousandth of an em
                self.flush()
                self.shown.append(_number(adjust))
            if y_offset:
                self.close()
                self.operators.append(b"0 Ts")
            # Right to left, a reader reverses what a glyph's ToUnicode text says: a glyph
            # standing for several characters (lam-alef, a pointed Hebrew letter) would read
            # back reversed (صلاح as صالح), so such a line carries ActualText.
            exact = exact and not x_offset and not y_offset and not (run.rtl and len(text) > 1)
        self.close()
        return tuple(self.operators), texts, exact


_font_widths: dict[fonts.Font, dict[int, float]] = {}


def _widths(font: fonts.Font) -> dict[int, float]:
    """The font's glyph widths as the W array gives them (thousandths of an em, two
    decimals), filled as glyphs are drawn."""
    return _font_widths.setdefault(font, {})


def _width(font: fonts.Font, glyph: int) -> float:
    widths = _widths(font)
    width = widths.get(glyph)
    if width is None:
        width = widths[glyph] = round(font.advance(glyph) * 1000 / font.upem, 2)
    return width


def _stream(data: bytes, extra: dict[str, object] | None = None) -> pydyf.Stream:
    """A stream deflated at level 6 (pydyf's own compression is level 9: slower, for a few
    bytes)."""
    return pydyf.Stream([zlib.compress(data, 6)], {**(extra or {}), "Filter": "/FlateDecode"})


def _embed(pdf: pydyf.PDF, font: fonts.Font, used: _Used) -> pydyf.Dictionary:
    name, program, length, widths, to_unicode_data = _font_parts(
        font, frozenset(used.text.items()))
    file = pydyf.Stream([program], {"Filter": "/FlateDecode", "Length1": length})
    pdf.add_object(file)
    descriptor = pydyf.Dictionary({
        "Type": "/FontDescriptor", "FontName": "/" + name, "Flags": 4,
        "FontBBox": pydyf.Array([-1000, round(-font.descender * 1000), 2000,
                                 round(font.ascender * 1000)]),
        "ItalicAngle": -11 if font.key == "oblique" else 0,
        "Ascent": round(font.ascender * 1000), "Descent": round(-font.descender * 1000),
        "CapHeight": round(font.ascender * 1000), "StemV": 80, "FontFile2": file.reference,
    })
    pdf.add_object(descriptor)
    cid_font = pydyf.Dictionary({
        "Type": "/Font", "Subtype": "/CIDFontType2", "BaseFont": "/" + name,
        "CIDSystemInfo": pydyf.Dictionary({
            "Registry": pydyf.String("Adobe"), "Ordering": pydyf.String("Identity"),
            "Supplement": 0}),
        "CIDToGIDMap": "/Identity", "W": widths, "FontDescriptor": descriptor.reference,
    })
    pdf.add_object(cid_font)
    to_unicode = pydyf.Stream([to_unicode_data], {"Filter": "/FlateDecode"})
    pdf.add_object(to_unicode)
    type0 = pydyf.Dictionary({
        "Type": "/Font", "Subtype": "/Type0", "BaseFont": "/" + name, "Encoding": "/Identity-H",
        "DescendantFonts": pydyf.Array([cid_font.reference]), "ToUnicode": to_unicode.reference,
    })
    pdf.add_object(type0)
    return type0


@functools.lru_cache(maxsize=SUBSETS_KEPT)
def _font_parts(
    font: fonts.Font, text: frozenset[tuple[int, str]]
) -> tuple[str, bytes, int, bytes, bytes]:
    """What embedding the font with these glyphs (and their texts) takes: the subset's name,
    its program deflated and its length, the W array, the ToUnicode CMap deflated. Cached:
    the reports of one process mostly draw the same glyphs."""
    glyphs = frozenset(glyph for glyph, _ in text)
    program = _subset(font, glyphs, frozenset(ord(char) for _, value in text for char in value))
    widths = b"[" + b" ".join(b"%d [%s]" % (glyph, _number(_width(font, glyph)))
                             for glyph in sorted(glyphs)) + b"]"
    return (f"{_tag(glyphs)}+{font.postscript_name}", zlib.compress(program, 6), len(program),
            widths, zlib.compress(_cmap(dict(text)), 6))


def _tag(glyphs: frozenset[int]) -> str:
    """The six capital letters naming a subset (PDF 32000 9.6.4)."""
    value = hash(tuple(sorted(glyphs))) & 0xFFFFFFFF
    letters = ""
    for _ in range(6):
        value, rest = divmod(value, 26)
        letters += chr(ord("A") + rest)
    return letters


def _subset(font: fonts.Font, glyphs: frozenset[int], chars: frozenset[int]) -> bytes:
    """The font cut down to the glyphs (ids kept) and a cmap of the characters; glyph ids
    of printable ASCII are kept too (and their cmap), so that reports mostly draw from the
    same subsets."""
    subset = hb.SubsetInput()
    for glyph in glyphs:
        subset.glyph_set.add(glyph)
    for char in chars | {char for char in _ASCII if char in font.chars}:
        subset.unicode_set.add(char)
    for tag in _DROPPED_TABLES:
        subset.drop_table_tag_set.add(_tag_number(tag))
    subset.flags = hb.SubsetFlags.RETAIN_GIDS | hb.SubsetFlags.NO_LAYOUT_CLOSURE
    face = hb.subset(font.face, subset)
    if face is None:
        raise ValueError(f"HarfBuzz could not subset {font.path}")
    program: bytes = face.blob.data
    return program


def _tag_number(tag: str) -> int:
    return int.from_bytes(tag.encode("ascii"), "big")


def _utf16(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def _cmap(text: dict[int, str]) -> bytes:
    """A ToUnicode CMap: each glyph (code) to the text it stands for; a glyph standing for
    nothing of its own (not a cluster's first) is left out."""
    entries = [(glyph, value) for glyph, value in sorted(text.items()) if value]
    body = []
    for start in range(0, len(entries), 100):
        chunk = entries[start : start + 100]
        body.append(f"{len(chunk)} beginbfchar")
        body += [f"<{glyph:04X}> <{_utf16(value)}>" for glyph, value in chunk]
        body.append("endbfchar")
    return "\n".join([
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
        "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange",
        *body, "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end",
    ]).encode("ascii")


def _outline(pdf: pydyf.PDF, marks: Sequence[Mark], pages: Sequence[bytes],
             heights: Sequence[float]) -> bytes:
    """The outline: level-1 marks, each with the level-2 marks after it as children."""
    root = pydyf.Dictionary({"Type": "/Outlines"})
    pdf.add_object(root)
    tops: list[tuple[pydyf.Dictionary, list[pydyf.Dictionary]]] = []
    for mark in marks:
        item = pydyf.Dictionary({
            "Title": pydyf.String(mark.title),
            "Dest": pydyf.Array([pages[mark.page], "/XYZ", 0,
                                 _number(heights[mark.page] - mark.top).decode(), 0]),
        })
        pdf.add_object(item)
        if mark.level == 1 or not tops:
            tops.append((item, []))
        else:
            tops[-1][1].append(item)

    def chain(parent: pydyf.Dictionary, items: Sequence[pydyf.Dictionary]) -> None:
        for index, item in enumerate(items):
            item["Parent"] = parent.reference
            if index:
                item["Prev"] = items[index - 1].reference
            if index + 1 < len(items):
                item["Next"] = items[index + 1].reference
        if items:
            parent["First"] = items[0].reference
            parent["Last"] = items[-1].reference
            parent["Count"] = len(items)

    chain(root, [item for item, _ in tops])
    for item, children in tops:
        chain(item, children)
    root["Count"] = len(marks)
    reference: bytes = root.reference
    return reference
