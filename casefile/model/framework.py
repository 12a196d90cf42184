"""Legal frameworks loaded by an administrator, the crimes charged in a case, and the proof
links from a charged crime's elements to evidence. Frameworks shipped in the package are not
stored here (casefile/frameworks/); a charge names its framework's id and version either way."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, Timestamp
from casefile.model.enum_column import enum_column


class Strength(StrEnum):
    """How far a linked item goes towards proving an element."""

    LEAD = "lead"  # worth following; proves nothing yet
    SUPPORTS = "supports"
    ESTABLISHES = "establishes"
    CONTESTS = "contests"  # tends to disprove it

    @property
    def proves(self) -> bool:
        return self in (Strength.SUPPORTS, Strength.ESTABLISHES)


class LoadedFramework(Base):
    """One version of a framework file an administrator loaded; never changed afterwards."""

    __tablename__ = "legal_frameworks"

    id: Mapped[UUIDPK]
    framework_id: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)  # the file as loaded (UTF-8, NFC)
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[Timestamp]
    loaded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (
        UniqueConstraint("framework_id", "version", name="uq_legal_frameworks_id_version"),
    )


class Charge(Base):
    """A crime (or mode of liability) charged in a case, under one version of a framework."""

    __tablename__ = "charges"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    framework_id: Mapped[str] = mapped_column(String(60))
    framework_version: Mapped[int] = mapped_column(Integer)
    crime_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (
        UniqueConstraint("case_id", "framework_id", "crime_id", name="uq_charges_case_crime"),
    )


class ProofLink(Base):
    """An element of a charged crime → an evidence item or an incident of the same case (one
    of the two), with how strongly it bears on it."""

    __tablename__ = "proof_links"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    charge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charges.id"))
    element_id: Mapped[str] = mapped_column(String(40))
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("evidence.id"), nullable=True, index=True
    )
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    strength: Mapped[Strength] = mapped_column(enum_column(Strength, "proof_strength"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[Timestamp]
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (
        Index("ix_proof_links_case_charge", "case_id", "charge_id"),
        UniqueConstraint(
            "charge_id", "element_id", "evidence_id", name="uq_proof_links_element_item"
        ),
        UniqueConstraint(
            "charge_id", "element_id", "incident_id", name="uq_proof_links_element_incident"
        ),
        CheckConstraint("(evidence_id IS NULL) <> (incident_id IS NULL)", name="one_target"),
    )
