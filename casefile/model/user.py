from __future__ import annotations

import uuid

from sqlalchemy import Boolean, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from casefile.db import UUIDPK, Base, OptionalTimestamp, Timestamp


class User(Base):
    """An account. Administrators manage accounts; they read no case content by that role."""

    __tablename__ = "users"

    id: Mapped[UUIDPK]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[OptionalTimestamp]
    # The TOTP secret, encrypted under the KEK (Tink AEAD, the user id as associated data).
    totp_secret_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Before 2026-12 secrets were stored here as plain base32. Nothing writes it any more;
    # `casefile init`, `casefile keys rotate` and the next sign-in move what is left into
    # totp_secret_wrapped and empty it (logic/accounts/totp_at_rest.py).
    totp_secret_legacy: Mapped[str | None] = mapped_column(
        "totp_secret", String(64), nullable=True
    )
    totp_enabled_at: Mapped[OptionalTimestamp]
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # Part of the login session id: bumping it signs out every session of the account.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[Timestamp]
    password_changed_at: Mapped[Timestamp]
    # Set by an administrator's password reset: the temporary password opens only the page
    # where the person chooses their own (web/sessions.py), and is cleared by that change.
    password_must_change: Mapped[bool] = mapped_column(Boolean, server_default=false())

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.is_disabled

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @staticmethod
    def parse_login_id(login_id: str) -> tuple[uuid.UUID, int] | None:
        user_id, _, version = login_id.partition(":")
        try:
            return uuid.UUID(user_id), int(version)
        except ValueError:
            return None
