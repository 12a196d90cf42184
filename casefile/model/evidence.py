from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp
from casefile.model.case import Case
from casefile.model.enum_column import enum_column


class Sensitivity(StrEnum):
    STANDARD = "standard"
    RESTRICTED = "restricted"  # e.g. witness-identifying: needs a per-person grant


class Derivation(StrEnum):
    """How an item was made from the item it derives from (`derived_from_id`)."""

    TRANSLATION = "translation"
    REDACTION = "redaction"


class EvidenceStatus(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"  # a tombstone: data key destroyed, blob removed


class Evidence(Base):
    """An item of evidence. Its bytes are only ever stored encrypted, in the blob named by
    its id; `wrapped_key` is its data key wrapped by the KEK (NULL once crypto-shredded).

    An item submitted by someone who may not see an earlier item with the same bytes (a
    restricted one) is an item of its own that shares that item's blob: `content_id` names the
    item whose blob holds the bytes, and `wrapped_key` is the same data key wrapped for this
    item. One blob per SHA-256 per case, and the submitter learns nothing of the hidden item."""

    __tablename__ = "evidence"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # gapless per case; the ERN's {seq}
    batch: Mapped[int] = mapped_column(Integer, default=1)
    ern: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    original_filename: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    declared_mime: Mapped[str | None] = mapped_column(String(200), nullable=True)
    mime: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    declared_hashes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    sensitivity: Mapped[Sensitivity] = mapped_column(enum_column(Sensitivity, "sensitivity"))
    status: Mapped[EvidenceStatus] = mapped_column(enum_column(EvidenceStatus, "evidence_status"))
    collector: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extracted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Text extracted at intake from a PDF or a text file (capped; casefile/vault/extract.py),
    # for search. A restricted item's is sealed with its other metadata: NULL here.
    extracted_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # A restricted item's title, description, file name, collector and extracted fields,
    # encrypted under its own data key (casefile/vault/sealing.py); the plain columns above
    # then hold a placeholder title and nothing else. NULL for standard items.
    sealed_metadata: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    content_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("evidence.id"), nullable=True, index=True
    )
    # The item's language (BCP 47 code, e.g. "en", "fr", "my"), when known.
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    # A derivative (a translation, a redacted version) names the item it was made from.
    derived_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("evidence.id"), nullable=True, index=True
    )
    derivation: Mapped[Derivation | None] = mapped_column(
        enum_column(Derivation, "derivation"), nullable=True
    )
    # A PDF's number of pages, counted (by PDFium, on the verified bytes) when first needed.
    page_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    deleted_at: Mapped[OptionalTimestamp]

    case: Mapped[Case] = relationship()

    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_evidence_case_seq"),
        Index("ix_evidence_case_sha256", "case_id", "sha256"),
        # The case's listing, in its page order (logic/pagination.py): read in order, no sort.
        Index("ix_evidence_case_created", "case_id", "created_at", "id"),
    )

    @property
    def content_owner(self) -> uuid.UUID:
        """The item whose id names the blob and is bound into its encryption."""
        return self.content_id or self.id

    @property
    def blob_id(self) -> str:
        return self.content_owner.hex


class EvidenceGrant(Base):
    """An explicit permission for one person to see one restricted item."""

    __tablename__ = "evidence_grants"

    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    granted_at: Mapped[Timestamp]
