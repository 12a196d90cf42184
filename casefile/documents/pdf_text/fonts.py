"""Fonts for the PDF text writer: found through fontconfig (`fc-match`, once per process and
family), loaded into HarfBuzz, and text shaped with it (kerning and each script's shaping:
Burmese medials reordered, marks stacked). A character a style's font lacks goes to the
first fallback font whose cmap has it (Padauk, Debian's fonts-sil-padauk, for Myanmar;
DejaVu Sans first for the mono style), then to any installed font fontconfig finds with it
(Chinese: Droid Sans Fallback), else U+FFFD is drawn for it; combining marks, ZWJ and ZWNJ
stay with their base character's font; bold text falls back to Padauk's bold face.

HarfBuzz here (uharfbuzz's own build) shapes with a font's OpenType tables, as Chrome and
Android do. Debian's HarfBuzz, which WeasyPrint's Pango uses elsewhere in the project, is built
with Graphite and takes Padauk's Graphite rules instead: the same glyphs (tests compare them),
but Graphite closes up some syllables' spacing (ါ် before the next consonant sits ~0.27 em
closer), so Burmese words here are set slightly looser than in WeasyPrint's PDFs."""

from __future__ import annotations

import bisect
import contextlib
import functools
import shutil
import subprocess
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import uharfbuzz as hb  # type: ignore[import-untyped]  # no type hints shipped

# The stylesheet's families, as fontconfig patterns: a style's own font first, then fallbacks.
PATTERNS = {
    "sans": "DejaVu Sans",
    "bold": "DejaVu Sans:bold",
    "oblique": "DejaVu Sans:oblique",
    "mono": "DejaVu Sans Mono",
    "myanmar": "Padauk",
    "myanmar_bold": "Padauk:bold",  # Padauk has a bold face: a heading's Burmese is bold too
}
# Each style's fallbacks, in order; a style not named here falls back to regular Padauk.
# After them, any installed font fontconfig finds with the character (`covering`).
FALLBACKS = {"bold": ("myanmar_bold",), "mono": ("sans", "myanmar")}
DEFAULT_FALLBACKS = ("myanmar",)
# Fonts that must be the family asked for (a fontconfig substitute would draw nothing).
REQUIRED = {"sans": "DejaVu Sans", "bold": "DejaVu Sans", "oblique": "DejaVu Sans",
            "mono": "DejaVu Sans Mono", "myanmar": "Padauk", "myanmar_bold": "Padauk"}
INSTALL_HINT = {"DejaVu Sans": "fonts-dejavu-core", "DejaVu Sans Mono": "fonts-dejavu-core",
                "Padauk": "fonts-sil-padauk"}
SHAPED_CACHE = 4096  # (font, text) shaping results kept per process, at most
SHAPED_CHARS = 100_000  # characters of those texts, at most (~15 MiB of glyphs)
REPLACEMENT = 0xFFFD  # drawn for a character no installed font has (the text keeps it)
_JOINERS = frozenset("\u200c\u200d")


class FontMissing(RuntimeError):
    """fontconfig has no font for a family the report needs (install fonts-dejavu-core and
    fonts-sil-padauk)."""


@dataclass(frozen=True, eq=False)
class Font:
    """One font file loaded for shaping and embedding."""

    key: str
    path: str
    face: hb.Face = field(repr=False)
    font: hb.Font = field(repr=False)
    upem: int
    ascender: float  # em
    descender: float  # em, positive
    postscript_name: str
    chars: frozenset[int] = field(repr=False)
    _advances: dict[int, int] = field(default_factory=dict, repr=False)

    def advance(self, glyph: int) -> int:
        """The glyph's own advance (hmtx), in font units."""
        width = self._advances.get(glyph)
        if width is None:
            width = self._advances[glyph] = self.font.get_glyph_h_advance(glyph)
        return width

    def has(self, char: str) -> bool:
        return ord(char) in self.chars


def _match(pattern: str) -> tuple[str, int]:
    """The font file (and face index in it) fontconfig gives for a pattern."""
    program = shutil.which("fc-match")
    if program is None:
        raise FontMissing("fc-match (fontconfig) is not installed")
    result = subprocess.run(  # noqa: S603 - a fixed program and pattern, no shell
        [program, "-f", "%{index}:%{file}", pattern], capture_output=True, text=True,
        timeout=30, check=False,
    )
    index, _, path = result.stdout.partition(":")
    if result.returncode != 0 or not path:
        raise FontMissing(f"fontconfig found no font for {pattern!r}")
    return path, int(index or 0)


_loading = threading.Lock()


@functools.cache
def _load(key: str) -> Font:
    path, index = _match(PATTERNS[key])
    loaded = _open(key, path, index)
    family = REQUIRED[key]
    names = {loaded.face.get_name(name_id) or "" for name_id in (
        hb.OTNameIdPredefined.FONT_FAMILY, hb.OTNameIdPredefined.TYPOGRAPHIC_FAMILY)}
    if family not in names and family.replace(" ", "") not in loaded.postscript_name:
        raise FontMissing(
            f"fontconfig has no {family!r} font (it gave {path}): install "
            f"{INSTALL_HINT[family]}")
    return loaded


def _open(key: str, path: str, index: int = 0) -> Font:
    face = hb.Face(hb.Blob.from_file_path(path), index)
    font = hb.Font(face)  # scale: the font's units per em
    extents = font.get_font_extents("ltr")
    name = face.get_name(hb.OTNameIdPredefined.POSTSCRIPT_NAME) or key
    return Font(
        key=key, path=path, face=face, font=font, upem=face.upem,
        ascender=extents.ascender / face.upem, descender=-extents.descender / face.upem,
        postscript_name=name.replace(" ", ""), chars=frozenset(face.unicodes),
    )


def font(key: str) -> Font:
    """A style's font, loaded once per process (any thread)."""
    with _loading:
        return _load(key)


# fontconfig's fallback list (its fonts in the order it prefers them for sans-serif text,
# as Pango takes them), read once per process; the fonts loaded from it, by file and index;
# and each character's font (None: no installed font has it).
_fallback_list: list[tuple[str, int, list[tuple[int, int]]]] | None = None
_found_fonts: dict[tuple[str, int], Font] = {}
_covering: dict[int, Font | None] = {}
# Categories no font is asked for: unassigned, private use (a font's own meaning), surrogates.
_NEVER_ASKED = frozenset({"Cn", "Co", "Cs"})


def _charset(ranges: str) -> list[tuple[int, int]]:
    """fontconfig's charset ("20-7e a0 ...") as sorted (first, last) code point ranges."""
    found = []
    for part in ranges.split():
        first, _, last = part.partition("-")
        found.append((int(first, 16), int(last or first, 16)))
    return sorted(found)


def _sorted_fonts() -> list[tuple[str, int, list[tuple[int, int]]]]:
    """fontconfig's sorted list for sans-serif TrueType fonts with their charsets: one
    `fc-match -s` per process. The choice for a character then depends only on the fonts
    installed, never on what the process drew before, and costs no call per character."""
    global _fallback_list  # noqa: PLW0603 - once per process
    if _fallback_list is None:
        program = shutil.which("fc-match")
        listed: list[tuple[str, int, list[tuple[int, int]]]] = []
        if program is not None:
            result = subprocess.run(  # noqa: S603 - a fixed program and pattern, no shell
                [program, "-s", "-f", "%{index}\t%{file}\t%{charset}\n",
                 "sans-serif:fontformat=TrueType"],
                capture_output=True, text=True, timeout=30, check=False,
            )
            for line in result.stdout.splitlines():
                index, path, ranges = [*line.split("\t"), "", ""][:3]
                if path and ranges:
                    listed.append((path, int(index or 0), _charset(ranges)))
        _fallback_list = listed
    return _fallback_list


def _in(code: int, ranges: list[tuple[int, int]]) -> bool:
    at = bisect.bisect_right(ranges, (code, 0x10FFFF)) - 1
    return at >= 0 and ranges[at][0] <= code <= ranges[at][1]


def covering(char: str) -> Font | None:
    """An installed font with the character, for one no style font has: the first font of
    fontconfig's sorted fallback list whose charset holds it, looked up once per character
    and process. Only TrueType outlines (glyf), which the PDF embeds as CIDFontType2; None if
    no installed font has it, or if it is unassigned, private use or a surrogate (drawn as
    U+FFFD: no font is searched for such characters, however many a text holds)."""
    code = ord(char)
    with _loading:
        if code in _covering:
            return _covering[code]
        chosen = None
        if unicodedata.category(char) not in _NEVER_ASKED:
            for path, index, ranges in _sorted_fonts():
                if not _in(code, ranges):
                    continue
                candidate = _found_fonts.get((path, index))
                if candidate is None:
                    opened = _open(f"fallback{len(_found_fonts)}", path, index)
                    if "glyf" not in opened.face.table_tags:
                        continue
                    candidate = _found_fonts[(path, index)] = opened
                if code in candidate.chars:
                    chosen = candidate
                    break
        _covering[code] = chosen
        return chosen


def load() -> None:
    """Load every font now and shape a sample with each (a process that writes reports in
    a row pays fontconfig and HarfBuzz's set-up before its first report)."""
    for key in PATTERNS:
        shape(font(key), "Casefile မြန်မာ 0123456789abcdef")


def itemize(text: str, key: str) -> list[tuple[int, int, Font]]:
    """The text's runs by font: (start, end, font). A character goes to the style's font if
    it has it, else to the first fallback that has it, else to an installed font that has
    it (`covering`), else to the style's font (which draws U+FFFD for it, see `shape`);
    marks and joiners stay with the font of the character before them, and a space with
    it if that font has one (between two Burmese words: Padauk's space, as Pango sets it)."""
    own = font(key)
    if text.isascii():  # DejaVu has every printable ASCII character; no fallback has more
        return [(0, len(text), own)] if text else []
    fallbacks = [font(name) for name in FALLBACKS.get(key, DEFAULT_FALLBACKS)]
    runs: list[tuple[int, int, Font]] = []
    current: Font | None = None
    start = 0
    for index, char in enumerate(text):
        if current is not None and (
            char in _JOINERS or unicodedata.category(char) in {"Mn", "Mc", "Me", "Cf"}
        ):
            chosen = current
        elif char.isspace() and current is not None and current.has(char):
            chosen = current  # a space stays in its run's font (as Pango keeps it)
        elif own.has(char) or char.isspace():
            chosen = own
        else:
            chosen = (next((other for other in fallbacks if other.has(char)), None)
                      or covering(char) or own)
        if chosen is not current:
            if current is not None:
                runs.append((start, index, current))
            current, start = chosen, index
    if current is not None:
        runs.append((start, len(text), current))
    return runs


# A shaped glyph: its id, the index in the shaped text of its cluster's first character,
# its advance and offsets in font units.
Glyph = tuple[int, int, int, int, int]


def _shape(font: Font, text: str, direction: str | None) -> tuple[Glyph, ...]:
    buffer = hb.Buffer()
    buffer.add_str(text)
    if direction is not None:
        buffer.direction = direction  # guess_segment_properties keeps it, guesses the rest
    buffer.guess_segment_properties()
    hb.shape(font.font, buffer, {})  # kerning and the script's features by default
    # add_str takes a str: clusters are indices of code points in it.
    glyphs = tuple(
        (info.codepoint, info.cluster, position.x_advance, position.x_offset,
         position.y_offset)
        for info, position in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True)
    )
    if any(glyph[0] == 0 for glyph in glyphs):
        # A character no installed font has: the font's U+FFFD (else its .notdef box, which
        # most fonts draw), visible, in place of an empty glyph 0; its text stays the
        # character (the glyph's cluster), for the text layer.
        replacement = font.font.get_nominal_glyph(REPLACEMENT) or 0
        width = font.advance(replacement)
        glyphs = tuple(
            (replacement, glyph[1], max(glyph[2], width) if replacement else glyph[2],
             glyph[3], glyph[4]) if glyph[0] == 0 else glyph
            for glyph in glyphs
        )
    return glyphs


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TextCache(Generic[K, V]):
    """An LRU cache bounded by entries and by the characters of the texts it keeps (a key
    is given with its text's length): a process writing many reports keeps what they share
    (headings, the appendix's paragraphs) and, of each report's own long notes, no more
    than the bound. A text longer than a tenth of the bound is not kept. Thread-safe."""

    def __init__(self, entries: int, chars: int) -> None:
        self.entries, self.chars = entries, chars
        self.held = 0  # characters of the texts kept
        self.hits = self.misses = 0
        self._kept: OrderedDict[K, tuple[int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: K) -> V | None:
        found = self._kept.get(key)  # one step under the GIL, as move_to_end
        if found is None:
            self.misses += 1
            return None
        with contextlib.suppress(KeyError):  # another thread dropped it: still valid
            self._kept.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: K, size: int, value: V) -> None:
        if size > self.chars // 10:
            return
        with self._lock:
            if key in self._kept:
                return
            self._kept[key] = (size, value)
            self.held += size
            while len(self._kept) > self.entries or self.held > self.chars:
                _, (dropped, _) = self._kept.popitem(last=False)
                self.held -= dropped


SHAPED: TextCache[tuple[Font, str, str | None], tuple[Glyph, ...]] = TextCache(
    SHAPED_CACHE, SHAPED_CHARS)
_shaping = threading.Lock()


def shape(font: Font, text: str, direction: str | None = None) -> tuple[Glyph, ...]:
    """The text shaped in one font, in a direction ("ltr", "rtl": a bidi run's, from
    lines.py) or, if None, the one its script suggests; cached per process in SHAPED (LRU,
    bounded by entries and by the characters kept). Right to left, HarfBuzz gives the glyphs
    in visual order (left to right), Arabic joined and brackets mirrored; a glyph's cluster
    is still an index in the text as typed."""
    key = (font, text, direction)
    found = SHAPED.get(key)
    if found is None:
        with _shaping:  # an hb.Font is not to be shared by threads shaping at once
            found = _shape(font, text, direction)
        SHAPED.put(key, len(text), found)
    return found
