"""Writing the search index, always in the caller's transaction: an item is indexed when it
is registered, indexed again when its metadata is edited or sealed, and taken out when it is
deleted, in the same transaction as the change (and so with its custody entry).

A standard item's terms (`terms.body`) are in `search_bodies`; a restricted item has none:
its terms are kept only as keyed hashes (`blind_hashes`), with the blind index key, so neither
its words nor their count in a readable form are in the index tables."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from casefile import driver_statements
from casefile.db import Base
from casefile.logic.evidence import metadata
from casefile.logic.search import documents, engines, terms
from casefile.model import (
    Evidence,
    EvidenceStatus,
    EvidenceTag,
    Incident,
    IncidentTag,
    SearchBlindTerm,
    SearchBody,
    SearchDocument,
    Sensitivity,
    Tag,
)
from casefile.vault import blind_index
from casefile.vault.envelope import Keyring

EVIDENCE, INCIDENT = "evidence", "incident"
KINDS = (EVIDENCE, INCIDENT)
BLIND_FIELD = "search"  # the field name the blind hashes are bound to
ZAWGYI_FLAG = "zawgyi"
BATCH = 200
# A batch's new documents are written in Core (`put_new`): no ORM bookkeeping per row.
_DOCUMENTS = Base.metadata.tables[SearchDocument.__tablename__]
_BODIES = Base.metadata.tables[SearchBody.__tablename__]
_BLIND_TERMS = Base.metadata.tables[SearchBlindTerm.__tablename__]
_INSERT_DOCUMENTS = insert(_DOCUMENTS)
_NEW_DOCUMENT_COLUMNS = ("kind", "doc_id", "case_id", "created_at", "mime", "restricted")


def _pg_put_new() -> Any:
    """PostgreSQL: `put_new`'s rows in one statement of eight array parameters (one round
    trip, and a text psycopg parses once: a VALUES row per document was parsed every time)."""
    new = driver_statements.unnest(
        "new", [(name, _DOCUMENTS.c[name].type) for name in _NEW_DOCUMENT_COLUMNS]
    )
    documents = (
        insert(_DOCUMENTS)
        .from_select(
            list(_NEW_DOCUMENT_COLUMNS), select(*(new.c[name] for name in _NEW_DOCUMENT_COLUMNS))
        )
        .returning(_DOCUMENTS.c.id, _DOCUMENTS.c.doc_id)
        .cte("documents")
    )
    body = driver_statements.unnest(
        "body", [("body_doc_id", _DOCUMENTS.c.doc_id.type), ("body", _BODIES.c.body.type)]
    )
    bodies = (
        insert(_BODIES)
        .from_select(
            ["document_id", "body"],
            select(documents.c.id, body.c.body).join_from(
                documents, body, body.c.body_doc_id == documents.c.doc_id
            ),
        )
        .cte("bodies")
    )
    term = driver_statements.unnest(
        "term",
        [("term_doc_id", _DOCUMENTS.c.doc_id.type), ("term_hash", _BLIND_TERMS.c.term_hash.type)],
    )
    return (
        insert(_BLIND_TERMS)
        .from_select(
            ["document_id", "term_hash"],
            select(documents.c.id, term.c.term_hash).join_from(
                documents, term, term.c.term_doc_id == documents.c.doc_id
            ),
        )
        .add_cte(documents)
        .add_cte(bodies)
    )


_PG_PUT_NEW = _pg_put_new()


def blind_term(key: blind_index.IndexKey, term: str) -> bytes:
    return key.hash(BLIND_FIELD, term)


def blind_pair(key: blind_index.IndexKey, first: str, second: str) -> bytes:
    return key.hash(BLIND_FIELD, f"{first} {second}")  # terms hold no spaces


def blind_hashes(key: blind_index.IndexKey, parts: Iterable[str]) -> set[bytes]:
    """Each term of each part, and each two terms in a row within a part (so a Burmese word
    is found as its syllables in a row, not only as syllables anywhere)."""
    return blind_hashes_of_terms(key, (terms.terms(part) for part in parts))


def blind_hashes_of_terms(key: blind_index.IndexKey, parts: Iterable[Sequence[str]]) -> set[bytes]:
    """`blind_hashes` of parts already cut into terms."""
    found: set[bytes] = set()
    for found_terms in parts:
        found.update(blind_term(key, term) for term in found_terms)
        found.update(
            blind_pair(key, first, second) for first, second in itertools.pairwise(found_terms)
        )
    return found


def index_evidence(
    session: Session,
    keyring: Keyring,
    item: Evidence,
    *,
    flag: bool = True,
    tags: list[str] | None = None,
) -> None:
    """(Re)index an item as it is now in the session; a deleted item is taken out. With
    `flag`, also keeps its `zawgyi` flag in step with its text (registering and editing,
    whose custody entries cover the change; not `reindex`, which records none). `tags`: the
    names of its tags as they now are, if the caller has them at hand."""
    if item.status == EvidenceStatus.DELETED:
        remove(session, item.id)
        return
    described = metadata.reveal(keyring, item)
    if tags is None:  # the caller may know them (tagging does): one query less per item
        tags = evidence_tags(session, [item.id])[item.id]
    parts, zawgyi = documents.with_conversions(documents.evidence_parts(item, described, tags))
    if flag and described.available:
        _flag(item, zawgyi)
    if item.sensitivity == Sensitivity.RESTRICTED:
        key = metadata.index_key(session, keyring, create=True)
        assert key is not None  # noqa: S101 - create=True always gives one
        put(
            session,
            EVIDENCE,
            item.id,
            item.case_id,
            item.created_at,
            mime=item.mime,
            blind=blind_hashes(key, parts),
        )
    else:
        put(
            session,
            EVIDENCE,
            item.id,
            item.case_id,
            item.created_at,
            mime=item.mime,
            body=terms.body(parts),
        )


@dataclass(frozen=True)
class NewDocument:
    """A new item's index rows, to be written with its batch's (`put_new`)."""

    doc_id: uuid.UUID
    case_id: uuid.UUID
    created_at: dt.datetime
    mime: str | None
    body: str | None  # a standard item's terms
    blind: set[bytes] | None  # a restricted item's hashes


def index_new_evidence(
    session: Session, keyring: Keyring, item: Evidence, text: documents.IntakeText
) -> NewDocument:
    """A new item's index rows (what `index_evidence` would write for it, and its `zawgyi`
    flag set the same way), from its text worked out before the transaction: only the
    ERN's terms (and a title made from the item's number) are worked out here. The caller
    writes the rows of its batch together (`put_new`), in the same transaction."""
    restricted = item.sensitivity == Sensitivity.RESTRICTED
    if text.encoded == restricted:  # pragma: no cover - examined with the item's sensitivity
        raise ValueError("the item's text was prepared for another sensitivity")
    made = [item.ern] if text.title is not None else [item.title, item.ern]
    made_terms, zawgyi = documents.terms_of((part for part in made if part), encoded=not restricted)
    if text.title is not None:
        parts = [*text.title, *made_terms, *text.rest]
    else:
        parts = [*made_terms, *text.rest]
    _flag(item, zawgyi or text.zawgyi)
    common = (item.id, item.case_id, item.created_at, item.mime)
    if restricted:
        key = metadata.index_key(session, keyring, create=True)
        assert key is not None  # noqa: S101 - create=True always gives one
        blind = blind_hashes_of_terms(key, (documents.split_terms(part) for part in parts))
        return NewDocument(*common, body=None, blind=blind)
    return NewDocument(*common, body=terms.SEPARATOR.join(parts), blind=None)


def put_new(session: Session, new: Sequence[NewDocument]) -> None:
    """New documents' rows (none of them indexed before), in three multi-row statements
    whatever their number: the documents (their ids returned), the standard ones' terms, the
    restricted ones' hashes (PostgreSQL: one statement, `_pg_put_new`)."""
    if not new:
        return
    session.flush()  # their items first, in one batch (the rows name their case only)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        with_body = [one for one in new if one.blind is None and one.body]
        hashes_of = [
            (one.doc_id, term_hash) for one in new if one.blind for term_hash in sorted(one.blind)
        ]
        driver_statements.execute(
            connection,
            _PG_PUT_NEW,
            {
                "kind": [EVIDENCE] * len(new),
                "doc_id": [one.doc_id for one in new],
                "case_id": [one.case_id for one in new],
                "created_at": [one.created_at for one in new],
                "mime": [one.mime for one in new],
                "restricted": [one.blind is not None for one in new],
                "body_doc_id": [one.doc_id for one in with_body],
                "body": [one.body for one in with_body],
                "term_doc_id": [doc_id for doc_id, _ in hashes_of],
                "term_hash": [term_hash for _, term_hash in hashes_of],
            },
        )
        return
    rows = session.execute(
        _INSERT_DOCUMENTS.returning(_DOCUMENTS.c.doc_id, _DOCUMENTS.c.id),
        [
            {
                "kind": EVIDENCE,
                "doc_id": one.doc_id,
                "case_id": one.case_id,
                "created_at": one.created_at,
                "mime": one.mime,
                "restricted": one.blind is not None,
            }
            for one in new
        ],
    )
    ids: dict[uuid.UUID, int] = {row.doc_id: row.id for row in rows}
    bodies = [
        {"document_id": ids[one.doc_id], "body": one.body}
        for one in new
        if one.blind is None and one.body
    ]
    if bodies:
        session.execute(insert(_BODIES), bodies)
    hashes = [
        {"document_id": ids[one.doc_id], "term_hash": term_hash}
        for one in new
        if one.blind
        for term_hash in sorted(one.blind)
    ]
    if hashes:
        session.execute(insert(_BLIND_TERMS), hashes)


def index_incident(session: Session, incident: Incident) -> None:
    """(Re)index an incident as it is now in the session (flushed: it has its id)."""
    tags = incident_tags(session, [incident.id])[incident.id]
    parts, _ = documents.with_conversions(documents.incident_parts(incident, tags))
    put(
        session,
        INCIDENT,
        incident.id,
        incident.case_id,
        incident.created_at,
        body=terms.body(parts),
    )


def evidence_tags(
    session: Session, item_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The names of each item's tags (as indexed, and for snippets)."""
    return _tag_names(session, EvidenceTag.evidence_id, EvidenceTag.tag_id, item_ids)


def incident_tags(
    session: Session, incident_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The names of each incident's tags."""
    return _tag_names(session, IncidentTag.incident_id, IncidentTag.tag_id, incident_ids)


def _tag_names(
    session: Session,
    owner: InstrumentedAttribute[uuid.UUID],
    tag_id: InstrumentedAttribute[uuid.UUID],
    ids: Iterable[uuid.UUID],
) -> dict[uuid.UUID, list[str]]:
    wanted = list(ids)
    found: dict[uuid.UUID, list[str]] = {one: [] for one in wanted}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(owner, Tag.name)
            .join(Tag, Tag.id == tag_id)
            .where(owner.in_(wanted[start : start + 500]))
            .order_by(Tag.key, Tag.id)
        )
        for one, name in rows:
            found[one].append(name)
    return found


def reindex_tagged(session: Session, keyring: Keyring, tag_id: uuid.UUID) -> None:
    """Index again every item and incident carrying a tag (renamed), in the caller's
    transaction."""
    for item in session.scalars(
        select(Evidence).join(EvidenceTag, EvidenceTag.evidence_id == Evidence.id).where(
            EvidenceTag.tag_id == tag_id
        )
    ):
        index_evidence(session, keyring, item, flag=False)
    for incident in session.scalars(
        select(Incident).join(IncidentTag, IncidentTag.incident_id == Incident.id).where(
            IncidentTag.tag_id == tag_id
        )
    ):
        index_incident(session, incident)


def _flag(item: Evidence, zawgyi: bool) -> None:
    flags = list(item.flags or [])
    if zawgyi and ZAWGYI_FLAG not in flags:
        item.flags = [*flags, ZAWGYI_FLAG]
    elif not zawgyi and ZAWGYI_FLAG in flags:
        item.flags = [flag for flag in flags if flag != ZAWGYI_FLAG]


def put(
    session: Session,
    kind: str,
    doc_id: uuid.UUID,
    case_id: uuid.UUID,
    created_at: dt.datetime,
    *,
    mime: str | None = None,
    body: str | None = None,
    blind: set[bytes] | None = None,
) -> SearchDocument:
    """A document's row, written anew: its terms (`body`), or for a restricted one its blind
    hashes (`blind`) and no terms."""
    row = session.scalar(select(SearchDocument).where(SearchDocument.doc_id == doc_id))
    if row is None:
        row = SearchDocument(kind=kind, doc_id=doc_id)
        session.add(row)
    row.case_id, row.created_at, row.mime = case_id, created_at, mime
    row.restricted = blind is not None
    session.flush()
    had_terms = _deleted(
        session.execute(delete(SearchBody).where(SearchBody.document_id == row.id))
    )
    if had_terms and blind is not None:  # restricted now: its words purged from the engine
        engines.purge_later(session)
    session.execute(delete(SearchBlindTerm).where(SearchBlindTerm.document_id == row.id))
    if blind is None and body:
        session.execute(insert(SearchBody).values(document_id=row.id, body=body))
    if blind:
        session.execute(
            insert(SearchBlindTerm),
            [{"document_id": row.id, "term_hash": term_hash} for term_hash in sorted(blind)],
        )
    return row


def _deleted(result: Any) -> int:
    return int(result.rowcount or 0)  # a DELETE's result: how many rows it took


def remove(session: Session, doc_id: uuid.UUID) -> None:
    document = select(SearchDocument.id).where(SearchDocument.doc_id == doc_id)
    session.execute(delete(SearchBlindTerm).where(SearchBlindTerm.document_id.in_(document)))
    if _deleted(session.execute(delete(SearchBody).where(SearchBody.document_id.in_(document)))):
        engines.purge_later(session)
    session.execute(delete(SearchDocument).where(SearchDocument.doc_id == doc_id))


# --- rebuilding -------------------------------------------------------------------------------


def documents_to_index(session: Session, case_id: uuid.UUID | None) -> int:
    """How many items and incidents `reindex` goes through."""
    total = 0
    for model in (Evidence, Incident):
        query = select(func.count()).select_from(model)
        if case_id is not None:
            query = query.where(model.case_id == case_id)
        total += session.scalar(query) or 0
    return total


def reindex(
    session: Session,
    keyring: Keyring,
    *,
    case_id: uuid.UUID | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """(Re)build the index of every item and incident (of one case, or all), a batch per
    transaction: an interrupted run leaves what it committed, and a rerun does it all
    again. Returns the number of items and incidents seen. For the operator (the CLI): no
    actor and no custody entry, as the index is derived from what the documents hold and
    nothing of them changes."""
    seen = 0
    for items in _batches(session, Evidence, case_id):
        for item in items:
            index_evidence(session, keyring, item, flag=False)
        seen += _done(session, len(items), progress)
    for incidents in _batches(session, Incident, case_id):
        for incident in incidents:
            index_incident(session, incident)
        seen += _done(session, len(incidents), progress)
    return seen


def _batches(
    session: Session, model: type[Evidence | Incident], case_id: uuid.UUID | None
) -> Iterator[list[Any]]:
    last_id: uuid.UUID | None = None
    while True:
        query = select(model).order_by(model.id).limit(BATCH)
        if case_id is not None:
            query = query.where(model.case_id == case_id)
        if last_id is not None:
            query = query.where(model.id > last_id)
        batch: list[Any] = list(session.scalars(query))
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def _done(session: Session, count: int, progress: Callable[[int], None] | None) -> int:
    session.commit()
    if progress is not None:
        progress(count)
    return count
