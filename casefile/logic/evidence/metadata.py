"""A restricted item's descriptive metadata (title, description, original file name,
collector and extracted fields) is kept only sealed under the item's own data key, so that
crypto-shredding removes it with the content; the plain columns hold a placeholder title.
The collector's name is findable through a blind index (keyed hashes, never the words).

`reveal` is the one way to read an item's metadata: callers pass only items the actor was
authorized to see (through casefile.logic.authz)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, distinct, func, select, union
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.model import Evidence, IndexKey, IndexToken, Sensitivity
from casefile.vault import blind_index, envelope, sealing
from casefile.vault.envelope import Keyring, KeyringError

PLACEHOLDER_TITLE = "Restricted item"
INDEX_KEY_ID = 1
BATCH = 200
# The fields a filter covers, and where each comes from in the metadata.
INDEXED: dict[str, Callable[[dict[str, Any]], object]] = {
    "collected_by": lambda fields: (fields.get("collector") or {}).get("collected_by"),
}


@dataclass(frozen=True)
class Metadata:
    title: str
    description: str | None = None
    original_filename: str | None = None
    collector: dict[str, Any] = field(default_factory=dict)
    extracted: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # extracted at intake from a PDF or text file, for search
    sealed: bool = False  # stored only encrypted under the item's data key
    available: bool = True  # False: sealed, and cannot be opened (see `state`)
    damaged: bool = False  # the data key exists but the seal does not open: tampered

    @property
    def state(self) -> str:
        """plain | sealed | destroyed (the data key was shredded) | damaged."""
        if not self.sealed:
            return "plain"
        if self.available:
            return "sealed"
        return "damaged" if self.damaged else "destroyed"


def _plain(item: Evidence) -> Metadata:
    return Metadata(
        title=item.title,
        description=item.description,
        original_filename=item.original_filename,
        collector=dict(item.collector or {}),
        extracted=dict(item.extracted or {}),
        text=item.extracted_text,
    )


def _open(keyring: Keyring, item: Evidence) -> dict[str, Any]:
    if item.sealed_metadata is None:
        raise KeyringError("this item's metadata is not sealed")
    cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
    return sealing.unseal(cipher, item.id, item.sealed_metadata)


def reveal(keyring: Keyring, item: Evidence) -> Metadata:
    """The item's metadata, opened if sealed. A shredded item's is gone: a placeholder."""
    if item.wrapped_key is None and item.sensitivity == Sensitivity.RESTRICTED:
        return Metadata(title=PLACEHOLDER_TITLE, sealed=True, available=False)  # shredded
    if item.sealed_metadata is None:
        return _plain(item)
    try:
        fields = _open(keyring, item)
    except KeyringError:
        return Metadata(title=item.title, sealed=True, available=False, damaged=True)
    return Metadata(
        title=fields.get("title") or item.title,
        description=fields.get("description"),
        original_filename=fields.get("original_filename"),
        collector=dict(fields.get("collector") or {}),
        extracted=dict(fields.get("extracted") or {}),
        text=fields.get("text"),
        sealed=True,
    )


def reveal_all(keyring: Keyring, items: Iterable[Evidence]) -> dict[uuid.UUID, Metadata]:
    return {item.id: reveal(keyring, item) for item in items}


# --- sealing ----------------------------------------------------------------------------------


def on_intake(
    session: Session, keyring: Keyring, item: Evidence, filename: str | None
) -> dict[str, Any]:
    """Seal a new item's metadata if it is restricted (it must be in the session, not yet
    committed). What the intake custody entry may say about the file name: the name for a
    standard item; for a restricted one only a commitment to it, checkable by who can open
    the seal (`filename_commitment`)."""
    if item.sensitivity != Sensitivity.RESTRICTED:
        return {"filename": filename}
    commitment_key = _seal(session, keyring, item)
    details: dict[str, Any] = {"metadata": "sealed"}
    if filename:
        details["filename_commitment"] = sealing.commitment(commitment_key, filename)
    return details


def resubmission_details(
    item: Evidence, filename: str | None, *, restricted: bool
) -> dict[str, Any]:
    """What a "submitted again" custody entry may say about the file name sent."""
    if restricted or item.sensitivity == Sensitivity.RESTRICTED:
        return {"metadata": "sealed"}
    return {"filename": filename}


def filename_commitment(keyring: Keyring, item: Evidence, filename: str) -> str | None:
    """For checking an intake entry's commitment against a file name (None: not sealed, or
    no longer openable)."""
    try:
        key = _open(keyring, item).get("commitment_key")
    except KeyringError:
        return None
    return sealing.commitment(key, filename) if key else None


def rewrite(
    session: Session,
    keyring: Keyring,
    item: Evidence,
    *,
    title: str,
    description: str | None,
    collector: dict[str, Any],
) -> str | None:
    """Replace an item's title, description and collector fields (an edit). A restricted
    item's are sealed again under its data key, with its other sealed fields (file name,
    extracted, commitment key) as they were, and its blind index rewritten; returns its
    commitment key. A standard item's columns are written; returns None."""
    if item.sensitivity != Sensitivity.RESTRICTED:
        item.title, item.description, item.collector = title, description, dict(collector)
        return None
    if item.sealed_metadata is None:  # from before sealing existed: sealed now
        fields: dict[str, Any] = {
            "original_filename": item.original_filename,
            "extracted": dict(item.extracted or {}),
            "text": item.extracted_text,
        }
    else:
        fields = _open(keyring, item)
    fields.update(title=title, description=description, collector=dict(collector))
    commitment_key = fields.setdefault("commitment_key", sealing.new_commitment_key())
    cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
    item.sealed_metadata = sealing.seal(cipher, item.id, fields)
    _clear(item)
    _index(session, keyring, item.id, fields)
    return str(commitment_key)


def seal(session: Session, keyring: Keyring, item: Evidence) -> str:
    """An item made restricted after intake (its `sensitivity` set already): its metadata
    sealed as at intake, its columns cleared, its collector indexed blindly; returns the
    commitment key kept in the seal."""
    if item.sensitivity != Sensitivity.RESTRICTED or item.sealed_metadata is not None:
        raise KeyringError("only a restricted item whose metadata is in the clear is sealed")
    return _seal(session, keyring, item)


def unseal(session: Session, keyring: Keyring, item: Evidence) -> None:
    """A restricted item made standard (its `sensitivity` set already): its sealed metadata
    opened back into its columns, the seal and its blind index entries dropped. Raises
    KeyringError if the seal does not open (damaged, or the item was shredded)."""
    if item.sensitivity == Sensitivity.RESTRICTED:
        raise KeyringError("set the item's sensitivity to standard before unsealing it")
    if item.sealed_metadata is not None:
        fields = _open(keyring, item)
        item.title = fields.get("title") or item.title
        item.description = fields.get("description")
        item.original_filename = fields.get("original_filename")
        item.collector = dict(fields.get("collector") or {})
        item.extracted = dict(fields.get("extracted") or {})
        item.extracted_text = fields.get("text")
        item.sealed_metadata = None
    session.execute(delete(IndexToken).where(IndexToken.evidence_id == item.id))


def _seal(session: Session, keyring: Keyring, item: Evidence) -> str:
    commitment_key = sealing.new_commitment_key()
    fields = {
        "title": item.title,
        "description": item.description,
        "original_filename": item.original_filename,
        "collector": dict(item.collector or {}),
        "extracted": dict(item.extracted or {}),
        "text": item.extracted_text,
        "commitment_key": commitment_key,
    }
    cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
    item.sealed_metadata = sealing.seal(cipher, item.id, fields)
    _clear(item)
    _index(session, keyring, item.id, fields)
    return commitment_key


def _clear(item: Evidence) -> None:
    item.title = PLACEHOLDER_TITLE
    item.description = None
    item.original_filename = None
    item.collector = {}
    item.extracted = {}
    item.extracted_text = None


def _index(session: Session, keyring: Keyring, item_id: uuid.UUID, fields: dict[str, Any]) -> None:
    key = index_key(session, keyring, create=True)
    assert key is not None  # noqa: S101 - create=True always gives one
    session.execute(delete(IndexToken).where(IndexToken.evidence_id == item_id))
    for name, source in INDEXED.items():
        value = source(fields)
        if isinstance(value, str) and value.strip():
            for token_hash in key.hashes(name, value):
                session.add(IndexToken(evidence_id=item_id, field=name, token_hash=token_hash))


def forget(session: Session, item: Evidence) -> None:
    """On crypto-shredding a restricted item: the seal goes with its data key (it is noise
    without it, and the ciphertext is dropped as well), and so do its blind index entries."""
    if item.sensitivity == Sensitivity.RESTRICTED:
        item.sealed_metadata = None
        _clear(item)
    session.execute(delete(IndexToken).where(IndexToken.evidence_id == item.id))


@dataclass(frozen=True)
class SealReport:
    sealed: int
    wiped: int  # shredded items whose metadata was still in the clear: removed


def seal_restricted(
    session: Session, keyring: Keyring, progress: Callable[[int], None] | None = None
) -> SealReport:
    """Seal every restricted item whose metadata is still in the clear (rows from before
    sealing existed). Commits each batch: rerun after an interruption and it carries on."""
    sealed = wiped = 0
    last_id: uuid.UUID | None = None
    while True:
        query = (
            select(Evidence)
            .where(
                Evidence.sensitivity == Sensitivity.RESTRICTED,
                Evidence.sealed_metadata.is_(None),
            )
            .order_by(Evidence.id)
            .limit(BATCH)
        )
        if last_id is not None:
            query = query.where(Evidence.id > last_id)
        batch = list(session.scalars(query))
        if not batch:
            break
        for item in batch:
            if item.wrapped_key is None:  # shredded: nothing to seal under; drop the clear text
                if _plain(item) != Metadata(title=PLACEHOLDER_TITLE):
                    _clear(item)
                    session.execute(delete(IndexToken).where(IndexToken.evidence_id == item.id))
                    _search_index().remove(session, item.id)
                    wiped += 1
            else:
                _seal(session, keyring, item)
                _search_index().index_evidence(session, keyring, item, flag=False)
                sealed += 1
        session.commit()
        last_id = batch[-1].id
        if progress is not None:
            progress(len(batch))
    return SealReport(sealed=sealed, wiped=wiped)


def _search_index() -> Any:
    from casefile.logic.search import index  # noqa: PLC0415 - search builds on this module

    return index


# --- the blind index --------------------------------------------------------------------------


def index_key(session: Session, keyring: Keyring, *, create: bool) -> blind_index.IndexKey | None:
    row = session.get(IndexKey, INDEX_KEY_ID)
    if row is None:
        if not create:
            return None
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(IndexKey)
            .values(id=INDEX_KEY_ID, wrapped=blind_index.new_wrapped(keyring), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = session.get(IndexKey, INDEX_KEY_ID, populate_existing=True)
        assert row is not None  # noqa: S101 - inserted, or another transaction did
    return blind_index.unwrap(keyring, row.wrapped)


def rewrap_index_key(session: Session, keyring: Keyring) -> int:
    """KEK rotation: the index key wrapped under the current primary (1 if rewrapped)."""
    row = session.get(IndexKey, INDEX_KEY_ID)
    if row is None or envelope.wrapped_by(row.wrapped) == keyring.primary_key_id:
        return 0
    row.wrapped = blind_index.rewrap(keyring, row.wrapped)
    return 1


def matching(
    session: Session, keyring: Keyring, name: str, text: str
) -> Select[uuid.UUID] | None:
    """Ids of sealed items whose field `name` is `text` (normalised) or has all its words."""
    key = index_key(session, keyring, create=False)
    whole, words = blind_index.query_tokens(text)
    if key is None or not whole:
        return None
    in_field = IndexToken.field == name
    exact = select(IndexToken.evidence_id).where(
        in_field, IndexToken.token_hash == key.hash(name, whole)
    )
    if not words:
        return exact
    hashes = {key.hash(name, word) for word in words}
    every_word = (
        select(IndexToken.evidence_id)
        .where(in_field, IndexToken.token_hash.in_(hashes))
        .group_by(IndexToken.evidence_id)
        .having(func.count(distinct(IndexToken.token_hash)) == len(hashes))
    )
    return select(union(exact, every_word).subquery().c[0])
