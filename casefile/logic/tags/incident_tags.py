"""Tagging incidents, with the same tags as items (the case's vocabulary, or a new name that
makes a free tag): whoever may edit a case's incidents. Each tag or untag that changes
something is one `tagged` / `untagged` custody entry of the case naming the incident (its
id and title), the tag, and the incident's tags before and after; the incident is indexed
again for search in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import NotFound
from casefile.logic.incidents.incidents import get_incident
from casefile.logic.search import index as search_index
from casefile.logic.tags import tagging
from casefile.logic.tags.tagging import TagItemInput
from casefile.logic.tags.vocabulary import same_name
from casefile.model import CustodyAction, Incident, IncidentTag, Tag, User


def tags_by_incident(
    session: Session, incident_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Tag]]:
    """Each incident's tags, by name (incidents the caller was authorized to see)."""
    ids = list(incident_ids)
    found: dict[uuid.UUID, list[Tag]] = {incident_id: [] for incident_id in ids}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(IncidentTag.incident_id, Tag)
            .join(Tag, Tag.id == IncidentTag.tag_id)
            .where(IncidentTag.incident_id.in_(ids[start : start + 500]))
            .order_by(Tag.key, Tag.id)
        )
        for incident_id, tag in rows:
            found[incident_id].append(tag)
    return found


def _entry(
    actor: User | None,
    incident: Incident,
    tag: Tag,
    before: list[Tag],
    after: list[Tag],
    *,
    attach: bool,
    created: bool = False,
) -> custody_log.NewEntry:
    details: dict[str, Any] = {
        "incident": str(incident.id),
        "incident_title": incident.title,
        "tag": {"id": str(tag.id), "name": tag.name},
        "vocabulary": bool(tag.controlled),
        "before": [name.name for name in before],
        "after": [name.name for name in after],
    }
    if created:
        details["new_free_tag"] = True
    return custody_log.NewEntry(
        actor,
        CustodyAction.TAGGED if attach else CustodyAction.UNTAGGED,
        case_id=incident.case_id,
        details=details,
    )


@retry.transaction
def tag_incident(
    session: Session, actor: User | None, incident_id: uuid.UUID, data: TagItemInput
) -> list[Tag]:
    """Attach a tag to an incident; its tags after (unchanged if it had it)."""
    incident = get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    custody_log.hold_lock(session)
    created = same_name(session, actor, incident.case_id, data.tag) is None
    tag = tagging.tag_to_attach(session, actor, incident.case_id, data.tag)
    before = tags_by_incident(session, [incident.id])[incident.id]
    if any(have.id == tag.id for have in before):
        session.commit()
        return before
    session.add(
        IncidentTag(
            incident_id=incident.id, tag_id=tag.id, tagged_by_id=actor.id if actor else None
        )
    )
    after = sorted([*before, tag], key=lambda have: (have.key, str(have.id)))
    session.flush()
    search_index.index_incident(session, incident)  # its tags are found by search
    custody_log.append_many(
        session, [_entry(actor, incident, tag, before, after, attach=True, created=created)]
    )
    session.commit()
    return after


@retry.transaction
def untag_incident(
    session: Session, actor: User | None, incident_id: uuid.UUID, tag_id: uuid.UUID
) -> list[Tag]:
    """Take a tag off an incident; its tags after. A tag it does not carry: NotFound."""
    incident = get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    custody_log.hold_lock(session)
    row = session.get(IncidentTag, (incident.id, tag_id))
    if row is None:
        raise NotFound("this incident does not carry that tag")
    before = tags_by_incident(session, [incident.id])[incident.id]
    tag = session.get_one(Tag, tag_id)
    session.delete(row)
    after = [have for have in before if have.id != tag_id]
    session.flush()
    search_index.index_incident(session, incident)
    custody_log.append_many(session, [_entry(actor, incident, tag, before, after, attach=False)])
    session.commit()
    return after
