"""Reading the custody log: its size, its entries filtered by case, item, actor, action and
time, and an entry as exported (the fields of its canonical encoding)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.model import CustodyAction, CustodyEntry
from casefile.verifier.custody_entry import format_time


def log_size(session: Session) -> int:
    last = session.scalar(select(func.max(CustodyEntry.seq)))
    return 0 if last is None else last + 1


def entries_for(
    session: Session,
    *,
    case_id: uuid.UUID | None = None,
    item_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: CustodyAction | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after_seq: int | None = None,
    limit: int = 500,
) -> list[CustodyEntry]:
    query = select(CustodyEntry).order_by(CustodyEntry.seq).limit(limit)
    if case_id is not None:
        query = query.where(CustodyEntry.case_id == case_id)
    if item_id is not None:
        query = query.where(CustodyEntry.item_id == item_id)
    if actor_id is not None:
        query = query.where(CustodyEntry.actor_id == actor_id)
    if action is not None:
        query = query.where(CustodyEntry.action == action)
    if since is not None:
        query = query.where(CustodyEntry.time >= since)
    if until is not None:
        query = query.where(CustodyEntry.time < until)
    if after_seq is not None:
        query = query.where(CustodyEntry.seq > after_seq)
    return list(session.scalars(query))


def entry_json(entry: CustodyEntry) -> dict[str, Any]:
    """The entry as exported: exactly the fields of its canonical encoding, plus its hash."""
    return {
        "seq": entry.seq,
        "time": format_time(entry.time),
        "actor": {
            "id": str(entry.actor_id) if entry.actor_id else None,
            "label": entry.actor_label,
        },
        "action": entry.action.value,
        "case": str(entry.case_id) if entry.case_id else None,
        "item": str(entry.item_id) if entry.item_id else None,
        "details": json.loads(entry.details),
    }
