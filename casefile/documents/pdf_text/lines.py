"""Paragraphs broken into lines: break opportunities from ICU (UAX 14, and dictionary breaks
for Burmese with the "my" locale), less those inside a piece kept whole (an identifier, a
part of an e-mail address), plus those between two pieces marked breakable after (an
e-mail address before its @ and after its dots); hard breaks at "\\n". A piece wider than
the line breaks between grapheme clusters (`overflow-wrap: break-word`, or `anywhere`:
hashes and keys). Lines are filled greedily, measured from HarfBuzz's advances; each line's
text is then shaped as it is drawn (a run cut by a line break is shaped again in parts).

Right-to-left text (Arabic, Hebrew) is ordered by ICU's bidi algorithm (UAX 9, a left-to-right
paragraph: the report is English): lines are broken on the text as typed (widths do not
depend on order), then each line's runs are cut at its bidi runs, each piece shaped in its
own direction (HarfBuzz joins Arabic, mirrors brackets) and the pieces placed in visual
order. As in WeasyPrint's PDFs, the glyphs (and their ToUnicode text) are in visual order:
readers (pdftotext, a viewer's copy) put right-to-left text back in logical order. A
paragraph with no right-to-left or explicit bidi character (Latin, Burmese) skips this."""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import icu

from casefile.documents.pdf_text import fonts

LAID_OUT_CACHE = 512  # paragraphs (pieces, width) kept laid out per process: ~0.2 MiB a proof
LAID_OUT_CHARS = 100_000  # characters of those paragraphs, at most (~15 MiB of lines)


@dataclass(frozen=True)
class Style:
    """How a piece of text is set: font key (fonts.PATTERNS), size in pt, RGB fill."""

    font: str = "sans"
    size: float = 8.0
    color: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Piece:
    """Text in one style; `whole`: no line break inside it; `wbr`: a break is allowed after
    it (as HTML's <wbr>)."""

    text: str
    style: Style
    whole: bool = False
    wbr: bool = False


@dataclass(frozen=True)
class Run:
    """Glyphs in one font, size and colour, from x (pt, from the line's start): each glyph's
    id, advance, x and y offsets (font units) and the text its cluster stands for (on the
    cluster's first glyph, "" on the others)."""

    font: fonts.Font
    size: float
    color: tuple[float, float, float]
    x: float
    glyphs: tuple[tuple[int, int, int, int, str], ...]
    rtl: bool = False  # right to left: glyphs (clusters) in visual order, the text's reversed
    # What a writer derives from the run once (a laid-out paragraph is cached, and so its
    # runs): not part of its value.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Line:
    """A line's runs, left to right as drawn."""

    width: float
    runs: tuple[Run, ...]


_local = threading.local()
# Bidi classes that make a paragraph need ICU's bidi algorithm: right-to-left letters,
# Arabic digits, explicit embeddings, overrides and isolates. Without them every level is 0.
_BIDI_CLASSES = frozenset(
    {"R", "AL", "AN", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI"})


# Where every character of those classes lies (Hebrew to Arabic Extended, RLM, the explicit
# controls, Hebrew and Arabic presentation forms, the historic right-to-left blocks; a test
# checks it against unicodedata): one regex search passes over a Latin or Burmese paragraph.
_BIDI_RANGES = re.compile(
    "[\u0590-\u08ff\u200f\u202a-\u202e\u2066-\u2069\ufb1d-\ufdff\ufe70-\ufeff"
    "\U00010800-\U00010fff\U0001e800-\U0001efff]")


def _needs_bidi(text: str) -> bool:
    """Whether the paragraph holds a character of the classes above."""
    if text.isascii():
        return False
    bidirectional = unicodedata.bidirectional
    return any(bidirectional(char) in _BIDI_CLASSES for char in _BIDI_RANGES.findall(text))


def _utf16_indices(text: str) -> list[int] | None:
    """Each code point's index in UTF-16 units (ICU's), and the end's; None if the same."""
    if all(ord(char) <= 0xFFFF for char in text):
        return None
    indices, unit = [], 0
    for char in text:
        indices.append(unit)
        unit += 2 if ord(char) > 0xFFFF else 1
    indices.append(unit)
    return indices


def _iterator(kind: str) -> icu.BreakIterator:
    """ICU's break iterators, one per thread (they hold their text)."""
    found = getattr(_local, kind, None)
    if found is None:
        if kind == "line":
            found = icu.BreakIterator.createLineInstance(icu.Locale("my"))
        else:
            found = icu.BreakIterator.createCharacterInstance(icu.Locale("my"))
        setattr(_local, kind, found)
    return found


def _boundaries(text: str, kind: str) -> list[int]:
    """ICU's boundaries in text, as indices of code points (ICU counts UTF-16 units)."""
    iterator = _iterator(kind)
    iterator.setText(text)
    found = list(iterator)
    if any(ord(char) > 0xFFFF for char in text):
        units, index = {}, 0
        for position, char in enumerate(text):
            units[index] = position
            index += 2 if ord(char) > 0xFFFF else 1
        units[index] = len(text)
        found = [units[unit] for unit in found if unit in units]
    return found


@dataclass
class _Text:
    """A paragraph's text with, per character, its style and the x of its start."""

    text: str
    styles: list[Style]
    runs: list[tuple[int, int, Style, fonts.Font]]
    x: list[float]  # len(text) + 1 positions; a cluster's width is on its first character
    # Bidi, for a paragraph that needs it: each character's embedding level (the runs are
    # cut where it changes), ICU's Bidi of the paragraph, code point -> UTF-16 index.
    levels: list[int] | None = None
    bidi: Any = None
    units: list[int] | None = None

    @functools.cached_property
    def graphemes(self) -> list[int]:
        """ICU's grapheme cluster boundaries in the text, found once per paragraph (a word
        wider than a line is broken between them, line after line)."""
        return _boundaries(self.text, "character")

    @classmethod
    def of(cls, pieces: Sequence[Piece]) -> _Text:
        text = "".join(piece.text for piece in pieces)
        styles: list[Style] = []
        runs: list[tuple[int, int, Style, fonts.Font]] = []
        offset = 0
        # Consecutive pieces of one style are itemized and shaped together.
        grouped: list[tuple[int, int, Style]] = []
        for piece in pieces:
            end = offset + len(piece.text)
            if grouped and grouped[-1][2] == piece.style and grouped[-1][1] == offset:
                grouped[-1] = (grouped[-1][0], end, piece.style)
            elif piece.text:
                grouped.append((offset, end, piece.style))
            styles += [piece.style] * len(piece.text)
            offset = end
        levels: list[int] | None = None
        bidi: Any = None
        units: list[int] | None = None
        if _needs_bidi(text):
            bidi = icu.Bidi()
            bidi.setPara(icu.UnicodeString(text), 0)  # paragraph level 0: left to right
            by_unit = bidi.getLevels()
            units = _utf16_indices(text)
            levels = list(by_unit) if units is None else [by_unit[unit] for unit in units[:-1]]
        advances = [0.0] * (len(text) + 1)
        for start, end, style in grouped:
            for run_start, run_end, font in fonts.itemize(text[start:end], style.font):
                low, high = start + run_start, start + run_end
                parts = [(low, high)] if levels is None else _level_runs(levels, low, high)
                for piece_start, piece_end in parts:
                    runs.append((piece_start, piece_end, style, font))
                    direction = None if levels is None else _direction(levels[piece_start])
                    scale = style.size / font.upem
                    for glyph in fonts.shape(font, text[piece_start:piece_end], direction):
                        advances[piece_start + glyph[1]] += glyph[2] * scale
        x = [0.0] * (len(text) + 1)
        total = 0.0
        for index, advance in enumerate(advances):
            x[index] = total
            total += advance
        return cls(text, styles, runs, x, levels, bidi, units)

    def width(self, start: int, end: int) -> float:
        return self.x[end] - self.x[start]

    def _pieces(self, start: int, end: int, direction: str | None
                ) -> list[tuple[int, int, Style, fonts.Font, str | None]]:
        """The runs' parts inside text[start:end], in the text's order."""
        pieces: list[tuple[int, int, Style, fonts.Font, str | None]] = []
        for run_start, run_end, style, font in self.runs:
            low, high = max(start, run_start), min(end, run_end)
            if low < high:
                pieces.append((low, high, style, font, direction))
        return pieces

    def _visual(self, start: int, end: int
                ) -> list[tuple[int, int, Style, fonts.Font, str | None]]:
        """The runs' parts in text[start:end] in visual order (left to right), each with its
        direction, as ICU orders the line's bidi runs (UAX 9 L1-L2)."""
        units = self.units
        if units is None:
            unit_start, unit_end = start, end
        else:
            unit_start, unit_end = units[start], units[end]
            index_of = {unit: index for index, unit in enumerate(units)}
        line = self.bidi.setLine(unit_start, unit_end)
        pieces: list[tuple[int, int, Style, fonts.Font, str | None]] = []
        for number in range(line.countRuns()):
            logical, length, direction = line.getVisualRun(number)
            low, high = unit_start + logical, unit_start + logical + length
            if units is not None:
                low, high = index_of[low], index_of[high]
            rtl = direction == icu.UBiDiDirection.RTL
            found = self._pieces(low, high, "rtl" if rtl else "ltr")
            if rtl:
                found.reverse()  # its pieces (fonts, styles) right to left too
            pieces += found
        return pieces

    def line(self, start: int, end: int) -> Line:
        """The line of text[start:end], each run in it shaped as drawn, in visual order."""
        drawn: list[Run] = []
        x = 0.0
        pieces = (self._pieces(start, end, None) if self.levels is None
                  else self._visual(start, end))
        for low, high, style, font, direction in pieces:
            part = self.text[low:high]
            shaped = fonts.shape(font, part, direction)
            firsts: dict[int, int] = {}
            for index, glyph in enumerate(shaped):
                firsts.setdefault(glyph[1], index)
            ends = [*sorted({glyph[1] for glyph in shaped}), len(part)]
            text_of = {cluster: part[cluster : ends[number + 1]]
                       for number, cluster in enumerate(ends[:-1])}
            glyphs = tuple(
                (glyph[0], glyph[2], glyph[3], glyph[4],
                 text_of[glyph[1]] if firsts[glyph[1]] == index else "")
                for index, glyph in enumerate(shaped)
            )
            drawn.append(Run(font, style.size, style.color, x, glyphs, direction == "rtl"))
            x += sum(glyph[2] for glyph in shaped) * style.size / font.upem
        return Line(x, tuple(drawn))


def _direction(level: int) -> str:
    return "rtl" if level % 2 else "ltr"


def _level_runs(levels: list[int], start: int, end: int) -> list[tuple[int, int]]:
    """text[start:end] cut where the embedding level changes."""
    runs: list[tuple[int, int]] = []
    for index in range(start + 1, end):
        if levels[index] != levels[index - 1]:
            runs.append((start, index))
            start = index
    runs.append((start, end))
    return runs


def _opportunities(pieces: Sequence[Piece], text: str) -> tuple[set[int], set[int]]:
    """Where a line may start: ICU's line breaks outside whole pieces; and, taken only when
    what lies between two of those is wider than a line, after pieces marked `wbr` (an
    e-mail address moves to the next line whole if it fits there, as it did when laid out
    by WeasyPrint with the address in a nowrap span)."""
    allowed = set(_boundaries(text, "line"))
    fallback: set[int] = set()
    offset = 0
    for piece in pieces:
        end = offset + len(piece.text)
        if piece.whole:
            allowed.difference_update(range(offset + 1, end))
        if piece.wbr:
            fallback.add(end)
        offset = end
    allowed.discard(0)
    allowed.discard(len(text))
    return allowed, fallback - allowed


def _visible_end(text: str, start: int, end: int) -> int:
    """The end of text[start:end] less trailing spaces (they hang past the line)."""
    while end > start and text[end - 1] == " ":
        end -= 1
    return end


def lay_out(pieces: Sequence[Piece], width: float) -> tuple[Line, ...]:
    """The pieces broken into lines no wider than `width` (pt) where they can be; "\\n" ends
    a line. Cached per process (LAID_OUT: LRU, bounded by entries and by the characters
    kept): a report's fixed texts are laid out once."""
    key = (tuple(pieces), round(width, 4))
    found = LAID_OUT.get(key)
    if found is None:
        found = _break(*key)
        LAID_OUT.put(key, sum(len(piece.text) for piece in key[0]), found)
    return found


def _break(pieces: tuple[Piece, ...], width: float) -> tuple[Line, ...]:
    lines: list[Line] = []
    paragraph: list[Piece] = []
    for piece in pieces:
        parts = piece.text.split("\n")
        for number, part in enumerate(parts):
            if number:
                lines += _fill(paragraph, width)
                paragraph = []
            if part:
                paragraph.append(Piece(part, piece.style, piece.whole,
                                       piece.wbr and number == len(parts) - 1))
    lines += _fill(paragraph, width)
    return tuple(lines)


LAID_OUT: fonts.TextCache[tuple[tuple[Piece, ...], float], tuple[Line, ...]] = \
    fonts.TextCache(LAID_OUT_CACHE, LAID_OUT_CHARS)


def _fill(pieces: Sequence[Piece], width: float) -> list[Line]:
    if not pieces:
        return [Line(0.0, ())]
    text = _Text.of(pieces)
    string = text.text
    allowed, fallback = _opportunities(pieces, string)
    breaks = [*sorted(allowed), len(string)]
    lines: list[Line] = []
    start = 0
    first = 0  # the first break after `start`
    while start < len(string):
        while breaks[first] <= start:
            first += 1
        end = _last_fit(text, start, breaks[first:], width)
        if end is None and fallback:  # a word wider than the line: inside an address
            end = _last_fit(text, start, sorted(
                bound for bound in fallback if start < bound < breaks[first]), width)
        if end is None:  # still too wide: break it between graphemes
            end = _grapheme_fit(text, start, width)
        visible = _visible_end(string, start, end)
        line = text.line(start, visible)
        if visible > start and string[visible - 1] == SOFT_HYPHEN and end < len(string):
            line = _hyphenated(line, text.styles[visible - 1])
        lines.append(line)
        start = end
    return lines


SOFT_HYPHEN = "\u00ad"


def _hyphen(style: Style) -> tuple[fonts.Font, tuple[fonts.Glyph, ...]]:
    font = fonts.itemize("-", style.font)[0][2]
    return font, fonts.shape(font, "-")


def _hyphen_width(style: Style) -> float:
    font, glyphs = _hyphen(style)
    return sum(glyph[2] for glyph in glyphs) * style.size / font.upem


def _hyphenated(line: Line, style: Style) -> Line:
    """A line broken at a soft hyphen, with a hyphen drawn at its end (as a browser, and
    WeasyPrint, shows it); a reader's copy gives "-" there."""
    font, glyphs = _hyphen(style)
    run = Run(font, style.size, style.color, line.width, tuple(
        (glyph[0], glyph[2], glyph[3], glyph[4], "-" if number == 0 else "")
        for number, glyph in enumerate(glyphs)))
    return Line(line.width + _hyphen_width(style), (*line.runs, run))


def _last_fit(text: _Text, start: int, candidates: Sequence[int], width: float) -> int | None:
    """The last of the (ascending) candidate line ends whose line fits, if any."""
    end = None
    for candidate in candidates:
        visible = _visible_end(text.text, start, candidate)
        drawn = text.width(start, visible)
        if visible > start and text.text[visible - 1] == SOFT_HYPHEN \
                and candidate < len(text.text):
            drawn += _hyphen_width(text.styles[visible - 1])  # the hyphen it will show
        if drawn <= width + 1e-6:
            end = candidate
        else:
            break
    return end


def _grapheme_fit(text: _Text, start: int, width: float) -> int:
    """The end of the longest run of grapheme clusters from `start` that fits (one at
    least)."""
    bounds = text.graphemes
    first = bisect.bisect_right(bounds, start)
    # A cluster split by shaping is kept whole: only boundaries with a width of their own.
    end = bounds[first] if first < len(bounds) else len(text.text)
    for bound in itertools.islice(bounds, first, None):
        if text.width(start, bound) <= width + 1e-6:
            end = bound
        else:
            break
    return end
