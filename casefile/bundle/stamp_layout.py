"""The stamps of an exhibit's pages drawn as a PDF of their own, one page per exhibit page at
that page's size (its crop box), with the PDF text writer (casefile/documents/pdf_text:
HarfBuzz shapes a label in any script, e.g. Burmese through Padauk; a ToUnicode map makes
the stamp's text extract as written). stamping.py lays these pages over the exhibit's.

Each page: at the bottom right, 8 pt from the right and 6 pt from the bottom, a white box with
a black 0.6 pt border around "<label> · <ERN> · page x of y" (8 pt); and, when the exhibit is
not public, a red band across the top with its classification centred in white bold 9 pt.
The sizes and colours are those the WeasyPrint stylesheet gave before (#b00000, padding
1.5 pt by 4 pt in the box, 2 pt above and below the banner's line).

A mark too wide for its page (a long label, a narrow page) is set smaller, down to 4 pt,
and below that wrapped onto more lines at 4 pt: never cut across its width. On a page too
small even for that (an image of a few dozen pixels becomes a page of as many points), its
lines go up past the page's top: the ERN and number are still in the text, and in the
index."""

from __future__ import annotations

from collections.abc import Sequence

from casefile.documents.pdf_text import fonts
from casefile.documents.pdf_text.lines import Line, Piece, Style, lay_out
from casefile.documents.pdf_text.pdf import Document, Page

MARK_SIZE = 8.0  # pt
MARK_SMALLEST = 4.0  # pt: a mark set smaller than this is wrapped instead
MARK_RIGHT, MARK_BOTTOM = 8.0, 6.0  # pt from the page's right and bottom edges
MARK_PADDING = (1.5, 4.0)  # pt: above and below, left and right of the text
BORDER = 0.6  # pt
BANNER_SIZE = 9.0  # pt
BANNER_PADDING = 2.0  # pt above and below the banner's text
BANNER_SIDES = 4.0  # pt kept free at either end of a banner's text
RED = (0.69, 0.0, 0.0)  # #b00000
WHITE = (1.0, 1.0, 1.0)
BLACK = (0.0, 0.0, 0.0)
UNBOUNDED = 1e9  # a width no stamp line reaches: laid out on one line


def mark_text(label: str, ern: str, number: int, total: int) -> str:
    return f"{label} \u00b7 {ern} \u00b7 page {number} of {total}"


def _one_line(text: str) -> str:
    """The text with line breaks and tabs as spaces: a stamp is one line unless too wide."""
    return " ".join(text.split()) if any(char in text for char in "\n\r\t\v\f") else text


def _fitted(text: str, style: Style, width: float) -> tuple[float, tuple[Line, ...]]:
    """The size the text is set at and its lines: the style's if it fits `width` on one line,
    a smaller size down to MARK_SMALLEST if that fits, else lines at MARK_SMALLEST wrapped
    to the width."""
    lines = lay_out([Piece(text, style)], UNBOUNDED)
    drawn = max(line.width for line in lines)
    if drawn <= width:
        return style.size, lines
    # Widths scale with the size (HarfBuzz's advances, in font units, times size / upem).
    smaller = Style(style.font, max(MARK_SMALLEST, style.size * width / drawn * 0.999),
                    style.color)
    lines = lay_out([Piece(text, smaller)], UNBOUNDED)
    if max(line.width for line in lines) <= width:
        return smaller.size, lines
    return smaller.size, lay_out([Piece(text, smaller)], max(width, 1.0))


def _extent(line: Line, size: float, font: str) -> tuple[float, float]:
    """A line's ascent and descent (pt): its tallest font's (Padauk's reach past DejaVu's)."""
    used = [(run.font, run.size) for run in line.runs] or [(fonts.font(font), size)]
    return (max(face.ascender * at for face, at in used),
            max(face.descender * at for face, at in used))


def _block(document: Document, page: Page, lines: Sequence[Line], *, size: float, font: str,
           top: float, centre: float | None = None, left: float = 0.0) -> float:
    """Draws lines from `top` down, each centred on `centre` or starting at `left`; returns
    the bottom of the last line."""
    for line in lines:
        ascent, descent = _extent(line, size, font)
        x = centre - line.width / 2 if centre is not None else left
        document.text(page, x, top + ascent, line)
        top += ascent + descent
    return top


def _height(lines: Sequence[Line], size: float, font: str) -> float:
    return sum(sum(_extent(line, size, font)) for line in lines)


def _banner(document: Document, page: Page, banner: str) -> None:
    width = page.size[0]
    size, lines = _fitted(banner, Style("bold", BANNER_SIZE, WHITE), width - 2 * BANNER_SIDES)
    height = _height(lines, size, "bold") + 2 * BANNER_PADDING
    document.rectangle(page, 0, 0, width, height, fill=RED)
    _block(document, page, lines, size=size, font="bold", top=BANNER_PADDING, centre=width / 2)


def _mark(document: Document, page: Page, text: str) -> None:
    width, height = page.size
    room = width - MARK_RIGHT - 2 * (MARK_PADDING[1] + BORDER)
    size, lines = _fitted(text, Style("sans", MARK_SIZE), room)
    inner_width = max(line.width for line in lines) + 2 * MARK_PADDING[1]
    inner_height = _height(lines, size, "sans") + 2 * MARK_PADDING[0]
    # The border is drawn on the box's edge, half of it outside: the box's outer edge is
    # MARK_RIGHT and MARK_BOTTOM from the page's, as CSS's border-box put it.
    right = width - MARK_RIGHT - BORDER
    bottom = height - MARK_BOTTOM - BORDER
    left, top = right - inner_width, bottom - inner_height
    document.rectangle(page, left - BORDER / 2, top - BORDER / 2, inner_width + BORDER,
                       inner_height + BORDER, fill=WHITE, stroke=BLACK, line_width=BORDER)
    _block(document, page, lines, size=size, font="sans", top=top + MARK_PADDING[0],
           left=left + MARK_PADDING[1])


def stamp_pages(label: str, ern: str, banner: str | None,
                sizes: Sequence[tuple[float, float]]) -> bytes:
    """A PDF of the stamps alone: one page per size (width, height in pt), in order."""
    document = Document()
    label, ern = _one_line(label), _one_line(ern)
    banner = _one_line(banner) if banner else None
    for number, size in enumerate(sizes, start=1):
        page = document.new_page(size)
        if banner:
            _banner(document, page, banner)
        _mark(document, page, mark_text(label, ern, number, len(sizes)))
    return document.write(title=f"{label} {ern}")
