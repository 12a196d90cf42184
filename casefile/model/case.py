from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefile.db import UUIDPK, Base, Timestamp
from casefile.model.enum_column import enum_column
from casefile.model.user import User


class Forum(StrEnum):
    ICJ = "icj"
    ICC = "icc"
    UJ = "uj"


class Role(StrEnum):
    LEAD = "lead"
    LAWYER = "lawyer"
    INVESTIGATOR = "investigator"
    VIEWER = "viewer"


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[UUIDPK]
    title: Mapped[str] = mapped_column(String(300))
    forum: Mapped[Forum] = mapped_column(enum_column(Forum, "forum"))
    court: Mapped[str | None] = mapped_column(String(300), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ern_pattern: Mapped[str] = mapped_column(String(100))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[Timestamp]
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # While on, no item of the case can be deleted.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    members: Mapped[list[CaseMember]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseMember.added_at"
    )

    def as_fields(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "forum": self.forum.value,
            "court": self.court,
            "reference": self.reference,
            "ern_pattern": self.ern_pattern,
            "languages": list(self.languages),
            "description": self.description,
        }


class CaseMember(Base):
    __tablename__ = "case_members"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    added_at: Mapped[Timestamp]
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    case: Mapped[Case] = relationship(back_populates="members")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
