"""Tags of a case: its controlled vocabulary (defined by leads) and free tags (made by any
member who may add evidence, on first use), and which items and incidents carry which tag."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp

NAME_MAX = 64  # characters of a tag's name, as stored (NFC, trimmed)


class Tag(Base):
    """A tag of one case. `key` is the name NFC-normalised and case-folded: two tags of a
    case never share it. A retired tag stays on the items that carry it (and in the custody
    log) but is no longer offered or attached."""

    __tablename__ = "tags"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    key: Mapped[str] = mapped_column(String(4 * NAME_MAX))  # case folding can lengthen text
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # True: part of the case's controlled vocabulary (leads manage it); False: a free tag.
    controlled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    retired_at: Mapped[OptionalTimestamp]

    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_tags_case_key"),)


class EvidenceTag(Base):
    """One item carrying one tag (of the item's case)."""

    __tablename__ = "evidence_tags"

    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    tag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    tagged_at: Mapped[Timestamp]
    tagged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (Index("ix_evidence_tags_tag_id", "tag_id"),)


class IncidentTag(Base):
    """One incident carrying one tag (of the incident's case)."""

    __tablename__ = "incident_tags"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    tag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    tagged_at: Mapped[Timestamp]
    tagged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (Index("ix_incident_tags_tag_id", "tag_id"),)
