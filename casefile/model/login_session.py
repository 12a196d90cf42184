from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp


class LoginSession(Base):
    """A signed-in browser session, held server-side so it can be ended from anywhere.

    The browser's cookie carries a random session id; only its SHA-256 is stored (the id has
    256 bits of entropy, so a fast hash is enough and a stolen table opens no session).
    """

    __tablename__ = "login_sessions"

    id: Mapped[UUIDPK]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp]
    last_seen_at: Mapped[Timestamp]
    ended_at: Mapped[OptionalTimestamp]
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # A two-factor secret being enrolled in this session, sealed under the KEK like the
    # account's own (logic/accounts/totp_at_rest.py): the same secret on every reload of the
    # enrolment page until enrolment completes or is cancelled.
    totp_pending_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    @property
    def is_active(self) -> bool:
        return self.ended_at is None
