"""Framework files: the shipped ones, the validator's refusals (each naming its line), and
versions loaded into the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import textwrap

import pytest
from sqlalchemy import func, select

from casefile.logic.errors import Conflict, Forbidden
from casefile.logic.frameworks import charges, registry
from casefile.logic.frameworks.charges import ChargeInput
from casefile.logic.frameworks.document import FrameworkFileError, parse
from casefile.model import LoadedFramework
from casefile.settings import PROJECT_ROOT
from tests.factories import make_case, make_user

VSTGB = PROJECT_ROOT / "docs" / "examples" / "vstgb.yaml"

GOOD = textwrap.dedent(
    """\
    format: 1
    id: example-code
    version: 1
    title: Example Criminal Code
    jurisdiction: Example courts
    language: en
    source: Example Criminal Code 2020; our own words.
    parts:
      - {id: "10", title: "Article 10"}
    contexts:
      - id: humanity
        title: Shared
        elements:
          - {id: H1, kind: contextual, text: "Part of an attack.", cites: "art. 10(1)"}
    crimes:
      - id: 10(1)(d)
        part: "10"
        title: Deportation
        cites: art. 10(1)(d)
        context: humanity
        elements:
          - id: "1"
            kind: conduct
            text: Forced people to leave the country.
            cites: art. 10(1)(d)
          - id: "2"
            kind: mental
            text: Meant to.
            cites: art. 10(1)(d)
    """
)


def lines_of(text: str, needle: str) -> int:
    """The line (from 1) of the first line of `text` holding `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def refusal(text: str) -> FrameworkFileError:
    with pytest.raises(FrameworkFileError) as caught:
        parse(text)
    return caught.value


# --- the shipped frameworks -------------------------------------------------------------------


def _ids(prefix: str, numerals: list[str]) -> set[str]:
    return {f"{prefix}({n})" for n in numerals}


ROMAN = [
    "i",
    "ii",
    "iii",
    "iv",
    "v",
    "vi",
    "vii",
    "viii",
    "ix",
    "x",
    "xi",
    "xii",
    "xiii",
    "xiv",
    "xv",
    "xvi",
    "xvii",
    "xviii",
    "xix",
    "xx",
    "xxi",
    "xxii",
    "xxiii",
    "xxiv",
    "xxv",
    "xxvi",
]


def test_the_rome_statute_has_every_crime_and_mode_of_liability_asked_for() -> None:
    rome = registry.packaged()[("rome-statute", 1)]
    ids = {crime.id for crime in rome.crimes}
    expected = (
        _ids("6", list("abcde"))
        | _ids("7(1)", list("abcdefghijk"))
        | _ids("8(2)(a)", ROMAN[:8])
        | _ids("8(2)(b)", ROMAN[:26])
        | _ids("8(2)(c)", ROMAN[:4])
        | _ids("8(2)(e)", ROMAN[:15])
        | _ids("25(3)", list("abcdef"))
        | _ids("28", list("ab"))
    )
    assert ids == expected
    assert rome.crime("8(2)(b)(xxii)") is not None
    for crime in rome.crimes:
        assert crime.elements, crime.id
        for element in crime.elements:
            assert element.cites and element.text, (crime.id, element.id)
    deportation = rome.crime("7(1)(d)")
    assert deportation is not None
    kinds = [e.kind for e in deportation.elements]
    assert "contextual" in kinds and "mental" in kinds  # the chapeau's attack and knowledge
    assert [e.id for e in deportation.elements][:2] == ["H1", "H2"]
    assert all("EoC" in e.cites for e in deportation.elements[2:])
    genocide = rome.crime("6(c)")
    assert genocide is not None
    assert any("destroy" in e.text and e.kind == "mental" for e in genocide.elements)
    assert {c.kind for c in rome.crimes if c.id.startswith(("25", "28"))} == {"liability"}


def test_the_genocide_convention_has_articles_ii_and_iii_with_the_specific_intent() -> None:
    convention = registry.packaged()[("genocide-convention", 1)]
    ids = {crime.id for crime in convention.crimes}
    assert ids == _ids("II", list("abcde")) | _ids("III", list("abcde"))
    killing = convention.crime("II(a)")
    assert killing is not None
    intent = [e for e in killing.elements if e.kind == "mental"]
    assert intent and "specific intent" in intent[0].text.lower()
    grouped = {part.id: [c.id for c in crimes] for part, crimes in convention.grouped()}
    assert grouped["III"][0] == "III(a)"


def test_the_vstgb_example_is_a_valid_national_code() -> None:
    vstgb = parse(VSTGB.read_bytes())
    assert vstgb.id == "de-vstgb"
    assert vstgb.crime("§ 7(1) Nr. 4") is not None
    assert {part.id for part in vstgb.parts} == {f"§ {n}" for n in range(6, 13)}


# --- refusals, with the line that is wrong -------------------------------------------------------


def test_a_good_file_is_read() -> None:
    framework = parse(GOOD)
    [crime] = framework.crimes
    assert [e.id for e in crime.elements] == ["H1", "1", "2"]
    assert len(framework.sha256) == 64


def test_a_missing_element_id_is_refused_with_its_line() -> None:
    text = GOOD.replace('      - id: "1"\n        kind: conduct', "      - kind: conduct")
    error = refusal(text)
    assert error.line == lines_of(text, "kind: conduct")
    assert "the field 'id' is missing" in error.message
    assert error.message.startswith(f"line {error.line}: ")


def test_a_duplicate_element_id_is_refused_with_its_line() -> None:
    text = GOOD.replace('      - id: "2"', '      - id: "1"')
    error = refusal(text)
    assert error.line == lines_of(text, "kind: mental") - 1
    assert "duplicate element" in error.message and "'1'" in error.message
    first = lines_of(text, 'id: "1"')
    assert f"first on line {first}" in error.message


def test_an_element_id_repeating_its_contexts_is_refused() -> None:
    text = GOOD.replace('      - id: "2"', "      - id: H1")
    error = refusal(text)
    assert error.line == lines_of(text, "- id: H1")
    assert "duplicate element" in error.message


def test_an_unknown_field_is_refused_with_its_line() -> None:
    text = GOOD.replace("        text: Meant to.", "        txt: Meant to.")
    error = refusal(text)
    assert error.line == lines_of(text, "txt: Meant to.")
    assert "unknown field 'txt'" in error.message
    top = refusal(GOOD + "authour: me\n")
    assert top.line == len(GOOD.splitlines()) + 1
    assert "unknown field 'authour'" in top.message


def test_a_wrong_type_is_refused_with_its_line() -> None:
    text = GOOD.replace("version: 1", "version: one")
    error = refusal(text)
    assert error.line == 3
    assert "whole number" in error.message
    text = GOOD.replace("        text: Meant to.", "        text: [Meant, to]")
    assert refusal(text).line == lines_of(text, "text: [Meant")


def test_a_duplicate_crime_id_and_an_unknown_context_or_part_are_refused() -> None:
    second = GOOD + textwrap.indent(GOOD.split("crimes:\n")[1], "")
    assert refusal(second).line == len(GOOD.splitlines()) + 1
    assert "duplicate crime" in refusal(second).message
    unknown = GOOD.replace("context: humanity", "context: humanty")
    assert refusal(unknown).line == lines_of(unknown, "- id: 10(1)(d)")
    assert "no context has id 'humanty'" in refusal(unknown).message
    wrong_part = GOOD.replace('    part: "10"', '    part: "11"')
    assert "no part has id '11'" in refusal(wrong_part).message


def test_a_yaml_syntax_error_names_its_line() -> None:
    text = GOOD.replace("title: Deportation", "title: [Deportation")
    error = refusal(text)
    assert error.line is not None and error.line >= lines_of(text, "title: [Deportation")
    assert "not valid YAML" in error.message


def test_anchors_and_aliases_are_refused_where_the_alias_is() -> None:
    bomb = GOOD.replace("source: Example", "source: &s Example") + "crimes2: *s\n"
    error = refusal(bomb)
    assert error.line == len(GOOD.splitlines()) + 1
    assert "aliases" in error.message


def test_deep_nesting_is_refused_with_its_line_not_a_recursion_error() -> None:
    for opening in ("[", "{a: ", "- "):
        deep = GOOD + "extra:\n  " + opening * 100_000 + "\n"
        error = refusal(deep)
        assert "nested more than" in error.message, opening
        assert error.line == len(GOOD.splitlines()) + 2
    nested_within = GOOD + "extra: " + "[" * 30 + "]" * 30 + "\n"  # deep, within the limit
    assert "nested more than" not in refusal(nested_within).message


def test_an_empty_file_and_a_wrong_format_are_refused() -> None:
    assert refusal("").line == 1
    assert "format 1" in refusal(GOOD.replace("format: 1", "format: 2")).message
    assert refusal(b"\xff\xfe").message.endswith("not UTF-8 text")


# --- versions in the database --------------------------------------------------------------------


def test_an_administrator_loads_versions_and_old_ones_are_kept(session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    lead = make_user(session, "lead@example.org")
    first = registry.load(session, admin, GOOD)
    assert (first.id, first.version) == ("example-code", 1)

    with pytest.raises(Conflict, match="already has version 1"):
        registry.load(session, admin, GOOD)
    with pytest.raises(Forbidden):
        registry.load(session, lead, GOOD.replace("version: 1", "version: 2"))

    case = make_case(session, lead)
    charge = charges.add_charge(
        session, lead, case.id, ChargeInput(framework="example-code", crime="10(1)(d)")
    )
    assert charge.framework_version == 1

    second_text = GOOD.replace("version: 1", "version: 2").replace("Meant to.", "Intended it.")
    registry.load(session, None, second_text)  # the operator on the command line
    listed = [(i.id, i.version, i.origin) for i in registry.versions(session)]
    assert ("example-code", 1, "loaded") in listed and ("example-code", 2, "loaded") in listed
    assert ("rome-statute", 1, "package") in listed
    assert registry.get(session, "example-code").version == 2
    # the charge keeps the version it was made under, and its wording
    framework, crime = charges.described(session, charge)
    assert framework.version == 1
    assert crime.elements[-1].text == "Meant to."
    count = session.scalar(select(func.count()).select_from(LoadedFramework))
    assert count == 2


def test_a_refused_file_stores_nothing(session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    with pytest.raises(FrameworkFileError, match=re.escape("line 3:")):
        registry.load(session, admin, GOOD.replace("version: 1", "version: x"))
    assert session.scalar(select(func.count()).select_from(LoadedFramework)) == 0


def test_a_shipped_version_cannot_be_loaded_again(session) -> None:
    text = (registry.PACKAGE_FOLDER / "genocide-convention.v1.yaml").read_text()
    with pytest.raises(Conflict):
        registry.load(session, None, text)
    newer = registry.load(session, None, text.replace("version: 1", "version: 2", 1))
    assert newer.version == 2
    assert registry.get(session, "genocide-convention", 1).version == 1
