from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp


class RecoveryCode(Base):
    """A one-time two-factor recovery code. Only a keyed SHA-256 of it is stored (the code
    carries 80 random bits, so a fast hash is enough, as for API tokens; logic/accounts/
    recovery_codes.py); used_at set means it has been spent."""

    __tablename__ = "recovery_codes"

    id: Mapped[UUIDPK]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp]
    used_at: Mapped[OptionalTimestamp]
