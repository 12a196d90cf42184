"""Incidents of a case: what happened, when, where, to whom and (allegedly) by whom; the
perpetrators a case names, reused across its incidents; and the links between incidents and
items of evidence. Persistence only: the rules are in casefile/logic/incidents/."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import (
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefile.db import UUIDPK, Base, Timestamp
from casefile.model.enum_column import enum_column


class IncidentCategory(StrEnum):
    """The controlled list of what happened (issue 12); stable codes, labelled in the UI."""

    KILLING = "killing"
    TORTURE = "torture"
    SGBV = "sgbv"  # sexual and gender-based violence
    ARSON_DESTRUCTION = "arson_destruction"  # arson, destruction of property
    FORCED_DISPLACEMENT = "forced_displacement"  # forced displacement, deportation
    ARBITRARY_DETENTION = "arbitrary_detention"
    ENFORCED_DISAPPEARANCE = "enforced_disappearance"
    AIRSTRIKE_SHELLING = "airstrike_shelling"
    ATTACK_PROTECTED_SITE = "attack_protected_site"  # a school, hospital or place of worship
    CHILD_RECRUITMENT = "child_recruitment"
    PERSECUTION = "persecution"
    OTHER = "other"


class DatePrecision(StrEnum):
    """How precisely the dates are known: the day, only the month, only the year, or about."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    APPROXIMATE = "approximate"


class IncidentStatus(StrEnum):
    REPORTED = "reported"
    UNDER_INVESTIGATION = "under_investigation"
    CORROBORATED = "corroborated"


class EvidenceRelation(StrEnum):
    """How an item bears on an incident."""

    DEPICTS = "depicts"
    CORROBORATES = "corroborates"
    CONTRADICTS = "contradicts"
    CONTEXT = "context"


class PerpetratorKind(StrEnum):
    UNIT = "unit"  # a military unit, an armed group, a police station...
    PERSON = "person"


incident_perpetrators = Table(
    "incident_perpetrators",
    Base.metadata,
    Column("incident_id", ForeignKey("incidents.id"), primary_key=True),
    Column("perpetrator_id", ForeignKey("perpetrators.id"), primary_key=True, index=True),
)


class Perpetrator(Base):
    """An alleged perpetrator named in a case: a unit or a person, reusable across the
    case's incidents. Its name is unique per case and kind."""

    __tablename__ = "perpetrators"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[PerpetratorKind] = mapped_column(enum_column(PerpetratorKind, "perpetrator_kind"))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    affiliation: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (
        UniqueConstraint("case_id", "kind", "name", name="uq_perpetrators_case_kind_name"),
    )


class IncidentCategoryRow(Base):
    """One category of an incident (a table of its own, so that lists filter by category
    with an index on every backend)."""

    __tablename__ = "incident_categories"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    category: Mapped[IncidentCategory] = mapped_column(
        enum_column(IncidentCategory, "incident_category"), primary_key=True
    )

    __table_args__ = (Index("ix_incident_categories_category", "category", "incident_id"),)


class Incident(Base):
    """Something that happened, as the case records it. `version` counts its changes: an
    edit made from an older version is refused (logic/incidents/, stale_version)."""

    __tablename__ = "incidents"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    title: Mapped[str] = mapped_column(String(500))
    narrative: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    date_precision: Mapped[DatePrecision] = mapped_column(
        enum_column(DatePrecision, "date_precision")
    )
    # Where: free text, except that in Myanmar the township, district and state/region are
    # names from casefile/data/myanmar_admin.json (English), checked to belong together.
    place: Mapped[str | None] = mapped_column(String(300), nullable=True)
    village_ward: Mapped[str | None] = mapped_column(String(300), nullable=True)
    township: Mapped[str | None] = mapped_column(String(300), nullable=True)
    district: Mapped[str | None] = mapped_column(String(300), nullable=True)
    state_region: Mapped[str | None] = mapped_column(String(300), nullable=True)
    country: Mapped[str | None] = mapped_column(String(300), nullable=True)
    lat: Mapped[float | None] = mapped_column(Double, nullable=True)
    lon: Mapped[float | None] = mapped_column(Double, nullable=True)
    victims_count: Mapped[int | None] = mapped_column(Integer, nullable=True)  # estimated
    victims_group: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[IncidentStatus] = mapped_column(enum_column(IncidentStatus, "incident_status"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[Timestamp]
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    category_rows: Mapped[list[IncidentCategoryRow]] = relationship(
        cascade="all, delete-orphan", order_by=IncidentCategoryRow.category, lazy="selectin"
    )
    perpetrators: Mapped[list[Perpetrator]] = relationship(
        secondary=incident_perpetrators, order_by=Perpetrator.name, lazy="selectin"
    )

    __table_args__ = (
        # The case's list, in its page order (logic/pagination.py).
        Index("ix_incidents_case_created", "case_id", "created_at", "id"),
        Index("ix_incidents_case_start", "case_id", "start_date"),
    )

    @property
    def categories(self) -> list[IncidentCategory]:
        """The incident's categories, in the controlled list's order."""
        held = {row.category for row in self.category_rows}
        return [category for category in IncidentCategory if category in held]


class IncidentEvidence(Base):
    """A link between an incident and an item of the same case, with how the item bears on
    it. One per (incident, item, relation)."""

    __tablename__ = "incident_evidence"

    id: Mapped[UUIDPK]
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"))
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    relation: Mapped[EvidenceRelation] = mapped_column(
        enum_column(EvidenceRelation, "evidence_relation")
    )
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (
        UniqueConstraint(
            "incident_id", "evidence_id", "relation", name="uq_incident_evidence_link"
        ),
    )
