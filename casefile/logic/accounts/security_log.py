"""Appends to the security log; the table refuses UPDATE and DELETE at the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from casefile.model import SecurityEvent, SecurityEventType, User


def record(
    session: Session,
    event: SecurityEventType,
    *,
    user: User | None = None,
    actor: User | None = None,
    email: str | None = None,
    client_address: str | None = None,
    **details: Any,
) -> SecurityEvent:
    entry = SecurityEvent(
        event=event,
        user_id=user.id if user else None,
        actor_id=actor.id if actor else None,
        email=email if email is not None else (user.email if user else None),
        client_address=client_address,
        details=details,
    )
    session.add(entry)
    return entry
