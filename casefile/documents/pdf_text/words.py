"""Where user text may break, as the reports lay it out: at spaces (ICU's opportunities), and
in an e-mail address before its @ and after its dots, never inside a name, a domain label or
an identifier (a run without spaces holding a digit and a hyphen: an ERN, a seal number, a
date, a court reference). `pieces` gives those rules to the PDF writer (lines.py);
custody_report_pdf.breakable gives them to the web pages as HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator

from casefile.documents.pdf_text.lines import Piece, Style

EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# An identifier: a run without spaces holding a digit and a hyphen (an ERN, a seal number, a
# date, a court reference), set on one line.
_PART = r"[^\s@()<>\"'“”,;]"
IDENTIFIER = re.compile(f"{_PART}*(?:\\d{_PART}*-|-{_PART}*\\d){_PART}*")
TOKENS = re.compile(f"{EMAIL.pattern}|{IDENTIFIER.pattern}")


def tokens(text: str, *, emails: bool = True) -> Iterator[tuple[str, bool]]:
    """The text as (part, whether it is a token: an identifier or an e-mail address)."""
    last = 0
    for match in (TOKENS if emails else IDENTIFIER).finditer(text):
        yield text[last : match.start()], False
        yield match.group(0), True
        last = match.end()
    yield text[last:], False


def email_parts(token: str) -> list[str]:
    """An e-mail address cut where a line may break: before its @ and after its dots."""
    return [part for part in re.split(r"(?=@)|(?<=\.)", token) if part]


def pieces(text: str, style: Style, *, emails: bool = True) -> list[Piece]:
    """User text as pieces to lay out, white space collapsed: identifiers whole, e-mail
    addresses whole but between their parts (before the @, after a dot)."""
    text = " ".join(text.split())
    found: list[Piece] = []
    for part, token in tokens(text, emails=emails):
        if not part:
            continue
        if not token:
            found.append(Piece(part, style))
        elif "@" in part:
            cut = email_parts(part)
            found += [Piece(each, style, whole=True, wbr=number + 1 < len(cut))
                      for number, each in enumerate(cut)]
        else:
            found.append(Piece(part, style, whole=True))
    return found
