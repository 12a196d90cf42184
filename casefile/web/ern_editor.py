"""The ERN pattern editor of the new-case form: the pattern in words and an example, computed
here from logic/cases/ern.py (the server is authoritative) and again in the browser as the
person types (static/ern.js), from the same rules and the same words."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import ngettext

from casefile.logic.cases import ern

MAX_DIGITS = 9
SEPARATORS = ("-", "/", ".", "_")


@dataclass(frozen=True)
class ErnEditor:
    pattern: str
    year: int
    example: str | None
    words: str | None
    grammar: str
    names_json: str  # field -> [its name in words for 0..9 digits], for static/ern.js


def field_words(name: str, digits: int) -> str:
    noun = str({"seq": _("item number"), "batch": _("batch number"), "year": _("year")}[name])
    if not digits:
        return noun
    return str(ngettext("%(name)s, %(num)d digit", "%(name)s, %(num)d digits", digits, name=noun))


def in_words(pattern: str) -> str | None:
    """``MMR-{seq:04d}`` as ``MMR-[item number, 4 digits]``; None if the pattern is unusable."""
    if ern.pattern_problem(pattern) is not None:
        return None
    return "".join(
        literal + (f"[{field_words(name, digits)}]" if name else "")
        for literal, name, digits in ern.parts(pattern)
    )


def ern_editor(pattern: str | None) -> ErnEditor:
    pattern = (pattern or "").strip()
    year = dt.datetime.now(dt.UTC).year  # registration uses the year an item arrives
    names = {
        name: [field_words(name, digits) for digits in range(MAX_DIGITS + 1)]
        for name in sorted(ern.FIELDS)
    }
    return ErnEditor(
        pattern=pattern,
        year=year,
        example=ern.example(pattern, year=year),
        words=in_words(pattern),
        grammar=ern.GRAMMAR,
        names_json=json.dumps(names, ensure_ascii=False),
    )
