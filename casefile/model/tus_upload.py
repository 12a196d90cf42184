from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp, UTCDateTime
from casefile.model.enum_column import enum_column


class TusUploadState(StrEnum):
    RECEIVING = "receiving"  # bytes still arriving, or all arrived and not yet registered
    COMPLETING = "completing"  # one request is turning the chunks into an item
    COMPLETED = "completed"  # registered as `evidence_id`; its chunks are gone


class TusUpload(Base):
    """A resumable (tus) upload in progress. Its bytes are held in encrypted chunk blobs, one
    per PATCH, under a data key of its own (`wrapped_key`, wrapped by the KEK); once all have
    arrived they go through the normal intake pipeline and the chunks are removed. Only the
    account that created it may see or touch it."""

    __tablename__ = "tus_uploads"

    id: Mapped[UUIDPK]
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)  # Upload-Length
    received: Mapped[int] = mapped_column(BigInteger, default=0)  # Upload-Offset
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # from Upload-Metadata
    # A restricted upload's fields instead, sealed under its data key (casefile.vault.sealing);
    # `fields` then stays empty. Dropped once the item is registered (sealed in its turn).
    sealed_fields: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[TusUploadState] = mapped_column(enum_column(TusUploadState, "tus_upload_state"))
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evidence.id"), nullable=True)
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False)  # an item already held it
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]  # last chunk, or when completion was claimed
    completed_at: Mapped[OptionalTimestamp]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class TusChunk(Base):
    """The bytes of one PATCH, encrypted in the blob `blob_id` (associated data: the upload's
    id and `seq`, so chunks cannot be reordered or moved between uploads)."""

    __tablename__ = "tus_upload_chunks"

    upload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tus_uploads.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0, 1, 2, ... in upload order
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    start: Mapped[int] = mapped_column(BigInteger)  # offset of its first byte in the upload
    size: Mapped[int] = mapped_column(BigInteger)
