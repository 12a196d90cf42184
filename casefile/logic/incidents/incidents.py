"""Recording an incident and changing it.

One input model (`IncidentInput`) for the API, the web form and any CLI; an update
(`IncidentUpdate`) carries the `version` it was made from and changes only the fields sent.
Each change is one custody entry in the same transaction: `incident_created` with every
field, `incident_updated` with each changed field's old and new value. The custody log's
encoding has no floats, so coordinates are recorded as text."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import NotFound, ValidationFailed
from casefile.logic.evidence.editing import StaleVersion
from casefile.logic.incidents import places
from casefile.logic.search import index as search_index
from casefile.logic.text import VISIBLE, Line, LongText, Note, Stripped, refuse_nul
from casefile.model import (
    CustodyAction,
    DatePrecision,
    Incident,
    IncidentCategory,
    IncidentCategoryRow,
    IncidentStatus,
    Perpetrator,
    User,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=VISIBLE), Stripped]
MAX_VICTIMS = 100_000_000
MAX_PERPETRATORS = 200

LOCATION_FIELDS = ("place", "village_ward", "township", "district", "state_region", "country")


def _whole(value: object) -> object:
    """A whole number sent as 5.0 is the number 5 (JSON Schema's integer, which the document
    states); 5.5 stays a float and is refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole)


def _not_in_the_future(value: dt.date | None) -> dt.date | None:
    """An incident has happened: its dates are not later than today (anywhere on Earth:
    UTC+14 is a day ahead of UTC)."""
    if value is not None and value > (utcnow() + dt.timedelta(hours=14)).date():
        raise ValueError("a date in the future")
    return value


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class LocationInput(BaseModel):
    """Where it happened. In Myanmar (country "Myanmar" or "MM"), the state/region, district
    and township are names from casefile/data/myanmar_admin.json and must belong together;
    elsewhere they are free text. Coordinates are WGS 84 degrees, both or neither."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)
    _blank = field_validator(*LOCATION_FIELDS, mode="before")(_blank_is_none)

    place: Line | None = None
    village_ward: Line | None = None
    township: Line | None = None
    district: Line | None = None
    state_region: Line | None = None
    country: Line | None = None
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)

    @model_validator(mode="after")
    def _both_coordinates(self) -> LocationInput:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class VictimsInput(BaseModel):
    """Who suffered it: an estimated count and a description of the group."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)
    _blank = field_validator("group", mode="before")(_blank_is_none)

    count: Annotated[int | None, WholeNumber] = Field(
        default=None, ge=0, le=MAX_VICTIMS, description="an estimate"
    )
    group: Note | None = None


def _dates_in_order(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValidationFailed({"end_date": "the end date is before the start date"})


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    @field_validator("categories", mode="after", check_fields=False)
    @classmethod
    def _each_once(cls, value: list[IncidentCategory] | None) -> list[IncidentCategory] | None:
        if value is None:
            return None
        return [category for category in IncidentCategory if category in set(value)]

    @field_validator("perpetrators", mode="after", check_fields=False)
    @classmethod
    def _perpetrators_once(cls, value: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
        return None if value is None else list(dict.fromkeys(value))

    @field_validator("narrative", mode="before", check_fields=False)
    @classmethod
    def _blank_narrative(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("start_date", "end_date", mode="after", check_fields=False)
    @classmethod
    def _past(cls, value: dt.date | None) -> dt.date | None:
        return _not_in_the_future(value)


class IncidentInput(_Fields):
    """An incident as a user records it. Shared by the API, the web form and the CLI."""

    title: Title
    narrative: LongText | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    date_precision: DatePrecision = DatePrecision.DAY
    location: LocationInput = Field(default_factory=LocationInput)
    categories: list[IncidentCategory] = Field(default_factory=list, max_length=50)
    status: IncidentStatus = IncidentStatus.REPORTED
    victims: VictimsInput = Field(default_factory=VictimsInput)
    perpetrators: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_PERPETRATORS,
        description="ids of the case's perpetrators (see its perpetrators list)",
    )

    @model_validator(mode="after")
    def _order(self) -> IncidentInput:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("the end date is before the start date")
        return self


class IncidentUpdate(_Fields):
    """A change to an incident: only the fields sent change (`location` and `victims` as a
    whole); a text field sent empty is cleared, except the title."""

    version: Annotated[int, WholeNumber] = Field(
        ge=1,
        description="the incident's `version` as read before the change; a change over a "
        "newer version is refused with 409 (code stale_version)",
    )
    title: Title = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    narrative: LongText | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    date_precision: DatePrecision = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    location: LocationInput = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    categories: list[IncidentCategory] = Field(
        default=None,  # type: ignore[arg-type]
        max_length=50,
        json_schema_extra=_no_default,
    )
    status: IncidentStatus = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    victims: VictimsInput = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    perpetrators: list[uuid.UUID] = Field(
        default=None,  # type: ignore[arg-type]
        max_length=MAX_PERPETRATORS,
        json_schema_extra=_no_default,
    )

    @field_validator(
        "title",
        "date_precision",
        "location",
        "categories",
        "status",
        "victims",
        "perpetrators",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be changed but not cleared")
        return value


def parse_input(fields: dict[str, object]) -> IncidentInput:
    try:
        return IncidentInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def parse_update(fields: dict[str, object]) -> IncidentUpdate:
    try:
        return IncidentUpdate.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


# What an incident holds, field by field, as the custody log records it (text, ints, lists).
def recorded(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "narrative": incident.narrative,
        "start_date": _iso(incident.start_date),
        "end_date": _iso(incident.end_date),
        "date_precision": incident.date_precision.value,
        "location": {
            **{name: getattr(incident, name) for name in LOCATION_FIELDS},
            "lat": _coordinate(incident.lat),
            "lon": _coordinate(incident.lon),
        },
        "categories": [category.value for category in incident.categories],
        "status": incident.status.value,
        "victims": {"count": incident.victims_count, "group": incident.victims_group},
        "perpetrators": sorted(str(person.id) for person in incident.perpetrators),
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _coordinate(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def get_incident(
    session: Session,
    actor: User | None,
    incident_id: uuid.UUID,
    action: CaseAction,
    *,
    for_update: bool = False,
) -> Incident:
    """The incident, if the actor may do `action` in its case; NotFound for everyone else
    (missing and not yours look the same). `for_update` locks its case's row first (the lock
    order) and reads the incident again under it."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("incident not found")
    try:
        authz.authorize_case(session, actor, incident.case_id, action, for_update=for_update)
    except NotFound as error:
        raise NotFound("incident not found") from error
    if for_update:
        session.refresh(incident)
    return incident


def _case_perpetrators(
    session: Session, case_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[Perpetrator]:
    if not ids:
        return []
    found = {
        person.id: person
        for person in session.scalars(
            select(Perpetrator).where(Perpetrator.case_id == case_id, Perpetrator.id.in_(ids))
        )
    }
    missing = [str(value) for value in ids if value not in found]
    if missing:
        raise ValidationFailed(
            {"perpetrators": f"not a perpetrator of this case: {', '.join(missing)}"}
        )
    return [found[value] for value in ids]


def _checked_location(location: LocationInput) -> LocationInput:
    """The location with its administrative names as stored (in Myanmar: the data's English
    names, filled in from the township or district); ValidationFailed if they do not fit."""
    checked = places.check(
        country=location.country,
        state_region=location.state_region,
        district=location.district,
        township=location.township,
    )
    if checked.problems:
        raise ValidationFailed(
            {f"location.{name}": problem for name, problem in checked.problems.items()}
        )
    return location.model_copy(update=checked.values)


def _apply(
    incident: Incident, sent: dict[str, Any], perpetrators: list[Perpetrator] | None
) -> None:
    for name in ("title", "narrative", "start_date", "end_date", "date_precision", "status"):
        if name in sent:
            setattr(incident, name, sent[name])
    if "location" in sent:
        location: LocationInput = sent["location"]
        for name in (*LOCATION_FIELDS, "lat", "lon"):
            setattr(incident, name, getattr(location, name))
    if "victims" in sent:
        victims: VictimsInput = sent["victims"]
        incident.victims_count, incident.victims_group = victims.count, victims.group
    if "categories" in sent:
        wanted = set(sent["categories"])
        kept = [row for row in incident.category_rows if row.category in wanted]
        held = {row.category for row in kept}
        incident.category_rows = kept + [
            IncidentCategoryRow(category=category)
            for category in IncidentCategory
            if category in wanted and category not in held
        ]
    if perpetrators is not None:
        incident.perpetrators = perpetrators


@retry.transaction
def create_incident(
    session: Session, actor: User | None, case_id: uuid.UUID, data: IncidentInput
) -> Incident:
    """Record an incident in a case: for members who may edit incidents. One custody entry
    (`incident_created`) with every field."""
    user = authz.require_active(actor)
    case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS, for_update=True)
    perpetrators = _case_perpetrators(session, case.id, data.perpetrators)
    data = data.model_copy(update={"location": _checked_location(data.location)})
    custody_log.hold_lock(session)
    now = utcnow()
    incident = Incident(
        case_id=case.id,
        version=1,
        created_at=now,
        created_by_id=user.id,
        updated_at=now,
        updated_by_id=user.id,
        category_rows=[],
        perpetrators=[],
    )
    fields = {name: getattr(data, name) for name in IncidentInput.model_fields}
    _apply(incident, fields, perpetrators)
    session.add(incident)
    session.flush()
    search_index.index_incident(session, incident)
    custody_log.append(
        session,
        user,
        CustodyAction.INCIDENT_CREATED,
        case_id=case.id,
        details={"incident": str(incident.id), "version": 1, **recorded(incident)},
    )
    session.commit()
    return incident


@retry.transaction
def update_incident(
    session: Session, actor: User | None, incident_id: uuid.UUID, change: IncidentUpdate
) -> Incident:
    """Change an incident: only the fields sent. Nothing changed, nothing written; otherwise
    the version goes up by one and one custody entry (`incident_updated`) records each
    changed field's old and new value. Refused (StaleVersion) if made from an older version."""
    user = authz.require_active(actor)
    incident = get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS, for_update=True)
    if change.version != incident.version:
        raise StaleVersion(
            "someone changed this incident since you read it: read it again and make your "
            "change to the current values"
        )
    sent = {name: getattr(change, name) for name in change.model_fields_set if name != "version"}
    start = sent.get("start_date", incident.start_date)
    end = sent.get("end_date", incident.end_date)
    _dates_in_order(start, end)
    if "location" in sent:
        sent["location"] = _checked_location(sent["location"])
    perpetrators = (
        _case_perpetrators(session, incident.case_id, sent["perpetrators"])
        if "perpetrators" in sent
        else None
    )
    custody_log.hold_lock(session)
    before = recorded(incident)
    _apply(incident, sent, perpetrators)
    after = recorded(incident)
    changes = {
        name: {"from": before[name], "to": after[name]}
        for name in before
        if before[name] != after[name]
    }
    if not changes:
        session.rollback()  # nothing written: no entry, no new version
        return get_incident(session, actor, incident_id, CaseAction.VIEW_INCIDENTS)
    incident.version += 1
    incident.updated_at = utcnow()
    incident.updated_by_id = user.id
    session.flush()
    search_index.index_incident(session, incident)
    custody_log.append(
        session,
        user,
        CustodyAction.INCIDENT_UPDATED,
        case_id=incident.case_id,
        details={
            "incident": str(incident.id),
            "title": incident.title,
            "version": incident.version,
            "changes": changes,
        },
    )
    session.commit()
    return incident
