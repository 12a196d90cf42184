"""Text rules shared by every input model: what PostgreSQL and SQLite both can store, and
limits that mean the same in the OpenAPI document as on the server.

Lengths count the text as sent; the kept value is stripped. "Visible" text needs at least one
character that is not blank (three for a reason). The patterns spell out Python's whitespace
(str.isspace, which str.strip removes) instead of \\s, whose meaning differs between regex
engines, so a client that validates against the document agrees with the server.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

_BLANK = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ANY = r"[^\x00]*"
_SEEN = rf"[^\x00{_BLANK}]"
NO_NUL = rf"^{_ANY}$"
VISIBLE = rf"^{_ANY}{_SEEN}{_ANY}$"
VISIBLE_3 = rf"^{_ANY}{_SEEN}[^\x00]+{_SEEN}{_ANY}$"  # three or more once stripped


def refuse_nul(value: Any) -> Any:
    """NUL characters have no place in names or notes, and PostgreSQL refuses them."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, list):
        for element in value:
            refuse_nul(element)
    return value


def _strip(value: str) -> str:
    return value.strip()


Stripped = AfterValidator(_strip)
# The shapes the input models use (max lengths vary; these are the common ones).
Name = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=VISIBLE), Stripped]
Line = Annotated[str, StringConstraints(max_length=300, pattern=NO_NUL), Stripped]
Short = Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL), Stripped]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL), Stripped]
Explanation = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=VISIBLE), Stripped
]
Reason = Annotated[
    str, StringConstraints(min_length=3, max_length=2000, pattern=VISIBLE_3), Stripped
]
LongText = Annotated[str, StringConstraints(max_length=20000, pattern=NO_NUL)]
