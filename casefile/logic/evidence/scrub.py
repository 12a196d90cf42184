"""`casefile scrub`: read every active item back and check it, and check that the database and
the blob store agree. Run by the operator on the server (actor None), so no case access is
decided here; each item checked gets a custody entry either way.

- Every active item's blob is decrypted and its AEAD and SHA-256 checked through the same code
  as a download (evidence's verified reader), which also records an integrity failure.
- An active item without a blob is a failure ("missing"), and so is a restricted item whose
  sealed metadata does not authenticate.
- A blob that no active item owns is an orphan; a `.tmp-` file is the leftover of a write that
  was interrupted. Both are reported; `repair` removes them, and nothing else. Files younger
  than `grace` may belong to an intake in progress (its blob is written before its row is
  committed): they are listed but neither counted nor removed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic.custody import log as custody_log
from casefile.logic.evidence import metadata, reading, sharing, tus
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.model import CustodyAction, Evidence, EvidenceStatus, Export, TusChunk
from casefile.vault.blobstore import BLOB_ID, BlobStore, LocalBlobStore
from casefile.vault.envelope import Keyring

BATCH = 200
MISSING = "blob missing from the store"
SEALED_DAMAGED = "its sealed metadata fails authentication"


@dataclass(frozen=True)
class ItemFailure:
    item_id: uuid.UUID
    case_id: uuid.UUID
    ern: str
    reason: str


@dataclass
class ScrubReport:
    checked: int = 0
    ok: int = 0
    bytes_checked: int = 0
    failures: list[ItemFailure] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # blob ids no active item owns
    leftovers: list[str] = field(default_factory=list)  # `.tmp-` files of interrupted writes
    recent: list[str] = field(default_factory=list)  # younger than the grace period: kept
    removed: list[str] = field(default_factory=list)  # by repair
    kept: list[tuple[str, str]] = field(default_factory=list)  # (name, why) not removed by repair
    expired_uploads: int = 0  # abandoned resumable uploads removed by repair

    @property
    def unrepaired(self) -> list[str]:
        return [name for name in (*self.orphans, *self.leftovers) if name not in self.removed]

    @property
    def passed(self) -> bool:
        return not self.failures and not self.unrepaired


ItemDone = Callable[[int], None]  # bytes of the item just checked


def active_items(session: Session) -> list[tuple[uuid.UUID, int]]:
    """(id, size) of every active item, in case and ERN order."""
    rows = session.execute(
        select(Evidence.id, Evidence.size)
        .where(Evidence.status == EvidenceStatus.ACTIVE)
        .order_by(Evidence.case_id, Evidence.seq)
    ).all()
    session.commit()  # end the read: SQLite takes its write lock at BEGIN
    return [(item_id, size) for item_id, size in rows]


def scrub(
    session: Session,
    *,
    store: BlobStore,
    keyring: Callable[[], Keyring],
    items: Sequence[tuple[uuid.UUID, int]] | None = None,
    repair: bool = False,
    grace: dt.timedelta = dt.timedelta(hours=1),
    on_item: ItemDone | None = None,
) -> ScrubReport:
    """Check every active item (or `items`, from `active_items`), then the store's extra files;
    with `repair`, remove orphans and leftovers older than `grace`."""
    report = ScrubReport()
    listed = set(store.blob_ids())
    leftovers = list(store.leftovers())
    if items is None:
        items = active_items(session)
    for start in range(0, len(items), BATCH):
        _check_batch(
            session,
            [item_id for item_id, _ in items[start : start + BATCH]],
            store=store,
            keyring=keyring,
            listed=listed,
            report=report,
            on_item=on_item,
        )

    # An intake writes its blob before it commits its row: a blob without an item may be one
    # on its way. Each is looked up again now, and those younger than `grace` are let be.
    # Encrypted chunks of resumable uploads in progress belong to those uploads.
    owned = (
        sharing.active_blob_ids(session)
        | tus.chunk_blob_ids(session)
        | export_blob_ids(session)  # exports' stored bundles, and those being written
    )
    old_enough = utcnow() - grace
    for blob_id in sorted(listed - owned):
        if _still_owned(session, blob_id):
            continue  # its item was committed after the items were listed
        _sort_extra(store, blob_id, old_enough, report.orphans, report)
    exporting = export_blob_ids(session)
    session.commit()
    for name in leftovers:
        if any(blob_id in name for blob_id in exporting):
            continue  # an export being written (logic/export/jobs.py removes its own)
        _sort_extra(store, name, old_enough, report.leftovers, report)
    if repair:
        _repair(session, store, report)
    return report


def _check_batch(
    session: Session,
    ids: list[uuid.UUID],
    *,
    store: BlobStore,
    keyring: Callable[[], Keyring],
    listed: set[str],
    report: ScrubReport,
    on_item: ItemDone | None,
) -> None:
    loaded = list(session.scalars(select(Evidence).where(Evidence.id.in_(ids))))
    session.commit()
    # Detached, the items keep their loaded fields through the rollback that recording a
    # failure begins with.
    session.expunge_all()
    by_id = {item.id: item for item in loaded}
    checked: list[Evidence] = []
    keys = keyring()
    for item_id in ids:
        item = by_id.get(item_id)
        if item is None or item.status != EvidenceStatus.ACTIVE:
            continue  # deleted since the list was read
        report.checked += 1
        reason = _verify(session, item, store, keys, listed)
        if reason is None:
            report.ok += 1
            report.bytes_checked += item.size
            checked.append(item)
        else:
            report.failures.append(ItemFailure(item.id, item.case_id, item.ern, reason))
        if on_item is not None:
            on_item(item.size)
    for item in checked:
        custody_log.append(
            session,
            None,
            CustodyAction.INTEGRITY_CHECKED,
            case_id=item.case_id,
            item_id=item.id,
            details={"ern": item.ern, "result": "ok"},
        )
    session.commit()


def _verify(
    session: Session, item: Evidence, store: BlobStore, keyring: Keyring, listed: set[str]
) -> str | None:
    """None if the item's blob decrypts, authenticates and hashes to its SHA-256; else why not.
    A failure is recorded in the custody log (and committed) before this returns."""
    if item.blob_id not in listed and not store.exists(item.blob_id):
        return _failed(session, item, MISSING)
    try:
        # The download path's own reader: decrypts, authenticates, hashes, and records a
        # failure as an INTEGRITY_FAILURE custody entry.
        for _ in reading._verified_chunks(session, None, item, store, keyring):  # noqa: SLF001
            pass
    except IntegrityFailure as error:
        cause = error.__cause__
        return f"{error}: {cause}" if cause is not None else str(error)
    if metadata.reveal(keyring, item).state == "damaged":
        return _failed(session, item, SEALED_DAMAGED)
    return None


def _failed(session: Session, item: Evidence, reason: str) -> str:
    """Record an integrity failure of the item in the custody log (committed); the reason."""
    session.rollback()
    custody_log.append(
        session,
        None,
        CustodyAction.INTEGRITY_FAILURE,
        case_id=item.case_id,
        item_id=item.id,
        details={"ern": item.ern, "reason": reason},
    )
    session.commit()
    return reason


def _still_owned(session: Session, blob_id: str) -> bool:
    if not BLOB_ID.fullmatch(blob_id):
        return False
    used = sharing.blob_in_use(session, uuid.UUID(hex=blob_id))
    chunk = session.scalar(select(TusChunk.blob_id).where(TusChunk.blob_id == blob_id))
    export = session.scalar(select(Export.id).where(Export.blob_id == blob_id))
    session.commit()
    return used or chunk is not None or export is not None


def export_blob_ids(session: Session) -> set[str]:
    """The blobs of exports (a finished one's bundle, or a running one's being written)."""
    return set(session.scalars(select(Export.blob_id).where(Export.blob_id.is_not(None))))


def _sort_extra(
    store: BlobStore, name: str, old_enough: dt.datetime, into: list[str], report: ScrubReport
) -> None:
    modified = _modified(store, name)
    if modified is not None and modified > old_enough:
        report.recent.append(name)
    else:
        into.append(name)


@runtime_checkable
class _Dated(Protocol):
    def modified(self, name: str) -> dt.datetime | None: ...


def _modified(store: BlobStore, name: str) -> dt.datetime | None:
    """When a blob or leftover was last written, where the store can tell."""
    if isinstance(store, _Dated):
        return store.modified(name)
    if not isinstance(store, LocalBlobStore):
        return None
    if BLOB_ID.match(name):
        found = next(iter(sorted(store.root.glob(f"??/??/{name}"))), None)
    else:
        found = store.root / name
    try:
        stamp = found.stat().st_mtime if found is not None else None
    except OSError:
        return None
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if stamp is not None else None


def _repair(session: Session, store: BlobStore, report: ScrubReport) -> None:
    report.expired_uploads = tus.purge_expired(session, store)
    session.commit()
    for blob_id in report.orphans:
        if _still_owned(session, blob_id):  # never a blob of an active item
            report.kept.append((blob_id, "it belongs to an active item now"))
            continue
        store.delete(blob_id)
        report.removed.append(blob_id)
    for name in report.leftovers:
        store.remove_leftover(name)
        report.removed.append(name)
