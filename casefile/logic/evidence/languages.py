"""An item's language as a BCP 47 tag (RFC 5646: "en", "fr-CA", "my", "rhg", "zh-Hant-TW"):
what the filing warnings compare (`Evidence.language`). The tag is checked for its form
(language, script, region, variants), not against the registry; the language subtag is kept
lower case, the script title case and the region upper case, as the RFC recommends."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

MAX_LENGTH = 35  # the column's width; RFC 5646 asks implementations to keep 35 at least
TAG = re.compile(
    r"^(?P<language>[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?"
    r"(?P<rest>(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-x(?:-[A-Za-z0-9]{1,8})+)?)$"
)


def normalise(value: str | None) -> str | None:
    """The tag in its recommended case, None if blank; ValueError if not a BCP 47 tag."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace("_", "-")
    match = TAG.match(text) if len(text) <= MAX_LENGTH else None
    if match is None:
        raise ValueError(f"{value!r} is not a BCP 47 language tag (e.g. en, fr, my, fr-CA)")
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts) + match["rest"].lower()


def tag_or_none(value: str | None) -> str | None:
    """The tag if `value` is one, else None (a collector's free text, "Burmese")."""
    try:
        return normalise(value)
    except ValueError:
        return None


def _checked(value: str) -> str:
    tag = normalise(value)
    if tag is None:
        raise ValueError("a language is required")
    return tag


LanguageTag = Annotated[
    str, StringConstraints(min_length=2, max_length=MAX_LENGTH), AfterValidator(_checked)
]
