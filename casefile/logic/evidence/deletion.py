"""Legal holds and deletion. Deleting an item destroys its data key (crypto-shredding) and its
blob, keeps a tombstone row, and is a custody entry; a case under legal hold refuses it.

What was made of the item goes with it, in the same transaction (docs/derivatives.md):

- its derivatives (translations and redacted versions), and theirs (a redaction of a
  translation), each deleted as the item is, with its own `deleted` entry naming the item it
  was made from and the item whose deletion took it (`with`). If one of them may not be
  deleted by the actor (a restricted one they do not see), nothing is deleted (409).
- the stored exports (court bundles) holding any of them: a finished one is purged (its data
  key destroyed in this transaction, its blob deleted after the commit, status `purged` with
  the reason in `error`), a queued or running one fails (its run writes nothing:
  logic/export/jobs.py checks again under the custody lock before it publishes). The
  deleted item's `deleted` entry names each export purged or stopped (`exports`).

Blobs are deleted after the commit: a failure there leaves an orphan that `casefile scrub`
reports (and removes with --repair)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict
from casefile.logic.evidence import derivatives, metadata, sharing
from casefile.logic.export.jobs import held_items
from casefile.logic.search import index as search_index
from casefile.logic.text import Reason, refuse_nul
from casefile.model import (
    Case,
    CustodyAction,
    Evidence,
    EvidenceStatus,
    Export,
    ExportStatus,
    User,
)
from casefile.vault.blobstore import BlobStore

log = logging.getLogger("casefile.deletion")


class LegalHoldInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: StrictBool  # true or false: not "yes", not 0
    reason: Reason


class DeletionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    reason: Reason


@retry.transaction
def set_legal_hold(
    session: Session, actor: User | None, case_id: uuid.UUID, data: LegalHoldInput
) -> Case:
    case = authz.authorize_case(session, actor, case_id, CaseAction.SET_LEGAL_HOLD, for_update=True)
    if case.legal_hold != data.on:
        case.legal_hold = data.on
        custody_log.append(
            session,
            actor,
            CustodyAction.LEGAL_HOLD_CHANGED,
            case_id=case.id,
            details={"on": data.on, "reason": data.reason},
        )
    session.commit()
    return case


@dataclass
class DeletionPlan:
    """What deleting an item takes with it: its active derivatives, recursively (oldest
    first, each after the item it was made from), and the exports holding any of them that
    still have or will have a bundle (finished ones are purged, queued or running ones fail).
    `hidden` counts the derivatives the actor does not see (then the deletion is refused)."""

    item: Evidence
    derivatives: list[Evidence] = field(default_factory=list)
    hidden: int = 0
    stored_exports: list[Export] = field(default_factory=list)
    unfinished_exports: list[Export] = field(default_factory=list)


def _lock_items(session: Session, item_ids: Sequence[uuid.UUID]) -> None:
    """The items' rows read again and locked (PostgreSQL: FOR NO KEY UPDATE, in id order:
    the lock order's item rows), so a deletion decides on them as they are now."""
    if item_ids:
        session.scalars(
            select(Evidence)
            .where(Evidence.id.in_(item_ids))
            .order_by(Evidence.id)
            .with_for_update(of=Evidence, **authz.NO_KEY_UPDATE)
            .execution_options(populate_existing=True)
        ).all()


def _derivative_tree(session: Session, item: Evidence) -> list[Evidence]:
    """The active items made from `item`, recursively, each after its original."""
    return [
        one
        for one in derivatives.derivative_tree(session, item)
        if one.status == EvidenceStatus.ACTIVE
    ]


def exports_holding(
    session: Session, case_id: uuid.UUID, item_ids: Sequence[uuid.UUID], *, for_update: bool
) -> list[Export]:
    """The case's exports holding any of the items that have, or may yet have, a bundle:
    done, queued or running (the custody lock held first when `for_update`: the lock order)."""
    query = (
        select(Export)
        .where(
            Export.case_id == case_id,
            Export.status.in_((ExportStatus.DONE, ExportStatus.QUEUED, ExportStatus.RUNNING)),
        )
        .order_by(Export.created_at, Export.id)
        .execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update()
    wanted = set(item_ids)
    return [export for export in session.scalars(query) if held_items(export) & wanted]


def plan(session: Session, actor: User | None, item: Evidence) -> DeletionPlan:
    """What deleting `item` (which the actor may delete) would take with it: for the
    confirmation on the item page."""
    user = authz.require_active(actor)
    tree = _derivative_tree(session, item)
    visible = [child for child in tree if authz.may_see_item(session, user, child)]
    exports = exports_holding(session, item.case_id, [item.id] + [c.id for c in tree],
                              for_update=False)
    return DeletionPlan(
        item=item,
        derivatives=visible,
        hidden=len(tree) - len(visible),
        stored_exports=[e for e in exports if e.status == ExportStatus.DONE],
        unfinished_exports=[e for e in exports if e.status != ExportStatus.DONE],
    )


@dataclass
class Deleted:
    """What a deletion did: the item, the derivatives deleted with it, the exports purged
    (their bundles destroyed) and those stopped (queued or running)."""

    item: Evidence
    derivatives: list[Evidence]
    purged: list[Export]
    stopped: list[Export]


def delete_item(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    data: DeletionInput,
    *,
    store: BlobStore,
) -> Evidence:
    return delete_with_derivatives(session, actor, item_id, data, store=store).item


@retry.transaction
def delete_with_derivatives(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    data: DeletionInput,
    *,
    store: BlobStore,
) -> Deleted:
    """Delete the item, its derivatives (recursively) and the exports holding any of them,
    in one transaction; their blobs after the commit."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.DELETE_EVIDENCE)
    case = authz.authorize_case(
        session, actor, item.case_id, CaseAction.DELETE_EVIDENCE, for_update=True
    )
    if case.legal_hold:
        raise Conflict("the case is under legal hold: nothing in it can be deleted")
    custody_log.hold_lock(session)  # the lock order: the custody lock, then the export rows
    # Under the custody lock, which another deletion or a restriction holds until it
    # commits: the item as it is now (the session may hold it as read before the lock).
    _lock_items(session, [item.id])
    if item.status == EvidenceStatus.DELETED:
        raise Conflict("this item was deleted already")
    user = authz.require_active(actor)
    made = _derivative_tree(session, item)
    for child in made:
        if not authz.may_see_item(session, user, child):
            # Deleting is a lead's: a lead manages the grants of every restricted item of
            # the case, seen or not, so its ERN tells them nothing new.
            raise Conflict(
                f"{child.ern}, a restricted item made from this one that you do not see, "
                "would be deleted with it: give yourself a grant to it (on the record) or ask "
                "a lead who holds one; nothing was deleted"
            )
    items = [item, *made]
    _lock_items(session, [x.id for x in made])  # the item rows before the export rows
    exports = exports_holding(session, case.id, [x.id for x in items], for_update=True)
    now = utcnow()
    stops = _stop_exports(exports, items, now)
    for one in items:
        _delete_one(session, actor, one, data, root=item, now=now,
                    exports=stops.caused.get(one.id, []))
    session.flush()
    # Another active item may share a blob (a resubmission by someone who could not see
    # this item): the blob then stays for it; this item's own copy of the data key is gone.
    blobs = [one.blob_id for one in items if not sharing.blob_in_use(session, one.content_owner)]
    session.commit()
    # After the commit: a failure here leaves an orphan for `casefile scrub`.
    for blob_id in dict.fromkeys([*blobs, *stops.blobs]):
        try:
            store.delete(blob_id)
        except Exception:
            log.exception("blob %s of a deletion could not be removed: scrub reports it", blob_id)
    return Deleted(item=item, derivatives=made, purged=stops.purged, stopped=stops.stopped)


@dataclass
class _Stops:
    purged: list[Export] = field(default_factory=list)
    stopped: list[Export] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)  # to delete after the commit
    caused: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)


def _stop_exports(exports: list[Export], items: list[Evidence], now: dt.datetime) -> _Stops:
    """Purge the finished exports (their data keys destroyed now), fail the unfinished ones;
    each is named in the entry of the first of `items` it holds."""
    stops = _Stops()
    for export in exports:
        held = held_items(export)
        cause = next(one for one in items if one.id in held)
        line: dict[str, Any] = {"id": str(export.id), "status": export.status.value}
        if export.status == ExportStatus.DONE:
            line.update(bundle=export.bundle_name, sha256=export.sha256, data_key="destroyed")
            export.status = ExportStatus.PURGED
            export.error = (
                f"{cause.ern} was deleted on {now:%Y-%m-%d %H:%M} UTC: this stored bundle held "
                "it and was destroyed with it (its data key and its file); export the filing "
                "again for a bundle without it"
            )
            export.wrapped_key = None  # crypto-shredding: the blob is noise from the commit on
            if export.blob_id:
                stops.blobs.append(export.blob_id)
            stops.purged.append(export)
        else:
            export.status = ExportStatus.FAILED
            export.stage = "failed"
            export.error = (
                f"{cause.ern} was deleted while this export was waiting or being made: nothing "
                "of it was kept; export the filing again"
            )
            export.finished_at = now
            # A running job's temporary blob is removed by the job (it finds its row taken).
            stops.stopped.append(export)
        export.blob_id = None
        stops.caused.setdefault(cause.id, []).append(line)
    return stops


def _delete_one(
    session: Session,
    actor: User | None,
    item: Evidence,
    data: DeletionInput,
    *,
    root: Evidence,
    now: dt.datetime,
    exports: list[dict[str, Any]],
) -> None:
    item.status = EvidenceStatus.DELETED
    item.wrapped_key = None  # crypto-shredding: without its data key the blob is noise
    metadata.forget(session, item)  # and so is its sealed metadata; its index entries go
    search_index.remove(session, item.id)
    item.deleted_at = now
    details: dict[str, Any] = {
        "ern": item.ern,
        "sha256": item.sha256,
        "reason": data.reason,
        "data_key": "destroyed",
    }
    if item is not root:
        original = session.get_one(Evidence, item.derived_from_id)
        details["derived_from"] = {"id": str(original.id), "ern": original.ern}
        details["with"] = {"id": str(root.id), "ern": root.ern}
    if exports:
        details["exports"] = exports
    custody_log.append(
        session,
        actor,
        CustodyAction.DELETED,
        case_id=item.case_id,
        item_id=item.id,
        details=details,
    )

