"""The excerpt shown with a result, and where the query's words are in it: plain text and
offsets (code points), never markup, so every surface escapes the text before it marks the
matches (the web page wraps them in <mark>; the API returns the offsets)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from casefile.logic.search import burmese, terms

WIDTH = 220  # characters of excerpt
BEFORE = 60  # of them, before the first match


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...]  # [start, end) in `text`

    def pieces(self) -> list[tuple[str, bool]]:
        """The text cut into runs, each marked whether it is a match (for templates)."""
        found: list[tuple[str, bool]] = []
        at = 0
        for start, end in self.highlights:
            if start > at:
                found.append((self.text[at:start], False))
            found.append((self.text[start:end], True))
            at = end
        if at < len(self.text):
            found.append((self.text[at:], False))
        return found


def _folded(text: str) -> tuple[str, list[int]]:
    """The text NFC-normalised and case-folded, and for each folded character the index of
    the character of the normalised text it came from (folding may lengthen: ß → ss)."""
    normal = burmese.normalise(text)
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(normal):
        piece = char.casefold()
        folded.append(piece)
        origin.extend([index] * len(piece))
    return "".join(folded), origin


def _pattern(words: list[str]) -> re.Pattern[str] | None:
    alternatives = []
    for word in sorted(set(words), key=len, reverse=True):
        escaped = re.escape(word)
        # A word of ASCII letters is found whole ("fire" is not in "firearm"); Burmese,
        # written without spaces, anywhere.
        alternatives.append(rf"\b{escaped}\b" if word.isascii() else escaped)
    return re.compile("|".join(alternatives)) if alternatives else None


def make(parts: list[str], query: str) -> Snippet:
    """An excerpt of the first part holding a word of the query, around its first match,
    with every match in it; without a match, the start of the first part."""
    pattern = _pattern(list(terms.words(query)))
    for part in parts:
        if pattern is None:
            break
        folded, origin = _folded(part)
        spans = [
            (origin[match.start()], origin[match.end() - 1] + 1)
            for match in pattern.finditer(folded)
        ]
        if spans:
            return _excerpt(burmese.normalise(part), spans)
    first = parts[0] if parts else ""
    return Snippet(_squash(first)[:WIDTH], ())


def _squash(text: str) -> str:
    return " ".join(text.split())


def _excerpt(text: str, spans: list[tuple[int, int]]) -> Snippet:
    start = max(0, spans[0][0] - BEFORE)
    end = min(len(text), start + WIDTH)
    if start > 0:  # begin at a word if one starts near
        space = text.find(" ", start, spans[0][0])
        if space != -1:
            start = space + 1
    window = text[start:end]
    inside = [(a - start, min(b, end) - start) for a, b in spans if a >= start and a < end]
    # Whitespace runs (line breaks in extracted text) become one space; `position[i]` is
    # where window[i] ends up (a dropped space: where the space it joined is).
    squashed: list[str] = []
    position: list[int] = []
    for char in window:
        if char.isspace() and squashed and squashed[-1] == " ":
            position.append(len(squashed) - 1)
            continue
        position.append(len(squashed))
        squashed.append(" " if char.isspace() else char)
    highlights = tuple((position[a], position[b - 1] + 1) for a, b in inside if b > a)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix)
    return Snippet(
        prefix + "".join(squashed) + suffix,
        tuple((a + shift, b + shift) for a, b in highlights),
    )
