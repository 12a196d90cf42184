"""The Burmese catalogue covers every user-visible string in the source tree.

The messages are extracted afresh from the code and templates (the same way `pybabel extract`
does with babel.cfg), so a string added without a translation fails here rather than showing
up in English to a Burmese-speaking user. Needs neither the app nor a database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
PO_FILE = ROOT / "casefile" / "translations" / "my" / "LC_MESSAGES" / "messages.po"

# The same method map as babel.cfg.
METHOD_MAP = [
    ("casefile/**.py", "python"),
    ("casefile/web/templates/**.html", "jinja2"),
]
# Babel's defaults (_, gettext, ngettext, pgettext, ...) plus Flask-Babel's lazy forms.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}

# %(name)s-style placeholders, %% and any stray % (which would break `string % variables`).
PERCENT_TOKEN = re.compile(r"%\(\w+\)[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%|%")
# str.format fields such as {seq} or {batch:04d}.
BRACE_TOKEN = re.compile(r"\{[^{}]*\}")

Key = tuple[str, str | None]  # (msgid, msgctxt)


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _tokens(text: str) -> set[str]:
    return set(PERCENT_TOKEN.findall(text)) | set(BRACE_TOKEN.findall(text))


@pytest.fixture(scope="module")
def extracted() -> dict[Key, tuple[str, ...]]:
    """Every message in the source tree, keyed by (msgid, context), with where it was found."""
    found: dict[Key, tuple[str, ...]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, METHOD_MAP, keywords=KEYWORDS
    ):
        forms = _forms(message)
        if not forms or not forms[0]:
            continue
        key = (forms[0], context)
        found[key] = (*found.get(key, ()), f"{filename}:{lineno}")
    assert found, "no messages were extracted: is the method map still right?"
    return found


@pytest.fixture(scope="module")
def catalogue() -> Catalog:
    with PO_FILE.open("rb") as handle:
        return read_po(handle, locale="my")


def test_catalogue_header(catalogue):
    assert str(catalogue.locale) == "my"
    assert catalogue.plural_forms == "nplurals=1; plural=0;"
    assert not catalogue.fuzzy


def test_every_message_is_translated(extracted, catalogue):
    missing = []
    for (msgid, context), places in sorted(extracted.items(), key=lambda item: item[0][0]):
        message = catalogue.get(msgid, context=context)
        if message is None:
            state = "not in the catalogue"
        elif message.fuzzy:
            state = "fuzzy"
        elif not all(_forms(message.string)) or not _forms(message.string):
            state = "untranslated"
        else:
            continue
        missing.append(f"{msgid!r} ({state}; {', '.join(places)})")
    assert not missing, (
        f"{len(missing)} message(s) lack a Burmese translation in "
        f"{PO_FILE.relative_to(ROOT)} (see docs/translations.md):\n  " + "\n  ".join(missing)
    )


def test_translations_keep_placeholders(catalogue):
    wrong = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        expected = set().union(*(_tokens(form) for form in _forms(message.id)))
        for translation in _forms(message.string):
            got = _tokens(translation)
            if translation and got != expected:
                wrong.append(
                    f"{_forms(message.id)[0]!r}: expected {sorted(expected)}, got {sorted(got)}"
                )
    assert not wrong, "translations whose placeholders differ from the msgid:\n  " + "\n  ".join(
        wrong
    )


def test_the_template_is_up_to_date(extracted):
    """messages.pot, what `pybabel update` merges into every catalogue, holds exactly the
    strings of the source tree (docs/translations.md, step 1): a stale template would drop
    new strings or keep dead ones the next time a catalogue is updated from it."""
    with (PO_FILE.parents[2] / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    in_template = {(_forms(m.id)[0], m.context) for m in template if m.id}
    missing = sorted(key for key in extracted if key not in in_template)
    dead = sorted(key for key in in_template if key not in extracted)
    assert not missing and not dead, (
        f"messages.pot is stale: {len(missing)} strings missing (e.g. {missing[:3]}), "
        f"{len(dead)} no longer used (e.g. {dead[:3]}); run step 1 of docs/translations.md"
    )

