"""A tag's name as stored, and the key that makes names of one case unique: NFC-normalised,
trimmed, runs of blanks made one space; the key is the name case-folded (and NFC again, as
case folding can undo it), so "Arson", "ARSON" and "arson " are one tag."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints
from sqlalchemy import ColumnElement, or_

from casefile.model.tag import NAME_MAX, Tag
from casefile.vault import bidi

SENT_MAX = NAME_MAX  # characters as sent (blanks around it and decomposed letters count)
# Control characters (Unicode Cc) and bidirectional formatting characters (vault.bidi) are
# refused; a name needs one character that is neither one of those nor blank.
_REFUSED = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_BLANK = r" \u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\xa0"
PATTERN = rf"^[^{_REFUSED}]*[^{_REFUSED}{_BLANK}][^{_REFUSED}]*$"


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


def _readable(value: object) -> object:
    """The pattern's refusal in words (pydantic's would quote the pattern)."""
    if isinstance(value, str) and len(value) <= SENT_MAX and not re.fullmatch(PATTERN, value):
        raise ValueError(
            "a tag needs a name with a visible character, and without control or "
            "bidirectional formatting characters"
        )
    return value


TagName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=SENT_MAX, pattern=PATTERN),
    BeforeValidator(_readable),
    AfterValidator(normalise),
]


# A tag made apart from a free tag of the same name carried only by items hidden from its
# maker has the key `<name key>APART<its id>` (logic/tags/vocabulary.py; names hold no line
# break, so no name's key starts so).
APART = "\n"


def of_name(name: str) -> ColumnElement[bool]:
    """Tags of this name, whether made apart or not: what every tag filter matches."""
    key_ = key(name)
    return or_(Tag.key == key_, Tag.key.startswith(key_ + APART, autoescape=True))
