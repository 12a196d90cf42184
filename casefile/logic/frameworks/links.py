"""Proof links: an element of a charged crime (or mode of liability) → an evidence item of the
same case, with a strength and a note. Contributors and leads make, change and remove them;
each change is a custody entry about the item, with the link's before and after. A restricted
item can be linked only by one who may see it, and its links do not exist for anyone else:
changing or removing one is NotFound for them, as reading it is."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.frameworks import charges
from casefile.logic.frameworks.charges import CrimeId
from casefile.logic.text import Note
from casefile.model import (
    Case,
    Charge,
    CustodyAction,
    Evidence,
    EvidenceStatus,
    ProofLink,
    Strength,
    User,
)


class LinkInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charge_id: uuid.UUID
    element: CrimeId
    evidence_id: uuid.UUID
    strength: Strength
    note: Note = ""


class LinkChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strength: Strength | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _something(self) -> LinkChange:
        if self.strength is None and self.note is None:
            raise ValueError("give a strength, a note, or both")
        return self


def authorize_linking(session: Session, actor: User | None, case_id: uuid.UUID) -> Case:
    return authz.authorize_case(session, actor, case_id, CaseAction.LINK_PROOF)


def _item_for_link(
    session: Session, actor: User | None, case: Case, item_id: uuid.UUID
) -> Evidence:
    user = authz.require_active(actor)
    item = session.get(Evidence, item_id)
    # Another case's item and a restricted one the actor may not see get the same answer.
    if item is None or item.case_id != case.id or not authz.may_see_item(session, user, item):
        raise ValidationFailed({"evidence_id": "no item of this case has this id"})
    if item.status == EvidenceStatus.DELETED:
        raise ValidationFailed({"evidence_id": "this item was deleted"})
    return item


def _details(
    change: str,
    link: ProofLink,
    facts: dict[str, Any],
    ern: str,
    *,
    before: dict[str, str] | None,
    after: dict[str, str] | None,
) -> dict[str, Any]:
    return {
        "change": change,
        "link": str(link.id),
        "charge": facts,
        "element": link.element_id,
        "item": {"id": str(link.evidence_id), "ern": ern},
        "before": before,
        "after": after,
    }


@retry.transaction
def add_link(
    session: Session, actor: User | None, case_id: uuid.UUID, data: LinkInput
) -> ProofLink:
    case = authz.authorize_case(session, actor, case_id, CaseAction.LINK_PROOF, for_update=True)
    charge = session.get(Charge, data.charge_id)
    if charge is None or charge.case_id != case.id:
        raise ValidationFailed({"charge_id": "no charge of this case has this id"})
    framework, crime = charges.described(session, charge)
    if crime.element(data.element) is None:
        known = ", ".join(e.id for e in crime.elements)
        raise ValidationFailed(
            {"element": f"{crime.id} has no element '{data.element}' (its elements: {known})"}
        )
    item = _item_for_link(session, actor, case, data.evidence_id)
    taken = session.scalar(
        select(ProofLink.id).where(
            ProofLink.charge_id == charge.id,
            ProofLink.element_id == data.element,
            ProofLink.evidence_id == item.id,
        )
    )
    if taken is not None:
        raise Conflict(f"{item.ern} is already linked to element {data.element}; change that link")
    custody_log.hold_lock(session)
    now = utcnow()
    link = ProofLink(
        id=uuid.uuid4(),
        case_id=case.id,
        charge_id=charge.id,
        element_id=data.element,
        evidence_id=item.id,
        strength=data.strength,
        note=data.note,
        created_at=now,
        created_by_id=actor.id if actor else None,
        updated_at=now,
        updated_by_id=actor.id if actor else None,
    )
    session.add(link)
    facts = charges.charge_facts(charge, framework, crime)
    after = {"strength": data.strength.value, "note": data.note}
    custody_log.append(
        session,
        actor,
        CustodyAction.LINKED,
        case_id=case.id,
        item_id=item.id,
        details=_details("proof_link_added", link, facts, item.ern, before=None, after=after),
    )
    session.commit()
    return link


def visible_link(
    session: Session, actor: User | None, case: Case, link_id: uuid.UUID
) -> tuple[ProofLink, Evidence]:
    """A link of the case whose item the actor may see; NotFound otherwise."""
    user = authz.require_active(actor)
    link = session.get(ProofLink, link_id)
    item = session.get(Evidence, link.evidence_id) if link and link.evidence_id else None
    if link is None or link.case_id != case.id or item is None:
        raise NotFound("proof link not found")
    if not authz.may_see_item(session, user, item):
        raise NotFound("proof link not found")
    return link, item


@retry.transaction
def change_link(
    session: Session, actor: User | None, case_id: uuid.UUID, link_id: uuid.UUID, data: LinkChange
) -> ProofLink:
    case = authz.authorize_case(session, actor, case_id, CaseAction.LINK_PROOF, for_update=True)
    link, item = visible_link(session, actor, case, link_id)
    before = {"strength": link.strength.value, "note": link.note}
    after = {
        "strength": (data.strength or link.strength).value,
        "note": link.note if data.note is None else data.note,
    }
    if after == before:
        return link
    custody_log.hold_lock(session)
    charge = session.get_one(Charge, link.charge_id)
    framework, crime = charges.described(session, charge)
    facts = charges.charge_facts(charge, framework, crime)
    custody_log.append(
        session,
        actor,
        CustodyAction.LINKED,
        case_id=case.id,
        item_id=item.id,
        details=_details("proof_link_changed", link, facts, item.ern, before=before, after=after),
    )
    link.strength = Strength(after["strength"])
    link.note = after["note"]
    link.updated_at = utcnow()
    link.updated_by_id = actor.id if actor else None
    session.commit()
    return link


@retry.transaction
def remove_link(
    session: Session, actor: User | None, case_id: uuid.UUID, link_id: uuid.UUID
) -> None:
    case = authz.authorize_case(session, actor, case_id, CaseAction.LINK_PROOF, for_update=True)
    link, item = visible_link(session, actor, case, link_id)
    charge = session.get_one(Charge, link.charge_id)
    framework, crime = charges.described(session, charge)
    custody_log.hold_lock(session)
    before = {"strength": link.strength.value, "note": link.note}
    custody_log.append(
        session,
        actor,
        CustodyAction.LINKED,
        case_id=case.id,
        item_id=item.id,
        details=_details(
            "proof_link_removed",
            link,
            charges.charge_facts(charge, framework, crime),
            item.ern,
            before=before,
            after=None,
        ),
    )
    session.delete(link)
    session.commit()
