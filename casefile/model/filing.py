"""Filings (what lawyers lodge with a court) and their exhibits (items of the same case, in
order). A filed filing is frozen: a change makes a new version, a new row that names the one
it supersedes; both are kept."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefile.db import UUIDPK, Base, Timestamp
from casefile.model.case import Forum
from casefile.model.enum_column import enum_column
from casefile.model.evidence import Evidence


class FilingType(StrEnum):
    # ICJ
    APPLICATION_INSTITUTING_PROCEEDINGS = "application_instituting_proceedings"
    REQUEST_PROVISIONAL_MEASURES = "request_provisional_measures"
    MEMORIAL = "memorial"
    COUNTER_MEMORIAL = "counter_memorial"
    REPLY = "reply"
    REJOINDER = "rejoinder"
    WRITTEN_OBSERVATIONS = "written_observations"
    # ICC
    ARTICLE_15_COMMUNICATION = "article_15_communication"
    REQUEST_OR_SUBMISSION = "request_or_submission"
    LIST_OF_EVIDENCE = "list_of_evidence"
    DISCLOSURE_PACKAGE = "disclosure_package"
    # universal jurisdiction
    CRIMINAL_COMPLAINT = "criminal_complaint"
    SUPPLEMENTARY_SUBMISSION = "supplementary_submission"


FORUM_TYPES: dict[Forum, tuple[FilingType, ...]] = {
    Forum.ICJ: (
        FilingType.APPLICATION_INSTITUTING_PROCEEDINGS,
        FilingType.REQUEST_PROVISIONAL_MEASURES,
        FilingType.MEMORIAL,
        FilingType.COUNTER_MEMORIAL,
        FilingType.REPLY,
        FilingType.REJOINDER,
        FilingType.WRITTEN_OBSERVATIONS,
    ),
    Forum.ICC: (
        FilingType.ARTICLE_15_COMMUNICATION,
        FilingType.REQUEST_OR_SUBMISSION,
        FilingType.LIST_OF_EVIDENCE,
        FilingType.DISCLOSURE_PACKAGE,
    ),
    Forum.UJ: (FilingType.CRIMINAL_COMPLAINT, FilingType.SUPPLEMENTARY_SUBMISSION),
}


class FilingStatus(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    FILED = "filed"  # frozen: a change makes a new version


class Classification(StrEnum):
    PUBLIC = "public"
    CONFIDENTIAL = "confidential"
    UNDER_SEAL = "under_seal"
    EX_PARTE = "ex_parte"


class Filing(Base):
    __tablename__ = "filings"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    type: Mapped[FilingType] = mapped_column(enum_column(FilingType, "filing_type", length=40))
    title: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(35))
    court_document_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    filing_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status: Mapped[FilingStatus] = mapped_column(enum_column(FilingStatus, "filing_status"))
    classification: Mapped[Classification] = mapped_column(
        enum_column(Classification, "classification")
    )
    classification_basis: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Exhibit numbering: "<prefix> <start + position>"; None: the forum's convention.
    exhibit_prefix: Mapped[str | None] = mapped_column(String(40), nullable=True)
    exhibit_start: Mapped[int] = mapped_column(Integer, default=1)
    # Versions of one filing: 1, 2, ...; a new version names the filed one it supersedes.
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("filings.id"), nullable=True, unique=True
    )
    # Bumped by every change to the exhibits' list: a reorder names the one it was made from.
    exhibits_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    exhibits: Mapped[list[Exhibit]] = relationship(
        back_populates="filing", order_by="Exhibit.position", cascade="all, delete-orphan"
    )


class Exhibit(Base):
    """An item of the filing's case, at `position` (0-based) in the filing's list."""

    __tablename__ = "exhibits"

    id: Mapped[UUIDPK]
    filing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("filings.id"), index=True)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    classification: Mapped[Classification] = mapped_column(
        enum_column(Classification, "classification")
    )
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A restricted item's exhibit keeps its description only sealed under the item's data key
    # (logic/filings/exhibits.py), as the item's own details are; `description` is then NULL.
    sealed_description: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    added_at: Mapped[Timestamp]
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    filing: Mapped[Filing] = relationship(back_populates="exhibits")
    item: Mapped[Evidence] = relationship()

    __table_args__ = (UniqueConstraint("filing_id", "evidence_id", name="uq_exhibits_filing_item"),)
