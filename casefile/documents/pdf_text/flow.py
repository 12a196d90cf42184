"""Pages laid out in code, as the reports' stylesheets had them: paragraphs (`Block`) placed
one under the other with their margins collapsed, headings with an outline entry kept with
what follows them, tables of fixed columns with their header row on every page they span
and rows not split across pages unless taller than a page; then, in every page's margins, a
classification banner and "Page x of y". The custody report, the court bundle's index and
the consolidated PDF's front matter share it, each with its own page (`Geometry`: size and
margins) and its own contents; sizes are pt, y grows down the page from its top."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from casefile.documents.pdf_text import fonts
from casefile.documents.pdf_text.lines import Line, Piece, Style, lay_out
from casefile.documents.pdf_text.pdf import A4, Document, Mark, Page
from casefile.documents.pdf_text.words import pieces

MM = 72 / 25.4
BLACK = (0.0, 0.0, 0.0)
WHITE = (1.0, 1.0, 1.0)
BORDER = (0x80 / 255,) * 3  # table rules, 0.25 pt: #808080
HEADER = (0xE8 / 255, 0xEC / 255, 0xF0 / 255)  # a table's header row: #e8ecf0
BANNER = (0xB0 / 255, 0.0, 0.0)  # a classification banner's band: #b00000
RULE = 0.25
PADDING = (1.5, 3.0)  # a table cell's, vertical and horizontal
# A line a cell must not break (`white-space: nowrap`): laid out this wide, it runs over
# its column's edge as a browser's would.
NOWRAP = 1e6
NOWRAP_FIT = 0.75  # the smallest a nowrap block is set to fit its width, times its size


@dataclass(frozen=True)
class Geometry:
    """A page: its size, its margins (top, right, bottom, left, as CSS gives them), the
    body's margin inside them (8 CSS px: at the left and right of every page, at the top of
    the first) and the line height, times a line's font size."""

    size: tuple[float, float] = A4
    margins: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    body_margin: float = 6.0
    line_height: float = 1.3

    @property
    def left(self) -> float:
        return self.margins[3] + self.body_margin

    @property
    def width(self) -> float:
        return self.size[0] - self.margins[1] - self.margins[3] - 2 * self.body_margin

    @property
    def top(self) -> float:
        return self.margins[0]

    @property
    def bottom(self) -> float:
        return self.size[1] - self.margins[2]


@dataclass(frozen=True)
class Block:
    """A paragraph of a cell or the page: its pieces, the size of its strut (line boxes are
    the line height times it, or its largest piece's), its font for the baseline, its
    vertical margins; `line_height` its own (a heading's), else the page's; `nowrap`: broken
    only at its line breaks, running past its width if it must (CSS `white-space: nowrap`:
    a table heading of one word wider than its column, as a browser draws it)."""

    pieces: tuple[Piece, ...]
    size: float
    font: str = "sans"
    before: float = 0.0
    after: float = 0.0
    line_height: float | None = None
    nowrap: bool = False


@dataclass
class Placed:
    """Lines laid out in a width: each line's top (from the block's top), baseline, line."""

    lines: list[tuple[float, float, Line]] = field(default_factory=list)
    height: float = 0.0


Cell = Sequence[Block]


def _lines(block: Block, width: float) -> tuple[Line, ...]:
    """A block's lines in `width`; a `nowrap` block wider than that is set smaller to fit,
    down to NOWRAP_FIT of its size (a one-word table heading such as "Language" in a narrow
    column would otherwise run over the next column's border), past which it runs over."""
    if not block.nowrap:
        return lay_out(block.pieces, width)
    lines = lay_out(block.pieces, NOWRAP)
    widest = max((line.width for line in lines), default=0.0)
    if widest <= width or width <= 0:
        return lines
    scale = max(NOWRAP_FIT, width / widest)
    smaller = tuple(replace(piece, style=replace(piece.style, size=piece.style.size * scale))
                    for piece in block.pieces)
    return lay_out(smaller, NOWRAP)


def place(blocks: Sequence[Block], width: float, line_height: float) -> Placed:
    """Blocks one under the other in `width`, their margins collapsed between them."""
    placed = Placed()
    y = 0.0
    margin = 0.0
    for number, block in enumerate(blocks):
        y += max(margin, block.before) if number else block.before
        size = max([block.size, *(piece.style.size for piece in block.pieces)])
        height = (block.line_height or line_height) * size
        font = fonts.font(block.font)
        content = (font.ascender + font.descender) * size
        baseline = (height - content) / 2 + font.ascender * size
        for line in _lines(block, width):
            placed.lines.append((y, y + baseline, line))
            y += height
        margin = block.after
    placed.height = y + margin
    return placed


def split(placed: Placed, room: float) -> tuple[Placed, Placed]:
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


def columns(widths_mm: Sequence[float], total: float) -> list[float]:
    """Columns given in mm, widened or narrowed in proportion to fill `total` pt (a table
    of `width: 100%; table-layout: fixed`)."""
    scale = total / sum(widths_mm)
    return [width * scale for width in widths_mm]


def draw_on(document: Document, page: Page, placed: Placed, x: float, top: float) -> None:
    for _, baseline, line in placed.lines:
        document.text(page, x, top + baseline, line)


def text_block(text: str, style: Style, size: float | None = None, *, before: float = 0.0,
               after: float = 0.0) -> Block:
    """User text as a block (identifiers and e-mail addresses kept whole)."""
    return Block(tuple(pieces(text, style)), size or style.size, base(style.font), before,
                 after)


def plain(text: str, style: Style, size: float | None = None, *, before: float = 0.0,
          after: float = 0.0) -> Block:
    """Text as it is (pre-wrap: spaces and line breaks kept)."""
    return Block((Piece(text, style),), size or style.size, base(style.font), before, after)


def base(font: str) -> str:
    """The font a block's baseline is set from: mono's own, else the sans."""
    return "mono" if font == "mono" else "sans"


def header(*names: str, size: float) -> list[Cell]:
    """A table's header row: each name in bold; a name of one word is never broken (set
    smaller to fit its cell, down to NOWRAP_FIT of its size, then past it)."""
    return [[Block((Piece(name, Style("bold", size)),), size, nowrap=" " not in name)]
            for name in names]


class Flow:
    """The document being laid out: the page and the y where the next block goes."""

    def __init__(self, document: Document, geometry: Geometry) -> None:
        self.document = document
        self.geometry = geometry
        self.page = document.new_page()
        self.y = geometry.top + geometry.body_margin
        self.margin = 0.0  # the bottom margin of the last block, collapsed with the next

    def new_page(self) -> None:
        self.page = self.document.new_page()
        self.y = self.geometry.top
        self.margin = 0.0

    def place(self, blocks: Sequence[Block], width: float) -> Placed:
        return place(blocks, width, self.geometry.line_height)

    def draw(self, placed: Placed, x: float, top: float) -> None:
        draw_on(self.document, self.page, placed, x, top)

    def heading(self, text: str, size: float, level: int, before: float, after: float,
                *, keep: float = 0.0, line_height: float | None = None) -> None:
        """A heading (bold), with an outline entry; moved to the next page with `keep` pt
        of what follows it if they would not fit (break-after: avoid)."""
        geometry = self.geometry
        placed = self.place([Block(tuple(pieces(text, Style("bold", size))), size, "bold",
                                   line_height=line_height)], geometry.width)
        top = self.y + (max(self.margin, before) if self.y > geometry.top else before)
        if top + placed.height + after + keep > geometry.bottom and self.y > geometry.top:
            self.new_page()
            top = self.y + before
        self.document.marks.append(Mark(level, text, len(self.document.pages) - 1, top))
        self.draw(placed, geometry.left, top)
        self.y = top + placed.height
        self.margin = after

    def blocks(self, blocks: Sequence[Block]) -> None:
        """Paragraphs across the page's width, onto the next pages if they must."""
        geometry = self.geometry
        for block in blocks:
            placed = self.place([Block(block.pieces, block.size, block.font,
                                       line_height=block.line_height)], geometry.width)
            top = self.y + max(self.margin, block.before)
            while True:
                here, rest = split(placed, geometry.bottom - top)
                self.draw(here, geometry.left, top)
                if not rest.lines:
                    break
                self.new_page()
                placed, top = rest, self.y
            self.y = top + here.height
            self.margin = block.after

    def table(self, widths: Sequence[float], header: Sequence[Cell] | None,
              rows: Sequence[Sequence[Cell]], *, borders: bool = True,
              padding: tuple[float, float] = PADDING, before: float = 0.0,
              after: float = 0.0) -> None:
        """A table of fixed columns: its header row on every page it spans, no row split
        across pages unless it is taller than a page."""
        geometry = self.geometry
        vertical, horizontal = padding
        self.y += max(self.margin, before)
        self.margin = 0.0
        laid_header = self._row(header, widths, horizontal) if header else None
        header_height = (max(cell.height for cell in laid_header) + 2 * vertical
                         if laid_header else 0.0)
        drawn_header = False
        for row in rows:
            cells = self._row(row, widths, horizontal)
            while True:
                height = max(cell.height for cell in cells) + 2 * vertical
                room = geometry.bottom - self.y - (0.0 if drawn_header else header_height)
                if height <= room:
                    if laid_header and not drawn_header:
                        self._draw_row(laid_header, widths, header_height, padding=padding,
                                       header=True, borders=borders)
                    self._draw_row(cells, widths, height, padding=padding, header=False,
                                   borders=borders)
                    drawn_header = True
                    break
                page_room = geometry.bottom - geometry.top - header_height
                if height <= page_room or room < page_room / 4:
                    self.new_page()  # the row whole on the next page, under the header
                    drawn_header = False
                    continue
                # Taller than a page: as much as fits here, the rest on the next pages.
                parts = [split(cell, room - 2 * vertical) for cell in cells]
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
        return [self.place(cell, width - 2 * horizontal)
                for cell, width in zip(row, widths, strict=True)]

    def _draw_row(self, cells: Sequence[Placed], widths: Sequence[float], height: float,
                  *, padding: tuple[float, float], header: bool, borders: bool) -> None:
        x = self.geometry.left
        for cell, width in zip(cells, widths, strict=True):
            if header and borders:
                self.document.rectangle(self.page, x, self.y, width, height, fill=HEADER)
            if borders:
                self.document.rectangle(self.page, x, self.y, width, height, stroke=BORDER,
                                        line_width=RULE)
            self.draw(cell, x + padding[1], self.y + padding[0])
            x += width
        self.y += height


def page_number(document: Document, page: Page, geometry: Geometry, text: str,
                style: Style) -> float:
    """`text` ("Page x of y") at the right of the page's bottom margin, in the middle of its
    height (a CSS @bottom-right box); its width."""
    ((_, baseline, line),) = place([plain(text, style)], geometry.width,
                                   geometry.line_height).lines
    middle = geometry.bottom + geometry.margins[2] / 2
    document.text(page, geometry.size[0] - geometry.margins[1] - line.width,
                  middle - geometry.line_height * style.size / 2 + baseline, line)
    return line.width


def page_numbers(document: Document, geometry: Geometry, size: float,
                 total: int | None = None) -> None:
    """"Page x of y" on every page (`total`: y, if not the document's own page count)."""
    count = len(document.pages) if total is None else total
    for number, page in enumerate(document.pages, start=1):
        page_number(document, page, geometry, f"Page {number} of {count}", Style("sans", size))


def banners(document: Document, geometry: Geometry, text: str, size: float) -> None:
    """The classification across the top of every page: a red band filling the top margin
    between the side margins, the text in white bold centred on it (a CSS @top-center box
    with a background, as the stamps and the WeasyPrint pages had it)."""
    style = Style("bold", size, WHITE)
    left, right = geometry.margins[3], geometry.size[0] - geometry.margins[1]
    placed = place([text_block(text, style)], right - left, geometry.line_height)
    top = (geometry.top - placed.height) / 2
    for page in document.pages:
        document.rectangle(page, left, 0.0, right - left, geometry.top, fill=BANNER)
        for _, baseline, line in placed.lines:
            document.text(page, left + (right - left - line.width) / 2, top + baseline, line)


def label_width(labels: Sequence[str], style: Style, gap: float) -> float:
    """The width of a column of labels set on one line each (`white-space: nowrap`, a table
    that takes its content's width), with `gap` pt after the widest."""
    return max(line.width for label in labels
               for line in lay_out((Piece(label, style),), NOWRAP)) + gap
