"""Legal holds and deletion. Deleting an item destroys its data key (crypto-shredding) and its
blob, keeps a tombstone row, and is a custody entry; a case under legal hold refuses it."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, StrictBool, field_validator
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict
from casefile.logic.evidence import metadata, sharing
from casefile.logic.search import index as search_index
from casefile.logic.text import Reason, refuse_nul
from casefile.model import Case, CustodyAction, Evidence, EvidenceStatus, User
from casefile.vault.blobstore import BlobStore


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


@retry.transaction
def delete_item(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    data: DeletionInput,
    *,
    store: BlobStore,
) -> Evidence:
    item = authz.authorize_item(session, actor, item_id, CaseAction.DELETE_EVIDENCE)
    case = authz.authorize_case(
        session, actor, item.case_id, CaseAction.DELETE_EVIDENCE, for_update=True
    )
    if case.legal_hold:
        raise Conflict("the case is under legal hold: nothing in it can be deleted")
    if item.status == EvidenceStatus.DELETED:
        raise Conflict("this item was deleted already")
    item.status = EvidenceStatus.DELETED
    item.wrapped_key = None  # crypto-shredding: without its data key the blob is noise
    metadata.forget(session, item)  # and so is its sealed metadata; its index entries go
    search_index.remove(session, item.id)
    item.deleted_at = utcnow()
    custody_log.append(
        session,
        actor,
        CustodyAction.DELETED,
        case_id=case.id,
        item_id=item.id,
        details={
            "ern": item.ern,
            "sha256": item.sha256,
            "reason": data.reason,
            "data_key": "destroyed",
        },
    )
    session.flush()
    # Another active item may share this blob (a resubmission by someone who could not see
    # this item): the blob then stays for it; this item's own copy of the data key is gone.
    shared = sharing.blob_in_use(session, item.content_owner)
    session.commit()
    if not shared:
        store.delete(item.blob_id)  # after the commit: a failure here leaves an orphan for scrub
    return item
