"""What of a document is indexed: its text parts, from one function per kind, so that a
new source of text (tags) is one line here. A part judged Zawgyi is indexed with its Unicode
conversion beside it.

A new item's text is worked out before it is registered (`intake_text`: Zawgyi detection,
conversion, segmentation into terms), on the thread that examines its bytes (a bulk intake's
worker threads), so the registering transaction only adds the ERN's terms and writes rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from casefile.logic.evidence.metadata import Metadata
from casefile.logic.search import burmese, terms
from casefile.model import Evidence, Incident

# The collector's account fields that hold text worth finding, in the order shown.
COLLECTOR_TEXT = (
    "collected_by",
    "location",
    "source",
    "original_url",
    "capture_tool",
    "language",
    "consent_notes",
)


def evidence_parts(
    item: Evidence, described: Metadata, tags: Sequence[str] = ()
) -> list[str]:
    """An item's text parts: title, ERN, description, file name, the collector's account,
    the text extracted from the file at intake, and its tags' names."""
    return _evidence_parts(
        described.title,
        ern=item.ern,
        description=described.description,
        filename=described.original_filename,
        collector=described.collector,
        text=described.text,
        tags=tags,
    )


def _evidence_parts(
    title: str | None,
    *,
    ern: str | None,
    description: str | None,
    filename: str | None,
    collector: Mapping[str, Any],
    text: str | None,
    tags: Sequence[str],
) -> list[str]:
    parts = [title, ern, description, filename]
    parts += [_text(collector.get(name)) for name in COLLECTOR_TEXT]
    parts.append(text)
    parts += tags
    return [part for part in parts if part]


@dataclass(frozen=True)
class IntakeText:
    """A new item's parts (with conversions) as terms, all but the ERN's, which is given when
    the item is registered, and the title's when it is made from the ERN's number (an item
    with neither title nor file name). Together with those, the same as `evidence_parts` and
    `with_conversions` give for the registered item (it has no tags yet).

    Each part is one string, its terms separated by spaces (terms hold none): encoded
    (`terms.encode`, as the engines index them) for a standard item, as they are for a
    restricted one (hashed at registration, with the blind index key). One string per part
    keeps an item waiting to be registered about as large as its text."""

    title: tuple[str, ...] | None  # the title part and its conversion
    rest: tuple[str, ...]  # the parts after the ERN
    zawgyi: bool  # whether any of these parts is Zawgyi
    encoded: bool  # standard: terms encoded; restricted: as they are


def intake_text(
    *,
    title: str | None,
    description: str | None,
    filename: str | None,
    collector: Mapping[str, Any],
    text: str | None,
    restricted: bool,
) -> IntakeText:
    """What `evidence_parts` gives for a new item, but the ERN (and a title of None: made at
    registration from the item's number), cut into terms."""
    rest, zawgyi = with_conversions(
        _evidence_parts(
            None,
            ern=None,
            description=description,
            filename=filename,
            collector=collector,
            text=text,
            tags=(),
        )
    )
    head: tuple[str, ...] | None = None
    if title:
        title_parts, title_zawgyi = with_conversions([title])
        head = tuple(part_terms(part, encoded=not restricted) for part in title_parts)
        zawgyi = zawgyi or title_zawgyi
    rest_terms = tuple(part_terms(part, encoded=not restricted) for part in rest)
    return IntakeText(head, rest_terms, zawgyi, encoded=not restricted)


def part_terms(part: str, *, encoded: bool) -> str:
    """A part's terms, space-separated: encoded, or as they are."""
    found = terms.terms(part)
    return " ".join(terms.encode(term) for term in found) if encoded else " ".join(found)


def split_terms(part: str) -> list[str]:
    """The terms of a part as `part_terms` joined them."""
    return part.split(" ") if part else []


def terms_of(parts: Iterable[str], *, encoded: bool) -> tuple[list[str], bool]:
    """Parts made at registration (the ERN, a title from it): with conversions, as terms."""
    converted, zawgyi = with_conversions(parts)
    return [part_terms(part, encoded=encoded) for part in converted], zawgyi


def incident_parts(incident: Incident, tags: Sequence[str] = ()) -> list[str]:
    """An incident's text parts: title, narrative, where, its categories, the victims'
    group, its alleged perpetrators (name, affiliation, description), and its tags' names."""
    parts = [incident.title, incident.narrative]
    parts += [
        incident.place,
        incident.village_ward,
        incident.township,
        incident.district,
        incident.state_region,
        incident.country,
    ]
    parts += [category.value.replace("_", " ") for category in incident.categories]
    parts.append(incident.victims_group)
    for perpetrator in incident.perpetrators:
        parts += [perpetrator.name, perpetrator.affiliation, perpetrator.description]
    parts += tags
    return [part for part in parts if part]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def with_conversions(parts: Iterable[str]) -> tuple[list[str], bool]:
    """The parts, each followed by its Unicode conversion if it is Zawgyi; and whether any
    was."""
    found: list[str] = []
    zawgyi = False
    for part in parts:
        found.append(part)
        if burmese.is_zawgyi(part):
            zawgyi = True
            converted = burmese.to_unicode(part)
            if converted != part:
                found.append(converted)
    return found, zawgyi
