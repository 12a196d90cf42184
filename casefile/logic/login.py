"""Password and two-factor sign-in with lockout; every outcome is in the security log."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import security_log
from casefile.logic.accounts import find_by_email, totp_step
from casefile.logic.errors import LoginRefused
from casefile.logic.passwords import hash_password, needs_rehash, verify_password
from casefile.model import SecurityEventType, User

REFUSED = "email or password not accepted, or the account is locked or disabled"


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    minutes: int = 15


@dataclass(frozen=True)
class PasswordAccepted:
    user: User
    needs_totp: bool


def check_password(
    session: Session,
    email: str,
    password: str,
    *,
    policy: LockoutPolicy,
    client_address: str | None,
) -> PasswordAccepted:
    """First factor. Commits the failure count even when it refuses."""
    now = utcnow()
    user = find_by_email(session, email)
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None:
        _refuse(session, None, email, client_address, "unknown_account")
    elif user.is_disabled:
        _refuse(session, user, email, client_address, "disabled")
    elif user.is_locked(now):
        _refuse(session, user, email, client_address, "locked")
    elif not password_ok:
        _count_failure(session, user, policy, now, client_address, "wrong_password")
    if user.totp_enabled:
        session.commit()
        return PasswordAccepted(user=user, needs_totp=True)
    _succeed(session, user, password, client_address)
    return PasswordAccepted(user=user, needs_totp=False)


def check_totp(
    session: Session,
    user_id: uuid.UUID,
    code: str,
    *,
    policy: LockoutPolicy,
    client_address: str | None,
) -> User:
    """Second factor, after check_password said needs_totp. A code is accepted once only."""
    now = utcnow()
    user = session.get(User, user_id)
    if user is None or user.is_disabled or user.totp_secret is None:
        _refuse(session, user, None, client_address, "no_pending_login")
    elif user.is_locked(now):
        _refuse(session, user, None, client_address, "locked")
    step = totp_step(user.totp_secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        _count_failure(session, user, policy, now, client_address, "wrong_code")
    user.totp_last_step = step
    _succeed(session, user, None, client_address)
    return user


def record_logout(session: Session, user: User, client_address: str | None) -> None:
    security_log.record(session, SecurityEventType.LOGOUT, user=user, client_address=client_address)
    session.commit()


def _succeed(
    session: Session, user: User, password: str | None, client_address: str | None
) -> None:
    user.failed_logins = 0
    user.locked_until = None
    if password is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    security_log.record(
        session, SecurityEventType.LOGIN_SUCCEEDED, user=user, client_address=client_address
    )
    session.commit()


def _count_failure(  # noqa: PLR0917
    session: Session,
    user: User,
    policy: LockoutPolicy,
    now: dt.datetime,
    client_address: str | None,
    reason: str,
) -> NoReturn:
    user.failed_logins += 1
    event = (
        SecurityEventType.TOTP_FAILED if reason == "wrong_code" else SecurityEventType.LOGIN_FAILED
    )
    security_log.record(
        session,
        event,
        user=user,
        client_address=client_address,
        reason=reason,
        failures=user.failed_logins,
    )
    if user.failed_logins >= policy.max_failures:
        user.locked_until = now + dt.timedelta(minutes=policy.minutes)
        user.failed_logins = 0
        security_log.record(
            session,
            SecurityEventType.LOCKED_OUT,
            user=user,
            client_address=client_address,
            until=user.locked_until.isoformat(),
        )
    session.commit()
    raise LoginRefused(REFUSED)


def _refuse(
    session: Session,
    user: User | None,
    email: str | None,
    client_address: str | None,
    reason: str,
) -> NoReturn:
    security_log.record(
        session,
        SecurityEventType.LOGIN_FAILED,
        user=user,
        email=email,
        client_address=client_address,
        reason=reason,
    )
    session.commit()
    raise LoginRefused(REFUSED)
