"""`search`: documents matching a query, only from the caller's cases and only what the caller
may see, filtered, in a stable order, a page at a time.

Scope is part of the query itself, never applied to results afterwards: the cases the
caller is a member of (`authz.searchable_cases`), standard items, and restricted items only
through the blind index and only those the caller holds a grant for
(`authz.granted_items`). No count is returned; results are paged by (created_at, id) of
what the caller may see, so neither the order nor a cursor depends on anything hidden.

Filters on what a restricted item keeps sealed (collector, location, date collected) cannot
run in the database; they are checked on the item's metadata decrypted for the caller,
who holds a grant for it."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    distinct,
    false,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import metadata
from casefile.logic.evidence.metadata import Metadata
from casefile.logic.pagination import Page, cursor_after, paginate, valid_limit
from casefile.logic.search import documents, engines, index, snippets, terms
from casefile.logic.tags import names as tag_names
from casefile.logic.tags.names import TagName
from casefile.logic.text import refuse_nul
from casefile.model import (
    CaseMember,
    Evidence,
    EvidenceGrant,
    EvidenceTag,
    Incident,
    IncidentEvidence,
    IncidentTag,
    SearchBlindTerm,
    SearchDocument,
    Sensitivity,
    Tag,
    User,
)
from casefile.vault.envelope import Keyring

NO_WORDS = "nothing to search for: type a word (punctuation and search operators are ignored)"


Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SearchInput(BaseModel):
    """A search as asked (the API's query string, the web form, the CLI): text fields, an
    empty one not given."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    case_id: uuid.UUID | None = None
    kind: Literal["evidence", "incident"] | None = None
    type: Short | None = None
    sensitivity: Sensitivity | None = None
    collector: Short | None = None
    location: Short | None = None
    collected_from: dt.date | None = None
    collected_to: dt.date | None = None
    incident: uuid.UUID | None = None
    incident_from: dt.date | None = None
    incident_to: dt.date | None = None
    tag: TagName | None = None

    def filter(self) -> SearchFilter:
        return SearchFilter(
            kind=self.kind,
            type=self.type,
            sensitivity=self.sensitivity,
            collector=self.collector,
            location=self.location,
            collected_from=self.collected_from,
            collected_to=self.collected_to,
            incident=self.incident,
            incident_from=self.incident_from,
            incident_to=self.incident_to,
            tag=self.tag,
        )


FILTERS = tuple(name for name in SearchInput.model_fields if name != "q")


def parse_search(fields: dict[str, str | None]) -> SearchInput:
    """Refused (ValidationFailed) field by field: no text, an unknown field, a bad date."""
    given = {name: value for name, value in fields.items() if value not in (None, "")}
    if "q" not in given:
        given["q"] = fields.get("q") or ""
    try:
        return SearchInput.model_validate(given)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


@dataclass(frozen=True)
class SearchFilter:
    kind: str | None = None  # evidence | incident
    type: str | None = None  # a MIME type or its start: "image/", "application/pdf"
    sensitivity: Sensitivity | None = None
    collector: str | None = None  # text within "collected by"
    location: str | None = None  # text within the location
    collected_from: dt.date | None = None  # the date collected, as recorded
    collected_to: dt.date | None = None
    incident: uuid.UUID | None = None  # items linked to this incident
    incident_from: dt.date | None = None  # incidents whose dates meet this range
    incident_to: dt.date | None = None
    tag: str | None = None  # items and incidents carrying the tag of this name (any case)

    def evidence_only(self) -> bool:
        return any(
            value is not None
            for value in (
                self.type,
                self.sensitivity,
                self.collector,
                self.collected_from,
                self.collected_to,
                self.incident,
            )
        )

    def incidents_only(self) -> bool:
        return self.incident_from is not None or self.incident_to is not None

    def incident_conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.location:
            found.append(
                or_(
                    *(
                        _contains(column, self.location)
                        for column in (
                            Incident.place,
                            Incident.village_ward,
                            Incident.township,
                            Incident.district,
                            Incident.state_region,
                            Incident.country,
                        )
                    )
                )
            )
        # An incident meets the range if it began by its end and ended (or began, with no
        # end recorded) by its start.
        if self.incident_from is not None:
            found.append(
                func.coalesce(Incident.end_date, Incident.start_date) >= self.incident_from
            )
        if self.incident_to is not None:
            found.append(Incident.start_date <= self.incident_to)
        return found

    def sealed_fields(self) -> bool:
        """Whether a restricted item must be opened to check it."""
        return any(
            value is not None
            for value in (self.collector, self.location, self.collected_from, self.collected_to)
        )

    def plain_conditions(self) -> list[ColumnElement[bool]]:
        """For items whose metadata is in the clear."""
        collector = Evidence.collector
        found: list[ColumnElement[bool]] = []
        if self.collector:
            found.append(_contains(collector["collected_by"].as_string(), self.collector))
        if self.location:
            found.append(_contains(collector["location"].as_string(), self.location))
        day = func.substr(collector["collected_at"].as_string(), 1, 10)
        if self.collected_from is not None:
            found.append(day >= self.collected_from.isoformat())
        if self.collected_to is not None:
            found.append(day <= self.collected_to.isoformat())
        return found

    def admits(self, described: Metadata) -> bool:
        """The same conditions, on an item's metadata (decrypted for the caller)."""
        fields = described.collector
        if self.collector and not _has(fields.get("collected_by"), self.collector):
            return False
        if self.location and not _has(fields.get("location"), self.location):
            return False
        when = fields.get("collected_at")
        day = when[:10] if isinstance(when, str) else None
        if self.collected_from is not None and (
            day is None or day < self.collected_from.isoformat()
        ):
            return False
        return not (
            self.collected_to is not None and (day is None or day > self.collected_to.isoformat())
        )


def _contains(value: SQLColumnExpression[str | None], text: str) -> ColumnElement[bool]:
    return func.lower(value).contains(text.lower(), autoescape=True)


def _has(value: object, text: str) -> bool:
    return isinstance(value, str) and text.casefold() in value.casefold()


@dataclass(frozen=True)
class Result:
    kind: str
    id: uuid.UUID
    case_id: uuid.UUID
    title: str
    snippet: snippets.Snippet


def search(
    session: Session,
    actor: User | None,
    text: str,
    *,
    keyring: Keyring,
    case_id: uuid.UUID | None = None,
    where: SearchFilter | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[Result]:
    valid_limit(limit)
    where = where or SearchFilter()
    if where.kind is not None and where.kind not in index.KINDS:
        raise ValidationFailed({"kind": f"one of {', '.join(index.KINDS)}"})
    cases = {kind: authz.searchable_cases(actor, action) for kind, action in SCOPES}
    if case_id is not None:  # NotFound for a case the actor is not in
        authz.authorize_case(session, actor, case_id, CaseAction.VIEW)
        cases = {kind: query.where(CaseMember.case_id == case_id) for kind, query in cases.items()}
    phrases = terms.query_phrases(text)
    if not phrases:
        raise ValidationFailed({"q": NO_WORDS})
    query = _query(session, actor, phrases, cases=cases, where=where, keyring=keyring)
    return _page(
        session,
        actor,
        query,
        text=text,
        where=where,
        keyring=keyring,
        limit=limit,
        cursor=cursor,
    )


def _query(
    session: Session,
    actor: User | None,
    phrases: list[list[str]],
    *,
    cases: dict[str, Select[uuid.UUID]],
    where: SearchFilter,
    keyring: Keyring,
) -> Select[SearchDocument]:
    # One list of candidates (the engine's matches, and restricted items matched blindly),
    # so that the engine's index drives the query; then who may see them.
    matched = engines.matching(session, phrases)
    blind = _blind(session, actor, phrases, keyring)
    candidates = matched if blind is None else union(matched, blind)
    granted = authz.granted_items(actor)
    query = select(SearchDocument).where(
        SearchDocument.id.in_(candidates),
        _in_scope(cases),
        or_(SearchDocument.restricted.is_(False), SearchDocument.doc_id.in_(granted)),
    )
    kinds = _kinds(where)
    if not kinds:
        return query.where(false())  # filters of items and of incidents together: none match
    if len(kinds) == 1:
        query = query.where(SearchDocument.kind == next(iter(kinds)))
    if where.tag:
        query = query.where(SearchDocument.doc_id.in_(_tagged(where.tag, kinds)))
    if index.INCIDENT in kinds and where.incident_conditions():
        query = query.outerjoin(Incident, Incident.id == SearchDocument.doc_id).where(
            or_(SearchDocument.kind != index.INCIDENT, and_(*where.incident_conditions()))
        )
    if index.EVIDENCE not in kinds:
        return query
    if where.incident is not None:
        linked = select(IncidentEvidence.evidence_id).where(
            IncidentEvidence.incident_id == where.incident
        )
        query = query.where(SearchDocument.doc_id.in_(linked))
    if where.type:
        query = query.where(SearchDocument.mime.startswith(where.type.lower(), autoescape=True))
    if where.sensitivity is not None:
        restricted = where.sensitivity == Sensitivity.RESTRICTED
        query = query.where(SearchDocument.restricted.is_(restricted))
    conditions = where.plain_conditions()
    if conditions:
        query = query.outerjoin(Evidence, Evidence.id == SearchDocument.doc_id)
        # Restricted items pass here and are checked once opened (`SearchFilter.admits`);
        # incidents, by the conditions above.
        query = query.where(
            or_(
                SearchDocument.kind != index.EVIDENCE,
                SearchDocument.restricted.is_(True),
                and_(*conditions),
            )
        )
    return query


def _tagged(name: str, kinds: set[str]) -> Select[uuid.UUID]:
    """The items and incidents carrying a tag of this name, in any case. A restricted item
    found here is still only a result for one holding a grant (the query's scope)."""
    named = tag_names.of_name(name)
    tagged: list[Select[uuid.UUID]] = []
    if index.EVIDENCE in kinds:
        tagged.append(
            select(EvidenceTag.evidence_id)
            .join(Tag, Tag.id == EvidenceTag.tag_id)
            .where(named)
        )
    if index.INCIDENT in kinds:
        tagged.append(
            select(IncidentTag.incident_id)
            .join(Tag, Tag.id == IncidentTag.tag_id)
            .where(named)
        )
    return select(union(*tagged).subquery().c[0])


SCOPES = ((index.EVIDENCE, CaseAction.VIEW_EVIDENCE), (index.INCIDENT, CaseAction.VIEW_INCIDENTS))


def _in_scope(cases: dict[str, Select[uuid.UUID]]) -> ColumnElement[bool]:
    """In the cases where the caller may see each kind: one condition when the same roles
    may see every kind (as with today's roles), else one per kind."""
    if len({authz.roles_with(action) for _, action in SCOPES}) == 1:
        return SearchDocument.case_id.in_(cases[index.EVIDENCE])
    return or_(
        *(
            and_(SearchDocument.kind == kind, SearchDocument.case_id.in_(scope))
            for kind, scope in cases.items()
        )
    )


def _kinds(where: SearchFilter) -> set[str]:
    """The kinds of document the filters allow."""
    kinds = {where.kind} if where.kind else set(index.KINDS)
    if where.evidence_only():
        kinds.discard(index.INCIDENT)
    if where.incidents_only():
        kinds.discard(index.EVIDENCE)
    return kinds


def _blind(
    session: Session,
    actor: User | None,
    phrases: list[list[str]],
    keyring: Keyring,
) -> Select[int] | None:
    """Restricted items the actor holds a grant for whose blind terms hold every term and
    every pair of terms in a row of the query."""
    key = metadata.index_key(session, keyring, create=False)
    if key is None:
        return None
    wanted: set[bytes] = set()
    for phrase in phrases:
        wanted.update(index.blind_term(key, term) for term in phrase)
        wanted.update(
            index.blind_pair(key, first, second) for first, second in itertools.pairwise(phrase)
        )
    granted = authz.granted_items(actor)
    matched = (
        select(SearchBlindTerm.document_id)
        .join(SearchDocument, SearchDocument.id == SearchBlindTerm.document_id)
        .where(
            SearchDocument.restricted.is_(True),
            SearchDocument.doc_id.in_(granted),
            SearchBlindTerm.term_hash.in_(sorted(wanted)),
        )
        .group_by(SearchBlindTerm.document_id)
        .having(func.count(distinct(SearchBlindTerm.term_hash)) == len(wanted))
    )
    return matched


def _page(
    session: Session,
    actor: User | None,
    query: Select[SearchDocument],
    *,
    text: str,
    where: SearchFilter,
    keyring: Keyring,
    limit: int,
    cursor: str | None,
) -> Page[Result]:
    """A page of results. Restricted items failing a filter on sealed fields are dropped
    once opened; the next rows are read until the page is full."""
    results: list[Result] = []
    last: SearchDocument | None = None
    while True:
        page = paginate(
            session,
            query,
            SearchDocument.created_at,
            SearchDocument.doc_id,
            limit=limit,
            cursor=cursor,
        )
        for document, result in zip(
            page.items, _results(session, actor, page.items, text, where, keyring), strict=True
        ):
            if result is None:
                last = document
                continue
            results.append(result)
            last = document
            if len(results) == limit:
                more = document is not page.items[-1] or page.next_cursor is not None
                return Page(results, cursor_after(last.created_at, last.doc_id) if more else None)
        if page.next_cursor is None:
            return Page(results, None)
        cursor = page.next_cursor


def _results(  # noqa: PLR0917 - one private caller
    session: Session,
    actor: User | None,
    found: Sequence[SearchDocument],
    text: str,
    where: SearchFilter,
    keyring: Keyring,
) -> list[Result | None]:
    items = {
        item.id: item
        for item in session.scalars(
            select(Evidence).where(
                Evidence.id.in_([doc.doc_id for doc in found if doc.kind == index.EVIDENCE])
            )
        )
    }
    incidents = {
        incident.id: incident
        for incident in session.scalars(
            select(Incident).where(
                Incident.id.in_([doc.doc_id for doc in found if doc.kind == index.INCIDENT])
            )
        )
    }
    # Defence in depth: whatever the index row says, an item restricted now is shown only to
    # a holder of a grant for it (its sealed title and text are never opened for another).
    restricted = [item.id for item in items.values() if item.sensitivity != Sensitivity.STANDARD]
    granted = (
        set(session.scalars(authz.granted_items(actor).where(EvidenceGrant.evidence_id.in_(restricted))))
        if restricted
        else set()
    )
    item_tags = index.evidence_tags(session, items)
    incident_tags = index.incident_tags(session, incidents)
    results: list[Result | None] = []
    for document in found:
        incident = incidents.get(document.doc_id)
        if document.kind == index.INCIDENT and incident is not None:
            parts, _ = documents.with_conversions(
                documents.incident_parts(incident, incident_tags[incident.id])
            )
            results.append(
                Result(
                    kind=index.INCIDENT,
                    id=incident.id,
                    case_id=incident.case_id,
                    title=incident.title,
                    snippet=snippets.make(parts, text),
                )
            )
            continue
        item = items.get(document.doc_id)
        if document.kind != index.EVIDENCE or item is None:
            results.append(None)
            continue
        if item.sensitivity != Sensitivity.STANDARD and item.id not in granted:
            results.append(None)
            continue
        described = metadata.reveal(keyring, item)
        if document.restricted and where.sealed_fields() and not where.admits(described):
            results.append(None)
            continue
        parts, _ = documents.with_conversions(
            documents.evidence_parts(item, described, item_tags[item.id])
        )
        results.append(
            Result(
                kind=index.EVIDENCE,
                id=item.id,
                case_id=item.case_id,
                title=described.title,
                snippet=snippets.make(parts, text),
            )
        )
    return results
