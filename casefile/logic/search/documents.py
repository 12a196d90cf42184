"""What of a document is indexed: its text parts, from one function per kind, so that a
new source of text (tags) is one line here. A part judged Zawgyi is indexed with its Unicode
conversion beside it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from casefile.logic.evidence.metadata import Metadata
from casefile.logic.search import burmese
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
    parts = [described.title, item.ern, described.description, described.original_filename]
    parts += [_text(described.collector.get(name)) for name in COLLECTOR_TEXT]
    parts.append(described.text)
    parts += tags
    return [part for part in parts if part]


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
