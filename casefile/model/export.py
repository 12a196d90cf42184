"""Exports of a filing as a court bundle, run as background jobs (logic/export/jobs.py): who
asked, where the job is, and the stored result (a zip, encrypted at rest under its own data
key, wrapped by the key-encryption key with the export's id as associated data)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp
from casefile.model.enum_column import enum_column


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # Done once, then destroyed because an item it holds was deleted: its data key is gone
    # (crypto-shredded) and its blob deleted; `error` says which item and why.
    PURGED = "purged"


class Export(Base):
    __tablename__ = "exports"

    id: Mapped[UUIDPK]
    filing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("filings.id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id"), nullable=True
    )
    status: Mapped[ExportStatus] = mapped_column(enum_column(ExportStatus, "export_status"))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The filing's warnings when the export was asked for (JSON list), shown with it.
    warnings: Mapped[str] = mapped_column(Text, default="[]")
    # What the bundle holds, once done (JSON list of {"id", "ern", "number"}).
    exhibits: Mapped[str] = mapped_column(Text, default="[]")
    # How many times a job was started (a run found dead is started again).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[Timestamp]
    started_at: Mapped[OptionalTimestamp]
    heartbeat_at: Mapped[OptionalTimestamp]
    finished_at: Mapped[OptionalTimestamp]
    # When `recover` last handed this queued export to the queue again (null: only when it
    # was asked for, at created_at): a queued export is re-enqueued only once it has waited
    # jobs.REQUEUE_AFTER since then.
    enqueued_at: Mapped[OptionalTimestamp]
    bundle_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tagmanifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    blob_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The age public keys the stored zip is encrypted to (JSON list; none: a plain zip).
    age_recipients: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
