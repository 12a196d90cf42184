"""Proof links: an element of a charged crime (or mode of liability) → an evidence item or an
incident of the same case, with a strength and a note. Contributors and leads make, change and
remove them; each change is a custody entry (about the item, for an item's link) with the
link's before and after. A restricted item can be linked only by one who may see it, and its
links do not exist for anyone else: changing or removing one is NotFound for them, as reading
it is. Incidents are seen by every member of their case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
    Incident,
    ProofLink,
    Strength,
    User,
)


class ProofLinkInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charge_id: uuid.UUID
    element: CrimeId
    evidence_id: uuid.UUID | None = None
    incident_id: uuid.UUID | None = None
    strength: Strength
    note: Note = ""

    @model_validator(mode="after")
    def _one_target(self) -> ProofLinkInput:
        if (self.evidence_id is None) == (self.incident_id is None):
            raise ValueError("give either evidence_id or incident_id")
        return self


class ProofLinkChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strength: Strength | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _something(self) -> ProofLinkChange:
        if self.strength is None and self.note is None:
            raise ValueError("give a strength, a note, or both")
        return self


@dataclass(frozen=True)
class Target:
    """What a link points at: an item or an incident."""

    item: Evidence | None = None
    incident: Incident | None = None

    @property
    def item_id(self) -> uuid.UUID | None:
        return self.item.id if self.item else None

    def facts(self) -> dict[str, Any]:
        if self.item is not None:
            return {"item": {"id": str(self.item.id), "ern": self.item.ern}}
        assert self.incident is not None  # noqa: S101 - a Target holds one of the two
        return {"incident": {"id": str(self.incident.id), "title": self.incident.title}}

    @property
    def name(self) -> str:
        return self.item.ern if self.item else f"incident “{self.incident.title}”"  # type: ignore[union-attr]


def authorize_linking(session: Session, actor: User | None, case_id: uuid.UUID) -> Case:
    return authz.authorize_case(session, actor, case_id, CaseAction.LINK_PROOF)


def _target_for_link(
    session: Session, actor: User | None, case: Case, data: ProofLinkInput
) -> Target:
    user = authz.require_active(actor)
    if data.incident_id is not None:
        incident = session.get(Incident, data.incident_id)
        if incident is None or incident.case_id != case.id:
            raise ValidationFailed({"incident_id": "no incident of this case has this id"})
        return Target(incident=incident)
    item = session.get(Evidence, data.evidence_id)
    # Another case's item and a restricted one the actor may not see get the same answer.
    if item is None or item.case_id != case.id or not authz.may_see_item(session, user, item):
        raise ValidationFailed({"evidence_id": "no item of this case has this id"})
    if item.status == EvidenceStatus.DELETED:
        raise ValidationFailed({"evidence_id": "this item was deleted"})
    return Target(item=item)


def _details(
    change: str,
    link: ProofLink,
    facts: dict[str, Any],
    target: Target,
    *,
    before: dict[str, str] | None,
    after: dict[str, str] | None,
) -> dict[str, Any]:
    return {
        "change": change,
        "link": str(link.id),
        "charge": facts,
        "element": link.element_id,
        **target.facts(),
        "before": before,
        "after": after,
    }


def removal_entry(
    actor: User | None, link: ProofLink, facts: dict[str, Any], target: Target, reason: str | None
) -> custody_log.NewEntry:
    """The custody entry of a link's removal (on its own, or with its charge)."""
    details = _details(
        "proof_link_removed",
        link,
        facts,
        target,
        before={"strength": link.strength.value, "note": link.note},
        after=None,
    )
    if reason:
        details["reason"] = reason
    return custody_log.NewEntry(
        actor,
        CustodyAction.UNLINKED,
        case_id=link.case_id,
        item_id=target.item_id,
        details=details,
    )


@retry.transaction
def add_link(
    session: Session, actor: User | None, case_id: uuid.UUID, data: ProofLinkInput
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
    target = _target_for_link(session, actor, case, data)
    same = (
        ProofLink.evidence_id == target.item.id
        if target.item is not None
        else ProofLink.incident_id == data.incident_id
    )
    taken = session.scalar(
        select(ProofLink.id).where(
            ProofLink.charge_id == charge.id, ProofLink.element_id == data.element, same
        )
    )
    if taken is not None:
        raise Conflict(
            f"{target.name} is already linked to element {data.element}; change that link"
        )
    custody_log.hold_lock(session)
    now = utcnow()
    link = ProofLink(
        id=uuid.uuid4(),
        case_id=case.id,
        charge_id=charge.id,
        element_id=data.element,
        evidence_id=target.item.id if target.item else None,
        incident_id=target.incident.id if target.incident else None,
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
        item_id=target.item_id,
        details=_details("proof_link_added", link, facts, target, before=None, after=after),
    )
    session.commit()
    return link


def target_of(session: Session, link: ProofLink) -> Target:
    if link.evidence_id is not None:
        return Target(item=session.get_one(Evidence, link.evidence_id))
    return Target(incident=session.get_one(Incident, link.incident_id))


def visible_link(
    session: Session, actor: User | None, case: Case, link_id: uuid.UUID
) -> tuple[ProofLink, Target]:
    """A link of the case whose item (if it is an item's) the actor may see; else NotFound."""
    user = authz.require_active(actor)
    link = session.get(ProofLink, link_id)
    if link is None or link.case_id != case.id:
        raise NotFound("proof link not found")
    target = target_of(session, link)
    if target.item is not None and not authz.may_see_item(session, user, target.item):
        raise NotFound("proof link not found")
    return link, target


@retry.transaction
def change_link(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    link_id: uuid.UUID,
    data: ProofLinkChange,
) -> ProofLink:
    case = authz.authorize_case(session, actor, case_id, CaseAction.LINK_PROOF, for_update=True)
    link, target = visible_link(session, actor, case, link_id)
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
        item_id=target.item_id,
        details=_details("proof_link_changed", link, facts, target, before=before, after=after),
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
    link, target = visible_link(session, actor, case, link_id)
    charge = session.get_one(Charge, link.charge_id)
    framework, crime = charges.described(session, charge)
    custody_log.hold_lock(session)
    facts = charges.charge_facts(charge, framework, crime)
    custody_log.append_many(session, [removal_entry(actor, link, facts, target, None)])
    session.delete(link)
    session.commit()
