"""The blind index over restricted items' sealed metadata: keyed hashes of normalised tokens
(never the tokens themselves), and the index key, stored only wrapped by the KEK."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import Base, Timestamp


class IndexKey(Base):
    """The blind index's HMAC key (a Tink PRF keyset), wrapped by the KEK; one row. KEK
    rotation rewraps it; the key itself never changes, so the stored hashes stay valid."""

    __tablename__ = "blind_index_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[Timestamp]


class IndexToken(Base):
    """One keyed hash of one normalised token (or of a whole field) of a restricted item."""

    __tablename__ = "evidence_index_tokens"

    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)

    __table_args__ = (Index("ix_evidence_index_tokens_field_hash", "field", "token_hash"),)
