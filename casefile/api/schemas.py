"""Response shapes. Request shapes are the logic layer's input models (one schema per action)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

from casefile.model import Forum, Role


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    is_admin: bool
    totp_enabled: bool
    locale: str | None


class CaseOut(BaseModel):
    id: uuid.UUID
    title: str
    forum: Forum
    court: str | None
    reference: str | None
    ern_pattern: str
    languages: list[str]
    description: str | None
    created_at: dt.datetime
    my_role: Role | None = None


class CasePage(BaseModel):
    items: list[CaseOut]
    next: str | None


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    added_at: dt.datetime


class MemberList(BaseModel):
    items: list[MemberOut]


class TokenIn(BaseModel):
    name: str
    days: int | None = None


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class NewTokenOut(TokenOut):
    token: str


class TokenList(BaseModel):
    items: list[TokenOut]
