"""Per-person access to restricted items (e.g. witness-identifying). A lead grants and
withdraws it; the item's uploader, while they see it, may give it to the case's leads (so a
lead can review it); each change is a custody entry. A lead needs a grant too to see one: the
lead can give it to themselves, on the record. A member who neither leads nor sees the item
is answered as for a missing item: trying to manage its access tells them nothing.

Withdrawing a person's grant to an item withdraws their grants to the items made from it too
(its translations and redacted versions, recursively; `revoke`), each on the record. Giving
access stays per item: a grant to the original is copied to a translation only when the
translation is made (logic/evidence/registration.py), never later."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, EmailStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.accounts.accounts import find_by_email
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from casefile.logic.evidence import derivatives
from casefile.model import (
    CaseMember,
    CustodyAction,
    Evidence,
    EvidenceGrant,
    Role,
    Sensitivity,
    User,
)


class GrantInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


def _restricted_item(
    session: Session, actor: User | None, item_id: uuid.UUID
) -> tuple[Evidence, bool]:
    """The restricted item, and whether the actor leads its case. A lead may manage the
    grants of any restricted item of the case, seen or not; its uploader, while they see it,
    may give it to the case's leads. Another member who sees the item is refused; to one who
    does not, it does not exist (like a missing item), whatever they send."""
    user = authz.require_active(actor)
    item = session.get(Evidence, item_id)
    role = authz.role_in_case(session, user, item.case_id) if item is not None else None
    if item is None or role is None:
        raise NotFound("evidence not found")
    lead = authz.can(role, CaseAction.GRANT_ACCESS)
    if not lead:
        if not authz.may_see_item(session, user, item):
            raise NotFound("evidence not found")
        if item.created_by_id != user.id or not authz.can(role, CaseAction.ADD_EVIDENCE):
            raise Forbidden(f"your role ({role.value}) may not grant access")
    if item.sensitivity != Sensitivity.RESTRICTED:
        raise Conflict("this item is not restricted: every member of the case may see it")
    return item, lead


def authorize_management(session: Session, actor: User | None, item_id: uuid.UUID) -> Evidence:
    """Refuse at once one who may not manage the item's grants: views call this before they
    read the input, so that bad input from a non-lead gets 403 (a non-member's 404)."""
    return _restricted_item(session, actor, item_id)[0]


def may_manage(session: Session, actor: User | None, item: Evidence) -> bool:
    """Whether the item page shows its "who can see this item" card to the actor (an item
    they were authorized to see)."""
    try:
        _restricted_item(session, actor, item.id)
    except (Forbidden, Conflict, NotFound):
        return False
    return True


def list_grants(session: Session, actor: User | None, item_id: uuid.UUID) -> list[EvidenceGrant]:
    item, _ = _restricted_item(session, actor, item_id)
    return list(session.scalars(select(EvidenceGrant).where(EvidenceGrant.evidence_id == item.id)))


@dataclass(frozen=True)
class Holder:
    """One person's access to a restricted item, for the item page."""

    user: User
    granted_by: User | None
    granted_at: dt.datetime
    uploader: bool


@dataclass(frozen=True)
class Access:
    """Who can see a restricted item, and what the actor may change about it."""

    holders: list[Holder]
    candidates: list[User]  # members the actor may give access to (none hold it yet)
    may_withdraw: bool  # leads only


def access(session: Session, actor: User | None, item_id: uuid.UUID) -> Access:
    """The item's grants (oldest first) and whom the actor may still give access to: any
    member without it, for a lead; a lead without it, for the uploader."""
    item, lead = _restricted_item(session, actor, item_id)
    rows = session.scalars(
        select(EvidenceGrant)
        .where(EvidenceGrant.evidence_id == item.id)
        .order_by(EvidenceGrant.granted_at, EvidenceGrant.user_id)
    ).all()
    holders = [
        Holder(
            user=session.get_one(User, row.user_id),
            granted_by=session.get(User, row.granted_by_id) if row.granted_by_id else None,
            granted_at=row.granted_at,
            uploader=row.user_id == item.created_by_id,
        )
        for row in rows
    ]
    members = select(CaseMember).where(
        CaseMember.case_id == item.case_id,
        CaseMember.user_id.not_in([row.user_id for row in rows]),
    )
    if not lead:
        members = members.where(CaseMember.role == Role.LEAD)
    candidates = sorted(
        (member.user for member in session.scalars(members)),
        key=lambda user: ((user.display_name or user.email).casefold(), user.email),
    )
    return Access(holders=holders, candidates=candidates, may_withdraw=lead)


@retry.transaction
def grant(
    session: Session, actor: User | None, item_id: uuid.UUID, data: GrantInput
) -> EvidenceGrant:
    item, lead = _restricted_item(session, actor, item_id)
    user = find_by_email(session, str(data.email))
    role = authz.role_in_case(session, user, item.case_id) if user is not None else None
    if user is None or role is None:
        raise ValidationFailed({"email": "no member of this case has this email"})
    if not lead and role != Role.LEAD:
        raise Forbidden("as its uploader you may give access to the case's leads only")
    # Under the custody lock (the lock order), so that two grants of one person at the same
    # moment answer 409 to the second instead of failing on the primary key.
    custody_log.hold_lock(session)
    if session.get(EvidenceGrant, (item.id, user.id)) is not None:
        raise Conflict(f"{user.email} already has access")
    row, entry = new_grant(actor, item, user)
    session.add(row)
    custody_log.append_many(session, [entry])
    session.commit()
    return row


def new_grant(
    actor: User | None, item: Evidence, user: User, *, bulk: str | None = None
) -> tuple[EvidenceGrant, custody_log.NewEntry]:
    """The grant row and its custody entry, for a caller that authorized the actor to give
    `user` (a member of the item's case) access to the restricted `item`, under the custody
    lock; one grant at a time here, or many (`casefile.logic.tags.bulk`)."""
    row = EvidenceGrant(
        evidence_id=item.id, user_id=user.id, granted_by_id=actor.id if actor else None
    )
    details: dict[str, str] = {"ern": item.ern, "person": str(user.id), "email": user.email}
    if bulk is not None:
        details["bulk"] = bulk
    entry = custody_log.NewEntry(
        actor, CustodyAction.ACCESS_GRANTED, case_id=item.case_id, item_id=item.id, details=details
    )
    return row, entry


@retry.transaction
def revoke(
    session: Session, actor: User | None, item_id: uuid.UUID, user_id: uuid.UUID
) -> list[Evidence]:
    """Withdraw the person's grant to the item, and their grants to every item made from it
    (recursively: a translation carries all of the original's content, a redaction part of
    it), each with its own `access_revoked` entry; the derivatives whose grant went."""
    item, lead = _restricted_item(session, actor, item_id)
    if not lead:
        raise Forbidden("only a lead may withdraw access")
    custody_log.hold_lock(session)  # the lock order: the grant rows are written under it
    row = session.get(EvidenceGrant, (item.id, user_id))
    if row is None:
        raise NotFound("that person has no access to grant back")
    session.delete(row)
    entries = [
        custody_log.NewEntry(
            actor,
            CustodyAction.ACCESS_REVOKED,
            case_id=item.case_id,
            item_id=item.id,
            details={"ern": item.ern, "person": str(user_id)},
        )
    ]
    withdrawn: list[Evidence] = []
    for derivative in derivatives.derivative_tree(session, item):
        held = session.get(EvidenceGrant, (derivative.id, user_id))
        if held is None:
            continue
        session.delete(held)
        withdrawn.append(derivative)
        entries.append(
            custody_log.NewEntry(
                actor,
                CustodyAction.ACCESS_REVOKED,
                case_id=derivative.case_id,
                item_id=derivative.id,
                details={
                    "ern": derivative.ern,
                    "person": str(user_id),
                    "with": {"id": str(item.id), "ern": item.ern},
                },
            )
        )
    custody_log.append_many(session, entries)
    session.commit()
    return withdrawn

