"""Browser sign-in sessions, held server-side so they can be ended from anywhere.

The cookie (signed by Flask) carries a random session id; the database keeps its SHA-256,
the account, when it started and was last seen, and where from. A request's cookie opens
nothing unless its session row is still active, so a cookie copied before sign-out, a
password change, a disable or an administrator's "sign out everywhere" stops working at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from casefile import db
from casefile.db import utcnow
from casefile.logic import authz
from casefile.logic.accounts import security_log
from casefile.model import LoginSession, SecurityEventType, User

# last_seen_at is written at most this often, so a busy page does not write on every request;
# the idle timeout is checked against it with this much slack.
LAST_SEEN_RESOLUTION = dt.timedelta(seconds=60)
KEEP_ENDED = dt.timedelta(days=90)  # ended sessions are kept this long, for the account page


@dataclass(frozen=True)
class NewSession:
    record: LoginSession
    token: str  # the id the cookie carries; never stored


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session,
    user: User,
    *,
    client_address: str | None,
    user_agent: str | None,
    replaces: LoginSession | None = None,
) -> NewSession:
    """A new session for a sign-in that has just succeeded (the caller has logged it);
    `replaces`, the session the browser held until now, if any, ends."""
    now = utcnow()
    if replaces is not None and replaces.ended_at is None:
        replaces.ended_at, replaces.end_reason = now, "replaced"
        replaces.totp_pending_wrapped = None
    token = secrets.token_urlsafe(32)
    record = LoginSession(
        user_id=user.id,
        token_hash=_digest(token),
        created_at=now,
        last_seen_at=now,
        client_address=client_address,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(record)
    session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id,
            LoginSession.ended_at.is_not(None),
            LoginSession.ended_at < now - KEEP_ENDED,
        )
    )
    session.commit()
    return NewSession(record, token)


def resume(
    session: Session,
    token: object,
    user_id: uuid.UUID,
    *,
    idle: dt.timedelta,
    end_as_idle: bool = False,
) -> LoginSession | None:
    """The active session `token` names for `user_id`, its last-seen time refreshed; None if
    it was ended, belongs to someone else, or has been idle longer than `idle` (or the caller
    found it idle: `end_as_idle`). An idle session is ended here, so it cannot come back."""
    if not isinstance(token, str) or not token:
        return None
    record = session.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token)))
    if record is None or record.ended_at is not None or record.user_id != user_id:
        return None
    now = utcnow()
    if end_as_idle or now - record.last_seen_at > idle + LAST_SEEN_RESOLUTION:
        db.begin_writing(session)  # a GET's first transaction read only so far
        record.ended_at, record.end_reason = now, "idle"
        record.totp_pending_wrapped = None
        session.commit()
        db.end_writing(session)
        return None
    if now - record.last_seen_at >= LAST_SEEN_RESOLUTION:
        db.begin_writing(session)
        record.last_seen_at = now
        session.commit()
        db.end_writing(session)
    return record


def end(
    session: Session, record: LoginSession, *, client_address: str | None, user: User
) -> None:
    """Sign-out: this session ends, and the sign-out is in the security log."""
    if record.ended_at is None:
        record.ended_at, record.end_reason = utcnow(), "logout"
    record.totp_pending_wrapped = None  # an enrolment left unfinished goes with the session
    security_log.record(
        session,
        SecurityEventType.LOGOUT,
        user=user,
        client_address=client_address,
        session_id=str(record.id),
    )
    session.commit()


def end_all(
    session: Session,
    user: User,
    *,
    reason: str,
    keep: uuid.UUID | None = None,
) -> int:
    """End every active session of `user` (but `keep`); the caller logs and commits."""
    query = update(LoginSession).where(
        LoginSession.user_id == user.id, LoginSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(LoginSession.id != keep)
    result = session.execute(
        query.values(
            ended_at=utcnow(), end_reason=reason, totp_pending_wrapped=None
        ).execution_options(
            synchronize_session="fetch"
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def sign_out_others(
    session: Session,
    actor: User | None,
    current: uuid.UUID | None,
    *,
    client_address: str | None = None,
) -> int:
    """A person's own "sign out my other sessions"; returns how many ended."""
    user = authz.require_active(actor)
    ended = end_all(session, user, reason="signed_out_by_owner", keep=current)
    security_log.record(
        session,
        SecurityEventType.LOGOUT,
        user=user,
        client_address=client_address,
        scope="other_sessions",
        sessions_ended=ended,
    )
    session.commit()
    return ended


def sign_out_everywhere(
    session: Session,
    actor: User | None,
    user: User,
    *,
    client_address: str | None = None,
) -> int:
    """An administrator ends every session of `user` (e.g. a lost laptop); logged as a
    security event naming the administrator."""
    admin = authz.require_admin(actor)
    ended = end_all(session, user, reason="signed_out_by_admin")
    user.session_version += 1
    security_log.record(
        session,
        SecurityEventType.LOGOUT,
        user=user,
        actor=admin,
        client_address=client_address,
        scope="everywhere",
        sessions_ended=ended,
    )
    session.commit()
    return ended


def active_sessions(session: Session, actor: User | None) -> list[LoginSession]:
    user = authz.require_active(actor)
    return list(
        session.scalars(
            select(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
            .order_by(LoginSession.last_seen_at.desc())
        )
    )
