from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp
from casefile.model.user import User


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[UUIDPK]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[OptionalTimestamp]
    revoked_at: Mapped[OptionalTimestamp]
    last_used_at: Mapped[OptionalTimestamp]

    user: Mapped[User] = relationship()
