"""The search index: one row per searchable document (an item of evidence, an incident), and
the blind terms of restricted items. See casefile/logic/search/ for what goes in them.

A document's terms are in a table of their own (`search_bodies`), so that the rows a query
reads for its candidates stay narrow. Each engine indexes them its own way, outside these
mappings (migrations/, "search index"): SQLite an FTS5 table `search_fts` over
`search_bodies` kept in step by triggers, PostgreSQL a stored `tsvector` column generated
from the body with a GIN index. A restricted item has no body: its terms are only in
`search_blind_terms`, as keyed hashes."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import Base, Timestamp

# An integer key: FTS5 addresses its rows by an integer rowid (SQLite's INTEGER PRIMARY KEY).
DocumentKey = BigInteger().with_variant(Integer(), "sqlite")


class SearchDocument(Base):
    __tablename__ = "search_documents"

    id: Mapped[int] = mapped_column(DocumentKey, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # evidence | incident
    doc_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)  # the item's or incident's id
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[Timestamp]  # the document's own; results are paged in this order
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    mime: Mapped[str | None] = mapped_column(String(200), nullable=True)  # an item's type

    __table_args__ = (Index("ix_search_documents_case_created", "case_id", "created_at", "doc_id"),)


class SearchBody(Base):
    """A standard document's terms, encoded (casefile/logic/search/terms.py)."""

    __tablename__ = "search_bodies"

    document_id: Mapped[int] = mapped_column(
        DocumentKey, ForeignKey("search_documents.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)


class SearchBlindTerm(Base):
    """A keyed hash (the blind index key) of a term, or of two terms in a row, of a
    restricted item's text."""

    __tablename__ = "search_blind_terms"

    document_id: Mapped[int] = mapped_column(
        DocumentKey, ForeignKey("search_documents.id", ondelete="CASCADE"), primary_key=True
    )
    term_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)

    __table_args__ = (Index("ix_search_blind_terms_hash", "term_hash"),)
