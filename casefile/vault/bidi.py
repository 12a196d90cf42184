"""Bidirectional-text controls in user text (titles, file names): a right-to-left override
can make `evil<U+202E>fdp.exe` show as `evilexe.pdf`. Such text is flagged at intake, shown isolated
(`<bdi>`) everywhere, and, where it is flagged, with each control made visible."""

from __future__ import annotations

CONTROLS = frozenset(
    {
        "\u061c",  # ARABIC LETTER MARK
        "\u200e",  # LEFT-TO-RIGHT MARK
        "\u200f",  # RIGHT-TO-LEFT MARK
        *map(chr, range(0x202A, 0x202F)),  # LRE, RLE, PDF, LRO, RLO
        *map(chr, range(0x2066, 0x206A)),  # LRI, RLI, FSI, PDI
    }
)


def has_controls(text: str | None) -> bool:
    return bool(text) and any(character in CONTROLS for character in text or "")


def reveal(text: str | None) -> str:
    """The text with each bidi control replaced by its code point, e.g. ⟨U+202E⟩."""
    return "".join(
        f"\u27e8U+{ord(character):04X}\u27e9" if character in CONTROLS else character
        for character in text or ""
    )
