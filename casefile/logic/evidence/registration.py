"""Registering received items: one uploaded item (`register_upload`: the API, the web form
and tus completion) or a batch of prepared ones in one transaction (`register_many`: bulk
ingest). Both run the same per-item step (`_add`): a new item with its ERN and intake entry,
or, when the case holds these bytes already, a resubmission (see `sharing`)."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, ColumnDefault, Text, bindparam, cast, insert, inspect, select
from sqlalchemy.orm import Session, configure_mappers, instrumentation, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.decl_base import _declarative_constructor

from casefile import driver_statements, failures
from casefile.db import Base, utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.cases import ern
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound
from casefile.logic.evidence import languages, metadata
from casefile.logic.evidence.intake import SIDE_ALGORITHMS, IntakeStream, Received
from casefile.logic.evidence.sharing import CaseContent, share_content
from casefile.logic.evidence.submission import (
    EvidenceInput,
    Examined,
    Submission,
    clean_mime,
    collector_fields,
    prepare,
)
from casefile.logic.search import index as search_index
from casefile.model import (
    Case,
    CustodyAction,
    Derivation,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Sensitivity,
    User,
)
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring

log = logging.getLogger("casefile")

# A standard new item has no rows of its own that point at it before the batch's search index
# rows and custody entries (which follow its INSERT): its row is written in Core with the
# batch's (`_insert_items`), not by the ORM's unit of work, which cost more than the INSERT.
_ITEMS = Base.metadata.tables[Evidence.__tablename__]
_INSERT_ITEM = insert(_ITEMS).values(
    {column.name: bindparam(column.name, type_=column.type) for column in _ITEMS.c}
)
# PostgreSQL: the batch's rows in one statement of one array parameter per column (a text
# psycopg parses once; its executemany sends a statement per row: the server's CPU for the
# rows about halves). JSON columns go as text, written as psycopg writes a JSON parameter
# (json.dumps), and are cast back: psycopg wrote an array of JSON values as a malformed literal.
_ITEM_NAMES = tuple(c.name for c in _ITEMS.c)
_ITEM_KEYS = tuple((c.name, c.key) for c in _ITEMS.c)  # a row's column, the item's attribute
_JSON_COLUMNS = frozenset(c.name for c in _ITEMS.c if isinstance(c.type, JSON))
_NEW_ITEMS = driver_statements.unnest(
    "item", [(c.name, Text() if c.name in _JSON_COLUMNS else c.type) for c in _ITEMS.c]
)
_PG_INSERT_ITEMS = insert(_ITEMS).from_select(
    [c.name for c in _ITEMS.c],
    select(
        *(
            cast(_NEW_ITEMS.c[c.name], JSON) if c.name in _JSON_COLUMNS else _NEW_ITEMS.c[c.name]
            for c in _ITEMS.c
        )
    ),
)


def _default(column: Column[Any]) -> Callable[[], Any] | None:
    """What the ORM writes for a column left None (or unset): its Python-side default."""
    default = column.default
    if not isinstance(default, ColumnDefault):
        return None
    arg = default.arg
    if default.is_callable:
        return lambda: arg(None)  # a callable default takes the execution context
    return lambda: arg


# The ORM writes a column's default in place of None (or of no value): so does `_insert_items`.
_DEFAULTS = {
    column.name: made for column in _ITEMS.c if (made := _default(column)) is not None
}


@dataclass(frozen=True)
class Registered:
    """One item of a batch: the new item (`created`), or the item the submitter may see that
    holds these bytes already, on which the resubmission is recorded."""

    item: Evidence
    created: bool


@dataclass(frozen=True)
class Derivative:
    """A new item made from an item of the same case (a translation, a redacted version):
    what registering adds to it. `original_id` is checked again in the registering
    transaction (the actor must still see it, and it must still be active); `collector`
    is merged into the new item's collector fields (sealed with them if it is restricted);
    `intake` goes into its intake entry; `copy_grants` gives everyone who holds a grant to
    the original one to the new item (a restricted translation)."""

    original_id: uuid.UUID
    derivation: Derivation
    collector: dict[str, Any] = field(default_factory=dict)
    intake: dict[str, Any] = field(default_factory=dict)
    copy_grants: bool = False
    # The original's sensitivity the caller decided the new item's sensitivity, title and
    # names from (before the upload streamed or the redaction ran): registering refuses if it
    # has changed since, so a restriction made meanwhile is never bypassed.
    original_sensitivity: Sensitivity | None = None


@dataclass(frozen=True)
class RegisteredUpload:
    """What became of an uploaded item: `item` is the new item, or, if `duplicate`, the item of
    the case the submitter may see that holds these bytes already (the submission is recorded
    on it). Bytes only a hidden item holds make a new item: never a duplicate."""

    item: Evidence
    duplicate: bool


def register_upload(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    upload: IntakeStream | Received,
    data: EvidenceInput,
    *,
    filename: str | None,
    declared_mime: str | None,
    store: BlobStore,
    keyring: Keyring,
    derivative: Derivative | None = None,
) -> RegisteredUpload:
    """Register one uploaded item: its intake stream is finished (the blob made durable), the
    bytes examined and the item recorded in one transaction, replayed whole on a lock
    conflict. Anything that goes wrong before the commit removes its blob: no orphans; after
    the commit the blob belongs to the item and stays."""
    received = upload.finish() if isinstance(upload, IntakeStream) else upload
    try:
        # The bytes are examined before the transaction: parsing a file may take seconds
        # (bounded), and no lock may be held meanwhile (on SQLite, a transaction holds the
        # write lock). Callers have only read so far (authorization); that read ends here.
        if session.in_transaction():
            session.commit()
        submission = prepare(received, data, filename=filename, declared_mime=declared_mime)
        # Replayed whole if the database aborts it for a lock conflict: the bytes are in the
        # store already, and nothing outside the database changes before the commit.
        [(registered, unused_blob)] = retry.run(
            session,
            lambda: _register_in_one_transaction(
                session, actor, case_id, [submission], keyring, derivative=derivative
            ),
        )
    except BaseException as error:
        session.rollback()
        # A connection lost during the commit leaves its outcome unknown: the item may be
        # committed. Its blob stays; if no item owns it, `scrub --repair` removes it.
        if failures.classify(error) is not failures.DATABASE_UNAVAILABLE:
            store.delete(received.item_id.hex)
        raise
    if unused_blob is not None:
        store.delete(unused_blob)  # after the commit: a replay may still need it
    return RegisteredUpload(registered.item, duplicate=not registered.created)


def register_many(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    submissions: Sequence[Submission],
    *,
    store: BlobStore,
    keyring: Keyring,
) -> list[Registered]:
    """Register several prepared items in one transaction: one authorization holding the case
    FOR NO KEY UPDATE, then each item as `register_upload` would (a duplicate of an item registered
    earlier in the batch is found too), each with its own custody entries, and one commit.
    Every blob must be durable already: the commit makes them visible all at once.

    Unlike `register_upload`, a failure leaves the blobs in place and the transaction rolled back:
    nothing of the batch is registered, and the caller decides what becomes of each item
    (bulk intake registers them one at a time, so that one bad item fails alone). After the
    commit, blobs the items did not keep (resubmissions, shared content) are removed."""
    if session.in_transaction():
        session.commit()  # end the caller's read, as register_upload does
    try:
        registered = retry.run(
            session,
            lambda: _register_in_one_transaction(session, actor, case_id, submissions, keyring),
        )
    except BaseException:
        session.rollback()
        raise
    for _, unused_blob in registered:
        if unused_blob is not None:
            try:
                store.delete(unused_blob)
            except Exception:  # noqa: BLE001 - committed: failing now would misreport the batch
                log.warning("could not remove unused blob %s: scrub reports it", unused_blob)
    return [item for item, _ in registered]


def _register_in_one_transaction(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    submissions: Sequence[Submission],
    keyring: Keyring,
    *,
    derivative: Derivative | None = None,
) -> list[tuple[Registered, str | None]]:
    """Each submission's item (or resubmission) and the blob it arrived with if it does not
    keep it, committed together: the caller removes those blobs once committed."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE, for_update=True)
    view = CaseContent.read(session, case.id, [item.received.sha256 for item in submissions])
    custody_log.hold_lock(session)  # the lock order: the items' rows are flushed under it
    # Under the custody lock, which a deletion or a restriction holds until it commits: the
    # original as it is now, not as it was when the upload began.
    original = _original(session, actor, case, derivative) if derivative else None
    entries: list[custody_log.NewEntry] = []
    indexed: list[search_index.NewDocument] = []
    standard: list[Evidence] = []
    registered = [
        _add(
            session,
            actor,
            case,
            submission.received,
            submission.data,
            view=view,
            name=submission.name,
            found=submission.found,
            declared_mime=submission.declared_mime,
            keyring=keyring,
            entries=entries,
            derivative=derivative,
            original=original,
            indexed=indexed,
            standard=standard,
        )
        for submission in submissions
    ]
    try:
        _insert_items(session, standard)
        search_index.put_new(session, indexed)  # the batch's items flushed, then indexed at once
        # In order, as one append per entry would write them (their entities are not needed).
        custody_log.append_many(session, entries, entities=False)
        session.commit()
    except BaseException:
        # A rollback expunges the items the ORM inserted, not these (it takes them for rows
        # read before): a replay or a retry one by one makes them again, under the same ids.
        for item in standard:
            if item in session:
                session.expunge(item)
        raise
    return registered


def _add(
    session: Session,
    actor: User | None,
    case: Case,
    received: Received,
    data: EvidenceInput,
    *,
    view: CaseContent,
    name: str | None,
    found: Examined,
    declared_mime: str | None,
    keyring: Keyring,
    entries: list[custody_log.NewEntry],
    derivative: Derivative | None = None,
    original: Evidence | None = None,
    indexed: list[search_index.NewDocument],
    standard: list[Evidence],
) -> tuple[Registered, str | None]:
    """One item (or a resubmission), in the caller's transaction, which holds the case FOR NO
    KEY UPDATE and the custody lock, appends `entries` (to which this adds the item's custody
    entries, in order), writes `indexed` (to which this adds a new item's search index rows)
    and `standard` (a new standard item that shares no blob and derives from nothing: its
    row, which no other row of the transaction points at, `_insert_items`) and commits. Also
    returns the blob that the caller removes once committed, if the item does not keep the
    one it arrived with."""
    visible, hidden = view.same_content(session, actor, received.sha256)
    if visible is not None and visible.id == received.item_id:
        # This very item, committed by an attempt whose outcome its caller could not know (a
        # connection lost during the commit): its blob is the item's, never "unused".
        return Registered(visible, created=False), None
    if visible is not None and derivative is not None:
        # A derivative is a new item by definition: bytes the case holds already are not one.
        raise Conflict(f"this case holds this file already, as {visible.ern}")
    if visible is not None:
        entries.append(
            custody_log.NewEntry(
                actor,
                CustodyAction.SUBMITTED_AGAIN,
                case_id=case.id,
                item_id=visible.id,
                details={
                    "sha256": received.sha256,
                    **metadata.resubmission_details(
                        visible, name, restricted=data.sensitivity == Sensitivity.RESTRICTED
                    ),
                },
            )
        )
        return Registered(visible, created=False), received.item_id.hex

    mime, flags, mismatched = found.mime, found.flags, found.mismatched
    seq = view.next_seq()
    now = utcnow()
    values = {
        "id": received.item_id,
        "case_id": case.id,
        "seq": seq,
        "batch": 1,
        "ern": ern.render(case.ern_pattern, seq=seq, batch=1, year=now.year),
        "title": (data.title or name or f"Item {seq}")[:500],
        "description": data.description,
        "original_filename": name,
        "declared_mime": clean_mime(declared_mime),
        "mime": mime,
        "size": received.size,
        "sha256": received.sha256,
        "declared_hashes": data.declared_hashes,
        "flags": flags,
        "sensitivity": data.sensitivity,
        "status": EvidenceStatus.ACTIVE,
        "collector": collector_fields(data) | (derivative.collector if derivative else {}),
        "extracted": found.extracted,
        "extracted_text": found.text,
        "wrapped_key": received.wrapped_key,
        "created_at": now,
        "created_by_id": actor.id if actor else None,
        "language": languages.tag_or_none(data.language),
        "derived_from_id": original.id if original is not None else None,
        "derivation": derivative.derivation if derivative is not None else None,
    }
    if hidden is None and derivative is None and data.sensitivity == Sensitivity.STANDARD:
        item = _new_standard_item(values)
        standard.append(item)  # no grant, seal, shared key or link: a row alone, in Core
    else:
        item = Evidence(**values)
        session.add(item)  # rows that point at it follow, flushed by the ORM
    view.added(item)
    if hidden is not None:
        share_content(session, actor, item, hidden, keyring=keyring, entries=entries)
    # After _share_content: a restricted item's metadata is sealed under its final data key.
    described = metadata.on_intake(session, keyring, item, name)
    # After sealing (blind if restricted); its text was segmented before the transaction.
    indexed.append(search_index.index_new_evidence(session, keyring, item, found.index))
    if data.sensitivity == Sensitivity.RESTRICTED and actor is not None:
        session.add(EvidenceGrant(evidence_id=item.id, user_id=actor.id, granted_by_id=actor.id))
    if derivative is not None and original is not None:
        _copy_grants(session, actor, item, original, derivative)
    entries.append(
        custody_log.NewEntry(
            actor,
            CustodyAction.INTAKE,
            case_id=case.id,
            item_id=item.id,
            details={
                "ern": item.ern,
                "sha256": item.sha256,
                **{
                    name: received.hashes[name]
                    for name in SIDE_ALGORITHMS
                    if name in received.hashes
                },
                "size": item.size,
                "mime": item.mime,
                **described,
                "flags": flags,
                "declared_hashes": data.declared_hashes,
                "declared_hash_mismatch": sorted(mismatched),
                "sensitivity": data.sensitivity.value,
                **(_derived_details(item, original, derivative) if derivative else {}),
            },
        )
    )
    if derivative is not None and original is not None:
        entries.append(_original_entry(actor, case, item, original, derivative))
    # A shared blob holds these bytes already: the caller removes the ones it arrived with,
    # only after the commit (an attempt the database aborted is replayed, and may then find
    # the shared blob gone, its item deleted meanwhile, and need these bytes after all).
    unused_blob = received.item_id.hex if item.content_id is not None else None
    return Registered(item, created=True), unused_blob


def _new_standard_item(values: dict[str, Any]) -> Evidence:
    """`Evidence(**values)`, as `_insert_items` will write and keep it, without the ORM's
    instrumented constructor: it sets each of the ~25 attributes through its descriptor
    (history, modified flags: ~0.05 ms an item, a tenth of the registering thread's CPU in a
    bulk ingest) only for `_insert_items` to write the row from the item's dict and forget that
    history (`make_transient_to_detached`). The values go into the new item's dict as the
    constructor would put them there; where the constructor would do anything more (a listener
    on its init or on an attribute given, a validator, a constructor of the model's own, a
    polymorphic identity: `_plain_construction`), the constructor is called."""
    if not _plain_construction(frozenset(values)):
        return Evidence(**values)
    item: Evidence = _EVIDENCE_CLASS.new_instance()
    instance_dict(item).update(values)
    return item


_EVIDENCE_CLASS = instrumentation.manager_of_class(Evidence)


@functools.cache
def _plain_construction(keys: frozenset[str]) -> bool:
    """Whether `Evidence(**values)` with these keys only puts them into the new item's dict:
    the declarative constructor, no init listener but the mapper's own (which configures the
    mappers: done here), no polymorphic identity to set, and every key a column attribute
    without a set listener (a validator is one)."""
    configure_mappers()
    manager = _EVIDENCE_CLASS
    mapper = inspect(Evidence)
    if manager.original_init is not _declarative_constructor or mapper.polymorphic_on is not None:
        return False
    if any(
        getattr(listener, "__qualname__", "") != "_event_on_init"
        or getattr(listener, "__module__", "") != "sqlalchemy.orm.mapper"
        for listener in manager.dispatch.init
    ):
        return False
    if manager.dispatch.init_failure:
        return False
    columns = set(mapper.column_attrs.keys())
    return all(key in columns and not manager[key].impl.dispatch.set for key in keys)


def _insert_items(session: Session, items: Sequence[Evidence]) -> None:
    """New items' rows, as the ORM's flush would write them (a column's default in place of
    None), in one statement run on the driver's cursor; then each item is made persistent in
    the session with those values, as a flushed one would be (no history: nothing to write
    again). Nothing in the transaction points at them before this (`_add`)."""
    if not items:
        return
    rows: list[dict[str, Any]] = []
    for item in items:
        values = instance_dict(item)
        row = {name: values.get(key) for name, key in _ITEM_KEYS}
        for name, default in _DEFAULTS.items():
            if row[name] is None:
                row[name] = default()
        rows.append(row)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        columns = {name: [row[name] for row in rows] for name in _ITEM_NAMES}
        for name in _JSON_COLUMNS:
            columns[name] = [json.dumps(value) for value in columns[name]]
        driver_statements.execute(connection, _PG_INSERT_ITEMS, columns)
    else:
        driver_statements.execute_many(connection, _INSERT_ITEM, rows)
    for item, row in zip(items, rows, strict=True):
        values = instance_dict(item)
        values.update(row)  # the values written, defaults included
        make_transient_to_detached(item)
        session.add(item)


# --- derivatives (logic/evidence/derivatives.py) ----------------------------------------------

DERIVED_CHANGE = {
    Derivation.TRANSLATION: "translation_added",
    Derivation.REDACTION: "redaction_made",
}


def _original(session: Session, actor: User | None, case: Case, derivative: Derivative) -> Evidence:
    """The item a derivative is made from, checked in the registering transaction: of this
    case, visible to the actor, not deleted, and as sensitive as when the caller decided the
    new item's sensitivity and names from it. The session may hold the row as loaded before
    the upload streamed (sessions keep objects across commits): it is read again."""
    session.get(Evidence, derivative.original_id, populate_existing=True)
    original = authz.authorize_item(
        session, actor, derivative.original_id, CaseAction.VIEW_EVIDENCE
    )
    if original.case_id != case.id:
        raise NotFound("evidence not found")
    if original.status != EvidenceStatus.ACTIVE:
        raise Conflict("this item was deleted; nothing can be made from it")
    expected = derivative.original_sensitivity
    if expected is not None and original.sensitivity != expected:
        raise Conflict(
            "the original's sensitivity was changed while this was being made: make it again"
        )
    return original


def _copy_grants(
    session: Session, actor: User | None, item: Evidence, original: Evidence, derivative: Derivative
) -> None:
    """A restricted derivative's grants: those of the original (the uploader's own was added
    with the item). Grants given or withdrawn on the original later are not carried over."""
    if not derivative.copy_grants or item.sensitivity != Sensitivity.RESTRICTED:
        return
    holders = session.scalars(
        select(EvidenceGrant.user_id).where(EvidenceGrant.evidence_id == original.id)
    )
    for user_id in sorted(set(holders) - ({actor.id} if actor else set())):
        session.add(
            EvidenceGrant(
                evidence_id=item.id, user_id=user_id, granted_by_id=actor.id if actor else None
            )
        )


def _derived_details(
    item: Evidence, original: Evidence | None, derivative: Derivative
) -> dict[str, Any]:
    """What the new item's intake entry says of its origin. The original's ERN only if
    everyone who may read this entry may see the original too (the original is standard, or
    the new item is restricted as well); otherwise the link is recorded on the original's
    side alone, which only those who may see the original read."""
    origin: dict[str, Any] = {"derivation": derivative.derivation.value}
    if original is not None and (
        original.sensitivity != Sensitivity.RESTRICTED or item.sensitivity == Sensitivity.RESTRICTED
    ):
        origin["ern"] = original.ern
    else:
        origin["ern"] = None
    return {"derived_from": origin, **derivative.intake}


def _original_entry(
    actor: User | None, case: Case, item: Evidence, original: Evidence, derivative: Derivative
) -> custody_log.NewEntry:
    """The entry on the original naming its derivative; a restricted derivative of a
    standard original is not named (who reads the original's entries may not see it): its
    own intake entry names the original instead."""
    named: dict[str, Any] = {"ern": item.ern, "sha256": item.sha256}
    restricted = Sensitivity.RESTRICTED
    if item.sensitivity == restricted and original.sensitivity != restricted:
        named = {"ern": None}
    return custody_log.NewEntry(
        actor,
        CustodyAction.LINKED,
        case_id=case.id,
        item_id=original.id,
        details={
            "ern": original.ern,
            "change": DERIVED_CHANGE[derivative.derivation],
            "derivative": {
                **named,
                "sensitivity": item.sensitivity.value,
                **derivative.intake,
            },
        },
    )
