"""Keyset (cursor) pagination: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from casefile.logic.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def _encode(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    problem = ValidationFailed({"cursor": "not a cursor this server issued"})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        if not isinstance(decoded, list) or len(decoded) != 2:
            raise problem
        created_at, row_id = decoded
        if not isinstance(created_at, str) or not isinstance(row_id, str):
            raise problem  # uuid.UUID(1) would be an AttributeError: a 500
        moment, row = dt.datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise problem from error
    if moment.tzinfo is None:
        raise problem
    return moment, row


def cursor_after(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    """The cursor of a page that ends at this row (for callers that page by hand)."""
    return _encode(created_at, row_id)


def valid_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": f"must be between 1 and {MAX_LIMIT}"})
    return limit


def paginate(
    session: Session,
    query: Select[T],
    created_at: InstrumentedAttribute[dt.datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    *,
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """Oldest first, by (created_at, id)."""
    valid_limit(limit)
    if cursor:
        after_time, after_id = _decode(cursor)
        query = query.where(
            or_(created_at > after_time, and_(created_at == after_time, row_id > after_id))
        )
    rows: list[Any] = list(session.scalars(query.order_by(created_at, row_id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = _encode(getattr(last, created_at.key), getattr(last, row_id.key))
    return Page(items=rows, next_cursor=next_cursor)


def encode_seq(seq: int) -> str:
    """A cursor for lists in custody log order: the last sequence number shown."""
    return base64.urlsafe_b64encode(json.dumps(["seq", seq]).encode()).decode().rstrip("=")


def decode_seq(cursor: str) -> int:
    """The sequence number an `encode_seq` cursor names (ValidationFailed if none)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, seq = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValidationFailed({"cursor": "not a cursor this server issued"}) from error
    if tag != "seq" or not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**63:
        raise ValidationFailed({"cursor": "not a cursor this server issued"})
    return seq
