"""The points of a case's map, as a member may see them.

An item is on the map when its embedded EXIF metadata holds a GPS position
(casefile/vault/exif.py, the one reading of it the item page uses too), or else when its
collector gave a latitude and longitude. A restricted item is on the map only for a member
holding a grant (authz.visible_evidence), its title and position read from its sealed
metadata; for anyone else it does not exist here: no point, no count, nothing in the totals.

Each point has one date: for an item, the time the photo was taken (EXIF DateTimeOriginal),
else the time the collector says it was collected, else the day it was received; for an
incident, its start date (and end date). The date filter keeps a point whose date (an
incident: whose date range) meets the range asked for."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import metadata
from casefile.model import (
    Evidence,
    EvidenceStatus,
    Incident,
    IncidentCategory,
    IncidentCategoryRow,
    Sensitivity,
    User,
)
from casefile.vault import exif
from casefile.vault.envelope import Keyring

# The most points of each kind one map shows (in a stable order); beyond that the answer says
# it was truncated, and the filters narrow it.
MAX_POINTS = 5000

Kind = Literal["evidence", "incident"]
DateSource = Literal["taken", "collected", "received", "incident"]
PositionSource = Literal["exif", "collector", "incident"]
SHOW = ("all", "incidents", "evidence")
KINDS = ("image/", "video/", "audio/", "application/pdf", "text/")  # the evidence list's types
CATEGORIES = tuple(category.value for category in IncidentCategory)


@dataclass(frozen=True)
class MapFilter:
    show: str = "all"  # all | incidents | evidence
    since: dt.date | None = None
    until: dt.date | None = None
    kind: str | None = None  # items: a MIME prefix, as the evidence list's type filter
    category: str | None = None  # incidents: one of the categories

    def check(self) -> None:
        problems: dict[str, str] = {}
        if self.show not in SHOW:
            problems["show"] = f"one of {', '.join(SHOW)}"
        if self.kind is not None and self.kind not in KINDS:
            problems["kind"] = f"one of {', '.join(KINDS)}"
        if self.since is not None and self.until is not None and self.until < self.since:
            problems["until"] = "must not be before since"
        if self.category is not None and self.category not in CATEGORIES:
            problems["category"] = f"one of {', '.join(CATEGORIES)}"
        if problems:
            raise ValidationFailed(problems)

    def meets(self, first: dt.date | None, last: dt.date | None = None) -> bool:
        """Whether a date (or a range of dates) meets the filter's range; an undated point
        meets only an open range."""
        if self.since is None and self.until is None:
            return True
        if first is None:
            return False
        last = last if last is not None and last >= first else first
        if self.since is not None and last < self.since:
            return False
        return not (self.until is not None and first > self.until)


@dataclass(frozen=True)
class Point:
    kind: Kind
    id: uuid.UUID
    title: str
    lat: float  # WGS 84 decimal degrees, 6 decimals
    lon: float
    date: dt.date | None
    date_source: DateSource
    position_source: PositionSource
    ern: str | None = None  # items
    sensitivity: Sensitivity | None = None  # items
    end_date: dt.date | None = None  # incidents
    date_precision: str | None = None  # incidents
    categories: tuple[str, ...] = ()  # incidents
    place: str | None = None  # incidents: the place as written
    # incidents: the same place by level (place, village_ward, township, district,
    # state_region, country), for pages that name Myanmar's places in the reader's language
    location: tuple[tuple[str, str], ...] = ()
    country: str | None = None


@dataclass(frozen=True)
class CaseMap:
    points: list[Point] = field(default_factory=list)
    truncated: bool = False  # more points matched than MAX_POINTS of a kind


def checked_position(lat: object, lon: object) -> tuple[float, float] | None:
    """A latitude and longitude as numbers within range (6 decimals), or None."""
    values: list[float] = []
    for value, limit in ((lat, 90), (lon, 180)):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number) or abs(number) > limit:
            return None
        values.append(round(number, 6))
    return values[0], values[1]


def _collected_date(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        return None


def item_position(
    extracted: dict[str, Any], collector: dict[str, Any]
) -> tuple[float, float, PositionSource] | None:
    """Where an item was recorded: its EXIF GPS position, else its collector's lat/lon."""
    photo = extracted.get("exif")
    if isinstance(photo, dict):
        found = exif.position(photo)
        if found is not None:
            checked = checked_position(found.lat, found.lon)
            if checked is not None:
                return (*checked, "exif")
    checked = checked_position(collector.get("lat"), collector.get("lon"))
    return (*checked, "collector") if checked is not None else None


def item_date(
    extracted: dict[str, Any], collector: dict[str, Any], received: dt.datetime
) -> tuple[dt.date, DateSource]:
    photo = extracted.get("exif")
    if isinstance(photo, dict):
        taken = exif.exif_time(photo.get("original_time"), photo.get("original_time_offset"))
        if taken is not None:
            return taken.date(), "taken"
    collected = _collected_date(collector.get("collected_at"))
    if collected is not None:
        return collected, "collected"
    return received.date(), "received"


def _may_have_position() -> Any:
    """Items whose stored metadata could hold a position (a cheap test in SQL; the position
    itself is read and checked in Python). Sealed items hold nothing in the clear: they are
    read from their seal."""
    # as_string(): SQLite's JSON_EXTRACT / PostgreSQL's #>>, NULL where the key is missing
    # (the plain index would be JSON_QUOTE(...) on SQLite: the text 'null', never NULL).
    return or_(
        Evidence.extracted[("exif", "gps_latitude")].as_string().is_not(None),
        Evidence.extracted[("exif", "gps")].as_string().is_not(None),
        Evidence.collector["lat"].as_string().is_not(None),
        Evidence.sealed_metadata.is_not(None),
    )


def evidence_points(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    where: MapFilter,
    keyring: Keyring,
) -> tuple[list[Point], bool]:
    """The items of the case the actor may see that have a position, as points."""
    query = authz.visible_evidence(session, actor, case_id).where(
        Evidence.status == EvidenceStatus.ACTIVE, _may_have_position()
    )
    if where.kind:
        query = query.where(Evidence.mime.startswith(where.kind, autoescape=True))
    found: list[Point] = []
    truncated = False
    for item in session.scalars(query.order_by(Evidence.seq)):
        described = metadata.reveal(keyring, item)
        if not described.available:
            continue
        place = item_position(described.extracted, described.collector)
        if place is None:
            continue
        date, source = item_date(described.extracted, described.collector, item.created_at)
        if not where.meets(date):
            continue
        if len(found) == MAX_POINTS:
            truncated = True
            break
        found.append(
            Point(
                kind="evidence",
                id=item.id,
                title=described.title,
                lat=place[0],
                lon=place[1],
                date=date,
                date_source=source,
                position_source=place[2],
                ern=item.ern,
                sensitivity=item.sensitivity,
            )
        )
    return found, truncated


_LEVELS = ("place", "village_ward", "township", "district", "state_region", "country")


def _location(incident: Incident) -> tuple[tuple[str, str], ...]:
    parts = ((level, getattr(incident, level)) for level in _LEVELS)
    return tuple((level, value.strip()) for level, value in parts if value and value.strip())


def _place(incident: Incident) -> str | None:
    return ", ".join(value for _, value in _location(incident)) or None


def incident_points(
    session: Session, case_id: uuid.UUID, where: MapFilter
) -> tuple[list[Point], bool]:
    """The case's incidents with a latitude and longitude, as points (the caller has
    authorized the actor to see the case's incidents)."""
    query = select(Incident).where(
        Incident.case_id == case_id, Incident.lat.is_not(None), Incident.lon.is_not(None)
    )
    if where.category is not None:
        query = query.where(
            exists().where(
                IncidentCategoryRow.incident_id == Incident.id,
                IncidentCategoryRow.category == IncidentCategory(where.category),
            )
        )
    if where.since is not None:  # as the incident list's period: it ends on or after
        query = query.where(func.coalesce(Incident.end_date, Incident.start_date) >= where.since)
    if where.until is not None:
        query = query.where(Incident.start_date <= where.until)
    query = query.order_by(Incident.start_date, Incident.created_at, Incident.id)
    found: list[Point] = []
    truncated = False
    for incident in session.scalars(query.limit(MAX_POINTS + 1)):
        place = checked_position(incident.lat, incident.lon)
        if place is None:
            continue
        if len(found) == MAX_POINTS:
            truncated = True
            break
        found.append(
            Point(
                kind="incident",
                id=incident.id,
                title=incident.title,
                lat=place[0],
                lon=place[1],
                date=incident.start_date,
                date_source="incident",
                position_source="incident",
                end_date=incident.end_date,
                date_precision=incident.date_precision.value,
                categories=tuple(category.value for category in incident.categories),
                place=_place(incident),
                location=_location(incident),
                country=incident.country,
            )
        )
    return found, truncated


def case_map(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    where: MapFilter,
    keyring: Keyring,
) -> CaseMap:
    """The points of the case's map the actor may see (NotFound for non-members)."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW)
    where.check()
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    points: list[Point] = []
    truncated = False
    if where.show in ("all", "incidents") and authz.can(role, CaseAction.VIEW_INCIDENTS):
        incidents, cut = incident_points(session, case.id, where)
        points += incidents
        truncated = truncated or cut
    if where.show in ("all", "evidence") and authz.can(role, CaseAction.VIEW_EVIDENCE):
        items, cut = evidence_points(session, actor, case_id, where, keyring)
        points += items
        truncated = truncated or cut
    return CaseMap(points=points, truncated=truncated)
