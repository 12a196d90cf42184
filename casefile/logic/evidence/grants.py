"""Per-person access to restricted items (e.g. witness-identifying). Only a lead grants or
withdraws it, and each change is a custody entry. A lead needs a grant too to see one: the
lead can give it to themselves, on the record."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.accounts.accounts import find_by_email
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.model import CustodyAction, Evidence, EvidenceGrant, Sensitivity, User


class GrantInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


def _restricted_item(session: Session, actor: User | None, item_id: uuid.UUID) -> Evidence:
    """A lead may manage grants of any restricted item of the case, seen or not."""
    user = authz.require_active(actor)
    item = session.get(Evidence, item_id)
    if item is None or authz.role_in_case(session, user, item.case_id) is None:
        raise NotFound("evidence not found")
    authz.authorize_case(session, user, item.case_id, CaseAction.GRANT_ACCESS)
    if item.sensitivity != Sensitivity.RESTRICTED:
        raise Conflict("this item is not restricted: every member of the case may see it")
    return item


def authorize_management(session: Session, actor: User | None, item_id: uuid.UUID) -> None:
    """Refuse at once one who may not manage the item's grants: views call this before they
    read the input, so that bad input from a non-lead gets 403 (a non-member's 404)."""
    _restricted_item(session, actor, item_id)


def list_grants(session: Session, actor: User | None, item_id: uuid.UUID) -> list[EvidenceGrant]:
    item = _restricted_item(session, actor, item_id)
    return list(session.scalars(select(EvidenceGrant).where(EvidenceGrant.evidence_id == item.id)))


@retry.transaction
def grant(
    session: Session, actor: User | None, item_id: uuid.UUID, data: GrantInput
) -> EvidenceGrant:
    item = _restricted_item(session, actor, item_id)
    user = find_by_email(session, str(data.email))
    if user is None or authz.role_in_case(session, user, item.case_id) is None:
        raise ValidationFailed({"email": "no member of this case has this email"})
    if session.get(EvidenceGrant, (item.id, user.id)) is not None:
        raise Conflict(f"{user.email} already has access")
    row = EvidenceGrant(
        evidence_id=item.id, user_id=user.id, granted_by_id=actor.id if actor else None
    )
    session.add(row)
    custody_log.append(
        session,
        actor,
        CustodyAction.ACCESS_GRANTED,
        case_id=item.case_id,
        item_id=item.id,
        details={"ern": item.ern, "person": str(user.id), "email": user.email},
    )
    session.commit()
    return row


@retry.transaction
def revoke(session: Session, actor: User | None, item_id: uuid.UUID, user_id: uuid.UUID) -> None:
    item = _restricted_item(session, actor, item_id)
    row = session.get(EvidenceGrant, (item.id, user_id))
    if row is None:
        raise NotFound("that person has no access to grant back")
    session.delete(row)
    custody_log.append(
        session,
        actor,
        CustodyAction.ACCESS_REVOKED,
        case_id=item.case_id,
        item_id=item.id,
        details={"ern": item.ern, "person": str(user_id)},
    )
    session.commit()
