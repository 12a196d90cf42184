"""Evidence Registration Number patterns, e.g. ``MMR-OTP-{batch:04d}-{seq:04d}``."""

from __future__ import annotations

import re
import string

FIELDS = frozenset({"batch", "seq", "year"})
LITERAL = re.compile(r"^[A-Za-z0-9\-_/.]*$")
SPEC = re.compile(r"^0?[1-9]?d$|^$")
DEFAULT_PATTERN = "CF-{seq:06d}"
# What pattern_problem accepts, as one regular expression (for the OpenAPI document).
_LITERAL = r"[A-Za-z0-9_/.\-]"
_FIELD = r"\{(?:seq|batch|year)(?::(?:0?[1-9]?d)?)?\}"
GRAMMAR = rf"^(?:{_LITERAL}|{_FIELD})*\{{seq(?::(?:0?[1-9]?d)?)?\}}(?:{_LITERAL}|{_FIELD})*$"


def pattern_problem(pattern: str) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why `pattern` is unusable, or None. Fields: {seq} (required), {batch}, {year};
    format specs are zero-padded integers such as :04d; literals are letters, digits, - _ / ."""
    if not 1 <= len(pattern) <= 100:
        return "must be 1 to 100 characters"
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as error:
        return f"is not a valid pattern ({error})"
    names: set[str] = set()
    for literal, name, spec, conversion in parts:
        if not LITERAL.fullmatch(literal):
            return "may hold only letters, digits and - _ / . outside {fields}"
        if name is None:
            continue
        if name not in FIELDS:
            return f"unknown field {{{name}}}; use {{seq}}, {{batch}} or {{year}}"
        if conversion or not SPEC.fullmatch(spec or ""):
            return f"field {{{name}}} takes only an integer format such as :04d"
        names.add(name)
    if "seq" not in names:
        return "must contain {seq}"
    return None


def render(pattern: str, *, seq: int, batch: int = 1, year: int = 0) -> str:
    return pattern.format(seq=seq, batch=batch, year=year)


def example(pattern: str, *, year: int) -> str | None:
    """The first item's ERN under `pattern` (batch 1, item 1), as the pattern editor shows it;
    None if the pattern is unusable. static/ern.js computes the same in the browser."""
    if pattern_problem(pattern) is not None:
        return None
    return render(pattern, seq=1, batch=1, year=year)


def parts(pattern: str) -> list[tuple[str, str | None, int]]:
    """A usable pattern as (literal text, field or None, digits) pieces, for describing it in
    words: ``MMR-{seq:04d}`` is ``[("MMR-", "seq", 4)]``; digits is 0 when not zero-padded."""
    pieces: list[tuple[str, str | None, int]] = []
    for literal, name, spec, _ in string.Formatter().parse(pattern):
        digits = int(spec[1:-1]) if spec and spec.startswith("0") and len(spec) > 2 else 0
        pieces.append((literal, name, digits))
    return pieces
