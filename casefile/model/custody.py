from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import Base, Timestamp
from casefile.model.enum_column import enum_column

BigId = BigInteger().with_variant(Integer, "sqlite")


class CustodyAction(StrEnum):
    CASE_CREATED = "case_created"
    CASE_UPDATED = "case_updated"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    MEMBER_ROLE_CHANGED = "member_role_changed"
    CUSTODY_TRANSFERRED = "custody_transferred"
    INTAKE = "intake"
    SUBMITTED_AGAIN = "submitted_again"
    VIEWED = "viewed"
    DOWNLOADED = "downloaded"
    METADATA_EDITED = "metadata_edited"
    TAGGED = "tagged"
    LINKED = "linked"
    EXPORTED = "exported"
    INTEGRITY_CHECKED = "integrity_checked"
    INTEGRITY_FAILURE = "integrity_failure"
    KEY_ROTATED = "key_rotated"
    DELETED = "deleted"
    LEGAL_HOLD_CHANGED = "legal_hold_changed"
    ACCESS_GRANTED = "access_granted"  # to a restricted item
    ACCESS_REVOKED = "access_revoked"
    INCIDENT_CREATED = "incident_created"
    INCIDENT_UPDATED = "incident_updated"
    UNLINKED = "unlinked"  # an item's link to an incident removed
    PERPETRATOR_CREATED = "perpetrator_created"


class CustodyEntry(Base):
    """One leaf of the custody log's Merkle tree. Append-only at the database.

    The leaf is SHA-256(0x00 || canonical bytes of the entry); the encoding is documented in
    docs/custody.md and implemented in casefile/verifier/custody_entry.py."""

    __tablename__ = "custody_entries"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    time: Mapped[Timestamp]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(400))
    action: Mapped[CustodyAction] = mapped_column(enum_column(CustodyAction, "custody_action"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    item_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, stored as the bytes hashed
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        Index("ix_custody_entries_case_seq", "case_id", "seq"),
        Index("ix_custody_entries_item_seq", "item_id", "seq"),
    )


class CustodyNode(Base):
    """A perfect subtree hash of the custody tree; level 0 are the leaves. Never changes once
    written, so an append costs O(log n) and a proof reads O(log n) rows."""

    __tablename__ = "custody_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CustodyCheckpoint(Base):
    """A signed C2SP checkpoint of the log at `size`. Append-only at the database."""

    __tablename__ = "custody_checkpoints"

    size: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    time: Mapped[Timestamp]
    origin: Mapped[str] = mapped_column(String(200))
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the signed note, exactly as served
