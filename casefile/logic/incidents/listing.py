"""Reading incidents back: a case's list with filters (cursor pagination, oldest first as
the evidence list), one incident with the links to items the reader may see, and the
incidents an item is linked to.

Links to restricted items the reader holds no grant for are left out entirely: no title, no
ERN, no count, nothing that says one exists (authz.visible_evidence decides)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.incidents.incidents import get_incident
from casefile.logic.pagination import Page, paginate
from casefile.logic.tags import names as tag_names
from casefile.logic.tags.names import TagName
from casefile.logic.text import Line, refuse_nul
from casefile.model import (
    Evidence,
    Incident,
    IncidentCategory,
    IncidentCategoryRow,
    IncidentEvidence,
    IncidentStatus,
    IncidentTag,
    Tag,
    User,
    incident_perpetrators,
)

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PLACE_COLUMNS = (
    Incident.place,
    Incident.village_ward,
    Incident.township,
    Incident.district,
    Incident.state_region,
    Incident.country,
)


class IncidentFilters(BaseModel):
    """What a case's incident list can be narrowed to; every filter given must hold."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    category: IncidentCategory | None = None
    status: IncidentStatus | None = None
    date_from: dt.date | None = Field(
        default=None, description="incidents that end (or start) on or after this day"
    )
    date_to: dt.date | None = Field(
        default=None, description="incidents that start on or before this day"
    )
    place: Line | None = Field(
        default=None,
        description="text found in the place, village/ward, township, district, "
        "state/region or country (any case)",
    )
    perpetrator: uuid.UUID | None = None
    tag: TagName | None = Field(
        default=None,
        description="incidents carrying the tag of this name (any case of its letters)",
    )

    @field_validator("place", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _calendar_date(cls, value: object) -> object:
        """A day as YYYY-MM-DD (not a number of seconds, not a date-time)."""
        if isinstance(value, str) and not ISO_DATE.fullmatch(value):
            raise ValueError("a date as YYYY-MM-DD")
        return value


def parse_filters(fields: dict[str, object]) -> IncidentFilters:
    try:
        filters = IncidentFilters.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error
    if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
        raise ValidationFailed({"date_to": "the end of the period is before its start"})
    return filters


def _filtered(query: Select[Incident], filters: IncidentFilters) -> Select[Incident]:
    if filters.category is not None:
        query = query.where(
            exists().where(
                IncidentCategoryRow.incident_id == Incident.id,
                IncidentCategoryRow.category == filters.category,
            )
        )
    if filters.status is not None:
        query = query.where(Incident.status == filters.status)
    if filters.date_from is not None:
        ends = func.coalesce(Incident.end_date, Incident.start_date)
        query = query.where(ends >= filters.date_from)
    if filters.date_to is not None:
        query = query.where(Incident.start_date <= filters.date_to)
    if filters.place:
        pattern = "%" + _escape_like(filters.place.lower()) + "%"
        query = query.where(
            or_(*(func.lower(column).like(pattern, escape="\\") for column in PLACE_COLUMNS))
        )
    if filters.perpetrator is not None:
        query = query.where(
            exists().where(
                incident_perpetrators.c.incident_id == Incident.id,
                incident_perpetrators.c.perpetrator_id == filters.perpetrator,
            )
        )
    if filters.tag:
        query = query.where(
            exists().where(
                IncidentTag.incident_id == Incident.id,
                IncidentTag.tag_id == Tag.id,
                tag_names.of_name(filters.tag),
            )
        )
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_incidents(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    filters: IncidentFilters | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Incident]:
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_INCIDENTS)
    query = _filtered(
        select(Incident).where(Incident.case_id == case.id), filters or IncidentFilters()
    )
    return paginate(session, query, Incident.created_at, Incident.id, limit=limit, cursor=cursor)


@dataclass(frozen=True)
class ShownLink:
    link: IncidentEvidence
    item: Evidence


def visible_links(session: Session, actor: User | None, incident: Incident) -> list[ShownLink]:
    """The incident's links to items the actor may see, oldest first."""
    items = authz.visible_evidence(session, actor, incident.case_id).subquery()
    rows = session.execute(
        select(IncidentEvidence, Evidence)
        .join(Evidence, Evidence.id == IncidentEvidence.evidence_id)
        .where(IncidentEvidence.incident_id == incident.id, Evidence.id.in_(select(items.c.id)))
        .order_by(IncidentEvidence.created_at, IncidentEvidence.id)
    ).all()
    return [ShownLink(link, item) for link, item in rows]


def read_incident(
    session: Session, actor: User | None, incident_id: uuid.UUID
) -> tuple[Incident, list[ShownLink]]:
    incident = get_incident(session, actor, incident_id, CaseAction.VIEW_INCIDENTS)
    return incident, visible_links(session, actor, incident)


@dataclass(frozen=True)
class ItemLink:
    link: IncidentEvidence
    incident: Incident


def links_of_item(session: Session, actor: User | None, item_id: uuid.UUID) -> list[ItemLink]:
    """The incidents an item is linked to, for a reader who may see the item."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
    authz.authorize_case(session, actor, item.case_id, CaseAction.VIEW_INCIDENTS)
    rows = session.execute(
        select(IncidentEvidence, Incident)
        .join(Incident, Incident.id == IncidentEvidence.incident_id)
        .where(IncidentEvidence.evidence_id == item.id)
        .order_by(Incident.title, IncidentEvidence.relation)
    ).all()
    return [ItemLink(link, incident) for link, incident in rows]
