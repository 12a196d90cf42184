"""A legal framework file: read, validated, refused with the line that is wrong.

The format is YAML (docs/frameworks.md). It is parsed with PyYAML's safe composer, which keeps
the position of every node, so that each refusal names its line: a missing or duplicate id, an
unknown field, a value of the wrong type. TOML's standard parser (tomllib) gives a line only
for syntax errors, not for a valid file whose content is wrong. Anchors and aliases are
refused (a file of a few kilobytes could otherwise expand into gigabytes), and so are YAML
tags and any file over 2 MB.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casefile.logic.errors import DomainError

FORMAT = 1
MAX_BYTES = 2 * 1024 * 1024
ELEMENT_KINDS = ("contextual", "conduct", "consequence", "circumstance", "mental")
# Crime and element ids as lawyers write them: 6(a), 7(1)(d), 8(2)(b)(xxii), II(c), § 7(1) Nr. 4.
ID_PATTERN = re.compile(r"^[\w§.()\- ]{1,40}$")
FRAMEWORK_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,59}$")
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"


class FrameworkFileError(DomainError):
    """A framework file that cannot be loaded; `line` is the line (from 1) that is wrong."""

    def __init__(self, line: int | None, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"line {line}: {problem}" if line else problem)


@dataclass(frozen=True)
class Element:
    id: str
    kind: str
    text: str
    cites: str


@dataclass(frozen=True)
class Context:
    id: str
    title: str
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class Crime:
    """A crime, or (kind "liability") a mode of liability; `elements` include its context's."""

    id: str
    kind: str  # "crime" or "liability"
    part: str
    title: str
    cites: str
    elements: tuple[Element, ...]

    def element(self, element_id: str) -> Element | None:
        return next((e for e in self.elements if e.id == element_id), None)


@dataclass(frozen=True)
class Part:
    id: str
    title: str


@dataclass(frozen=True)
class Framework:
    id: str
    version: int
    title: str
    jurisdiction: str
    language: str
    source: str
    parts: tuple[Part, ...]
    crimes: tuple[Crime, ...]
    sha256: str = ""
    text: str = field(default="", repr=False)

    def crime(self, crime_id: str) -> Crime | None:
        return self._index().get(crime_id)

    def _index(self) -> dict[str, Crime]:
        index: dict[str, Crime] | None = self.__dict__.get("_crimes")
        if index is None:
            index = {crime.id: crime for crime in self.crimes}
            object.__setattr__(self, "_crimes", index)
        return index

    def grouped(self) -> list[tuple[Part, list[Crime]]]:
        """Crimes and modes of liability under their parts (articles), in the file's order."""
        return [(part, [c for c in self.crimes if c.part == part.id]) for part in self.parts]


# --- reading ----------------------------------------------------------------------------------


def parse(text: str | bytes) -> Framework:
    """The framework the file describes, or FrameworkFileError naming the wrong line."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_BYTES:
        raise FrameworkFileError(None, f"the file is larger than {MAX_BYTES // 1024 // 1024} MB")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FrameworkFileError(line, "the file is not UTF-8 text") from None
    source = unicodedata.normalize("NFC", source)
    try:
        root = _compose(source)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = mark.line + 1 if mark else None
        raise FrameworkFileError(where, f"not valid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise FrameworkFileError(None, f"not valid YAML: {error}") from None
    if root is None:
        raise FrameworkFileError(1, "the file is empty")
    framework = _framework(root)
    digest = hashlib.sha256(raw).hexdigest()
    return Framework(**{**framework.__dict__, "sha256": digest, "text": source})


# Far deeper than any framework file (a handful of levels), far below the recursion limit.
MAX_DEPTH = 64


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Loader(yaml.SafeLoader):
    """The safe composer, refusing aliases where they are written: a file of a few kilobytes
    could otherwise expand into gigabytes of nodes."""

    depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise FrameworkFileError(mark.line + 1, "anchors and aliases (& and *) are not allowed")
        if self.depth >= MAX_DEPTH:  # the composer recurses: refused before Python's limit
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise FrameworkFileError(
                mark.line + 1, f"nested more than {MAX_DEPTH} levels deep"
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _compose(source: str) -> Node | None:
    loader = _Loader(source)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


Reader = Callable[[Node, str], Any]


def _mapping(node: Node, what: str, fields: dict[str, tuple[bool, Reader]]) -> dict[str, Any]:
    """A mapping's fields, each read by its reader; `fields` maps a name to (required, reader)."""
    if not isinstance(node, MappingNode):
        raise FrameworkFileError(_line(node), f"{what} must be a mapping of fields")
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or key.tag != _STR:
            raise FrameworkFileError(_line(key), f"{what}: a field name must be text")
        name = key.value
        if name not in fields:
            known = ", ".join(fields)
            raise FrameworkFileError(
                _line(key), f"{what}: unknown field '{name}' (the fields are: {known})"
            )
        if name in lines:
            raise FrameworkFileError(
                _line(key), f"{what}: field '{name}' appears twice (first on line {lines[name]})"
            )
        lines[name] = _line(key)
        values[name] = fields[name][1](value, f"{what}, field '{name}'")
    for name, (required, _) in fields.items():
        if required and name not in values:
            raise FrameworkFileError(_line(node), f"{what}: the field '{name}' is missing")
    return values


def _text(limit: int) -> Reader:
    def read(node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR:
            raise FrameworkFileError(_line(node), f"{what} must be text (put it in quotes)")
        value = " ".join(str(node.value).split())
        if not value:
            raise FrameworkFileError(_line(node), f"{what} is empty")
        if len(value) > limit:
            raise FrameworkFileError(_line(node), f"{what} is longer than {limit} characters")
        return value

    return read


def _identifier(pattern: re.Pattern[str], example: str) -> Reader:
    def read(node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT):
            raise FrameworkFileError(_line(node), f"{what} must be text, e.g. '{example}'")
        if not pattern.fullmatch(node.value):
            raise FrameworkFileError(
                _line(node), f"{what}: '{node.value}' is not an id like '{example}'"
            )
        return str(node.value)

    return read


def _version(node: Node, what: str) -> int:
    if not isinstance(node, ScalarNode) or node.tag != _INT or not node.value.isdigit():
        raise FrameworkFileError(_line(node), f"{what} must be a whole number, e.g. 1")
    value = int(node.value)
    if not 1 <= value <= 1_000_000:
        raise FrameworkFileError(_line(node), f"{what} must be between 1 and 1000000")
    return value


def _format(node: Node, what: str) -> int:
    value = _version(node, what)
    if value != FORMAT:
        raise FrameworkFileError(_line(node), f"{what}: this Casefile reads format {FORMAT}")
    return value


def _kind(node: Node, what: str) -> str:
    value: str = _text(20)(node, what)
    if value not in ELEMENT_KINDS:
        raise FrameworkFileError(
            _line(node), f"{what}: '{value}' is not one of {', '.join(ELEMENT_KINDS)}"
        )
    return value


def _list(item: Reader, *, allow_empty: bool = False) -> Reader:
    def read(node: Node, what: str) -> list[tuple[int, Any]]:
        if not isinstance(node, SequenceNode):
            raise FrameworkFileError(_line(node), f"{what} must be a list (lines starting '- ')")
        if not node.value and not allow_empty:
            raise FrameworkFileError(_line(node), f"{what} is an empty list")
        return [
            (_line(entry), item(entry, f"{what}, entry {n}"))
            for n, entry in enumerate(node.value, start=1)
        ]

    return read


_ELEMENT_ID = _identifier(ID_PATTERN, "1")


def _element(node: Node, what: str) -> Element:
    values = _mapping(
        node,
        what,
        {
            "id": (True, _ELEMENT_ID),
            "kind": (True, _kind),
            "text": (True, _text(2000)),
            "cites": (True, _text(300)),
        },
    )
    return Element(values["id"], values["kind"], values["text"], values["cites"])


_ELEMENTS = _list(_element)
_CRIME_ID = _identifier(ID_PATTERN, "7(1)(d)")


def _unique(entries: list[tuple[int, Any]], what: str, seen: dict[str, int] | None = None) -> None:
    seen = {} if seen is None else seen
    for line, entry in entries:
        if entry.id in seen:
            raise FrameworkFileError(
                line, f"duplicate {what} id '{entry.id}' (first on line {seen[entry.id]})"
            )
        seen[entry.id] = line


def _with_ids(fields: dict[str, tuple[bool, Reader]]) -> Reader:
    """A mapping whose missing id is named as such (the commonest mistake)."""

    def read(node: Node, what: str) -> dict[str, Any]:
        return _mapping(node, what, fields)

    return read


def _framework(root: Node) -> Framework:
    part = _with_ids({"id": (True, _CRIME_ID), "title": (True, _text(300))})
    context = _with_ids(
        {"id": (True, _CRIME_ID), "title": (True, _text(300)), "elements": (True, _ELEMENTS)}
    )
    crime = _with_ids(
        {
            "id": (True, _CRIME_ID),
            "part": (True, _CRIME_ID),
            "title": (True, _text(300)),
            "cites": (True, _text(300)),
            "context": (False, _CRIME_ID),
            "elements": (True, _ELEMENTS),
        }
    )
    values = _mapping(
        root,
        "the framework",
        {
            "format": (True, _format),
            "id": (True, _identifier(FRAMEWORK_ID_PATTERN, "rome-statute")),
            "version": (True, _version),
            "title": (True, _text(300)),
            "jurisdiction": (True, _text(100)),
            "language": (True, _identifier(re.compile(r"^[a-z]{2,3}$"), "en")),
            "source": (True, _text(1000)),
            "parts": (True, _list(part)),
            "contexts": (False, _list(context, allow_empty=True)),
            "crimes": (True, _list(crime)),
            "liability": (False, _list(crime, allow_empty=True)),
        },
    )
    parts = [(line, Part(v["id"], v["title"])) for line, v in values["parts"]]
    _unique(parts, "part")
    part_ids = {p.id for _, p in parts}

    contexts: dict[str, Context] = {}
    context_lines: dict[str, int] = {}
    for line, v in values.get("contexts", []):
        if v["id"] in contexts:
            raise FrameworkFileError(
                line, f"duplicate context id '{v['id']}' (first on line {context_lines[v['id']]})"
            )
        _unique(v["elements"], f"element (in context '{v['id']}')")
        context_lines[v["id"]] = line
        contexts[v["id"]] = Context(v["id"], v["title"], tuple(e for _, e in v["elements"]))

    crimes: list[Crime] = []
    crime_lines: dict[str, int] = {}
    for kind, entries in (("crime", values["crimes"]), ("liability", values.get("liability", []))):
        for line, v in entries:
            if v["id"] in crime_lines:
                raise FrameworkFileError(
                    line,
                    f"duplicate crime or mode of liability id '{v['id']}' "
                    f"(first on line {crime_lines[v['id']]})",
                )
            crime_lines[v["id"]] = line
            if v["part"] not in part_ids:
                raise FrameworkFileError(line, f"{kind} '{v['id']}': no part has id '{v['part']}'")
            own: list[tuple[int, Element]] = v["elements"]
            shared: tuple[Element, ...] = ()
            if "context" in v:
                if v["context"] not in contexts:
                    raise FrameworkFileError(
                        line, f"{kind} '{v['id']}': no context has id '{v['context']}'"
                    )
                shared = contexts[v["context"]].elements
            seen = {e.id: context_lines[v["context"]] for e in shared} if shared else {}
            _unique(own, f"element (in '{v['id']}')", seen)
            crimes.append(
                Crime(
                    id=v["id"],
                    kind=kind,
                    part=v["part"],
                    title=v["title"],
                    cites=v["cites"],
                    elements=shared + tuple(e for _, e in own),
                )
            )
    return Framework(
        id=values["id"],
        version=values["version"],
        title=values["title"],
        jurisdiction=values["jurisdiction"],
        language=values["language"],
        source=values["source"],
        parts=tuple(p for _, p in parts),
        crimes=tuple(crimes),
    )
