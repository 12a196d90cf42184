"""Links between an incident and the items of its case: how an item bears on it (`depicts`,
`corroborates`, `contradicts`, `context`) and a note. One link per (incident, item, relation).

A link and its removal are custody entries about the item (`linked`, `unlinked`, with the
item's id as the entry's item), so the item's custody report shows them, and a member who
may not see a restricted item sees them redacted (custody/redaction.py). An item that is not
in the incident's case, or that the actor may not see, cannot be linked: the refusal is the
same for both, so it tells nothing of items the actor cannot see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.incidents.incidents import get_incident
from casefile.logic.text import Note, refuse_nul
from casefile.model import (
    CustodyAction,
    Evidence,
    EvidenceRelation,
    EvidenceStatus,
    Incident,
    IncidentEvidence,
    User,
)

NOT_IN_CASE = "no item of this incident's case has this id"


class LinkInput(BaseModel):
    """`{"evidence_id", "relation", "note"}`: shared by the API and the web form."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    evidence_id: uuid.UUID
    relation: EvidenceRelation
    note: Note | None = None

    @field_validator("note", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def parse_link(fields: dict[str, object]) -> LinkInput:
    try:
        return LinkInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def find_item(
    session: Session, actor: User | None, incident_id: uuid.UUID, reference: str
) -> uuid.UUID:
    """The id of the item of the incident's case that `reference` names (its ERN or id),
    among those the actor may see; ValidationFailed on `evidence_id` otherwise (the web form
    names items by ERN)."""
    incident = get_incident(session, actor, incident_id, CaseAction.VIEW_INCIDENTS)
    text = reference.strip()
    visible = authz.visible_evidence(session, actor, incident.case_id)
    try:
        by_id = uuid.UUID(text)
    except ValueError:
        chosen = visible.where(Evidence.ern == text)
    else:
        chosen = visible.where(Evidence.id == by_id)
    found: uuid.UUID | None = session.scalar(chosen.with_only_columns(Evidence.id))
    if found is None:
        raise ValidationFailed({"evidence_id": NOT_IN_CASE})
    return found


@dataclass(frozen=True)
class Linked:
    link: IncidentEvidence
    incident: Incident
    item: Evidence


def _visible_item(
    session: Session, actor: User, incident: Incident, item_id: uuid.UUID
) -> Evidence:
    item = session.get(Evidence, item_id)
    if (
        item is None
        or item.case_id != incident.case_id
        or not authz.may_see_item(session, actor, item)
    ):
        raise ValidationFailed({"evidence_id": NOT_IN_CASE})
    return item


def _details(link: IncidentEvidence, incident: Incident, item: Evidence) -> dict[str, object]:
    return {
        "incident": str(incident.id),
        "incident_title": incident.title,
        "link": str(link.id),
        "ern": item.ern,
        "relation": link.relation.value,
        "note": link.note,
    }


@retry.transaction
def link_item(
    session: Session, actor: User | None, incident_id: uuid.UUID, data: LinkInput
) -> Linked:
    """Link an item of the incident's case to it. Refused: an item of another case, or one
    the actor may not see (ValidationFailed on `evidence_id`), a deleted item, a link with
    the same relation that exists already (Conflict)."""
    user = authz.require_active(actor)
    incident = get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS, for_update=True)
    item = _visible_item(session, user, incident, data.evidence_id)
    if item.status == EvidenceStatus.DELETED:
        raise Conflict("this item was deleted: it cannot be linked")
    existing = session.scalar(
        select(IncidentEvidence.id).where(
            IncidentEvidence.incident_id == incident.id,
            IncidentEvidence.evidence_id == item.id,
            IncidentEvidence.relation == data.relation,
        )
    )
    if existing is not None:
        raise Conflict(f"this item is already linked to the incident as '{data.relation.value}'")
    custody_log.hold_lock(session)
    link = IncidentEvidence(
        incident_id=incident.id,
        evidence_id=item.id,
        relation=data.relation,
        note=data.note,
        created_by_id=user.id,
    )
    session.add(link)
    session.flush()
    custody_log.append(
        session,
        user,
        CustodyAction.LINKED,
        case_id=incident.case_id,
        item_id=item.id,
        details=_details(link, incident, item),
    )
    session.commit()
    return Linked(link, incident, item)


@retry.transaction
def unlink_item(
    session: Session, actor: User | None, incident_id: uuid.UUID, link_id: uuid.UUID
) -> None:
    """Remove a link. A link to an item the actor may not see does not exist for them."""
    user = authz.require_active(actor)
    incident = get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS, for_update=True)
    link = session.get(IncidentEvidence, link_id)
    if link is None or link.incident_id != incident.id:
        raise NotFound("link not found")
    item = session.get(Evidence, link.evidence_id)
    if item is None or not authz.may_see_item(session, user, item):
        raise NotFound("link not found")
    custody_log.hold_lock(session)
    details = _details(link, incident, item)
    session.delete(link)
    session.flush()
    custody_log.append(
        session,
        user,
        CustodyAction.UNLINKED,
        case_id=incident.case_id,
        item_id=item.id,
        details=details,
    )
    session.commit()
