"""A tag's name as stored, and the key that makes names of one case unique: NFC-normalised,
trimmed, runs of blanks made one space; the key is the name case-folded (and NFC again, as
case folding can undo it), so "Arson", "ARSON" and "arson " are one tag."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from casefile.model.tag import NAME_MAX
from casefile.vault import bidi

# Sent text may be longer than the name kept (blanks around it, decomposed characters).
SENT_MAX = 4 * NAME_MAX


def normalise(text: str) -> str:
    """The name as kept: NFC, blanks collapsed, trimmed. Raises ValueError if it is empty,
    too long, or holds control or bidirectional formatting characters."""
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if not name:
        raise ValueError("a tag needs a name")
    if len(name) > NAME_MAX:
        raise ValueError(f"at most {NAME_MAX} characters")
    if any(unicodedata.category(char) == "Cc" for char in name) or bidi.has_controls(name):
        raise ValueError("must not contain control or bidirectional formatting characters")
    return name


def key(name: str) -> str:
    """Two names with the same key are the same tag of a case."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


TagName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=SENT_MAX),
    AfterValidator(normalise),
]
