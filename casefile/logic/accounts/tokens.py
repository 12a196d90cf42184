"""API bearer tokens: random, shown once, stored as SHA-256 (they carry 256 bits of entropy,
so a fast hash is the right tool; a slow password hash would only slow every request)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile import db
from casefile.db import utcnow
from casefile.logic import authz
from casefile.logic.accounts import security_log
from casefile.logic.accounts.throttle import Throttle
from casefile.logic.errors import NotFound, TooManyAttempts, Unauthenticated, ValidationFailed
from casefile.model import ApiToken, SecurityEventType, User

TOKEN_PREFIX = "cf_"  # noqa: S105 - a public marker, not a secret
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    actor: User | None,
    *,
    name: str,
    days: int,
    client_address: str | None = None,
) -> tuple[ApiToken, str]:
    """Returns the stored token and the plaintext, which is never available again."""
    user = authz.require_active(actor)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed({"name": "give the token a name of 1 to 100 characters"})
    if not 1 <= days <= 3650:
        raise ValidationFailed({"days": "must be between 1 and 3650"})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_digest(plaintext),
        prefix=plaintext[:10],
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    security_log.record(
        session,
        SecurityEventType.TOKEN_CREATED,
        user=user,
        client_address=client_address,
        token_id=str(token.id),
        name=name,
    )
    session.commit()
    return token, plaintext


def list_tokens(session: Session, actor: User | None) -> list[ApiToken]:
    user = authz.require_active(actor)
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
        )
    )


def revoke_token(
    session: Session,
    actor: User | None,
    token_id: uuid.UUID,
    *,
    client_address: str | None = None,
) -> ApiToken:
    user = authz.require_active(actor)
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("token not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        security_log.record(
            session,
            SecurityEventType.TOKEN_REVOKED,
            user=user,
            client_address=client_address,
            token_id=str(token.id),
        )
        session.commit()
    return token


def user_for_token(
    session: Session, plaintext: str, *, throttle: Throttle, client_address: str | None
) -> User:
    """The account a bearer token speaks for; Unauthenticated if it is unknown, expired,
    revoked or its account disabled. Refused tokens count against the client address
    (logic/accounts/throttle.py); a throttled client gets TooManyAttempts before any lookup."""
    try:
        throttle.check(account=None, client=client_address)
    except TooManyAttempts as error:
        security_log.record(
            session,
            SecurityEventType.TOKEN_REFUSED,
            client_address=client_address,
            reason="throttled",
            retry_after=error.retry_after,
        )
        session.commit()
        raise
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plaintext)))
    now = utcnow()
    reason = None
    if token is None:
        reason = "unknown"
    elif token.revoked_at is not None:
        reason = "revoked"
    elif token.expires_at is not None and token.expires_at <= now:
        reason = "expired"
    elif token.user.is_disabled:
        reason = "account_disabled"
    if reason is not None or token is None:
        db.begin_writing(session)  # a GET's first transaction read only so far
        security_log.record(
            session,
            SecurityEventType.TOKEN_REFUSED,
            user=token.user if token else None,
            client_address=client_address,
            reason=reason,
            prefix=plaintext[:10],
        )
        session.commit()
        throttle.failed(account=None, client=client_address)
        raise Unauthenticated("the API token is not valid")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        db.begin_writing(session)  # a GET's first transaction read only so far
        token.last_used_at = now  # coarse, so a busy client does not write on every request
        session.commit()
        db.end_writing(session)
    return token.user


def revoke_all(
    session: Session,
    user: User,
    *,
    reason: str,
    actor: User | None = None,
    client_address: str | None = None,
) -> int:
    """Revoke every live token of `user` (disable, a password change that asks for it, or the
    owner's own request); one security event with the count. The caller commits."""
    now = utcnow()
    live = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
    )
    for token in live:
        token.revoked_at = now
    if live:
        security_log.record(
            session,
            SecurityEventType.TOKEN_REVOKED,
            user=user,
            actor=actor,
            client_address=client_address,
            scope="all",
            reason=reason,
            token_ids=[str(token.id) for token in live],
        )
    return len(live)


def revoke_my_tokens(
    session: Session, actor: User | None, *, client_address: str | None = None
) -> int:
    """The caller's own "revoke all my API tokens" (including the one it may be using)."""
    user = authz.require_active(actor)
    count = revoke_all(session, user, reason="owner_request", client_address=client_address)
    session.commit()
    return count
