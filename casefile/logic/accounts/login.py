"""Password and two-factor sign-in, throttled (logic/accounts/throttle.py); every outcome, including
a throttled attempt, is in the security log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic.accounts import security_log, totp_at_rest
from casefile.logic.accounts.accounts import find_by_email, normalise_email, totp_step
from casefile.logic.accounts.passwords import hash_password, needs_rehash, verify_password
from casefile.logic.accounts.throttle import Throttle
from casefile.logic.errors import LoginRefused, TooManyAttempts
from casefile.model import SecurityEventType, User
from casefile.vault.envelope import Keyring

REFUSED = "email or password not accepted, or the account is disabled"


@dataclass(frozen=True)
class PasswordAccepted:
    user: User
    needs_totp: bool


def check_password(
    session: Session,
    email: str,
    password: str,
    *,
    throttle: Throttle,
    client_address: str | None,
) -> PasswordAccepted:
    """First factor. A throttled attempt is refused (TooManyAttempts) before the password is
    looked at; a wrong one counts against the client address and the account."""
    account = normalise_email(email)
    _refuse_if_throttled(session, throttle, account, None, client_address, email=email)
    user = find_by_email(session, email)
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None:
        throttle.failed(account=account, client=client_address)
        _refuse(session, None, email, client_address, "unknown_account")
    elif user.is_disabled:
        throttle.failed(account=account, client=client_address)  # a refusal like any other
        _refuse(session, user, email, client_address, "disabled")
    elif not password_ok:
        throttle.failed(account=account, client=client_address)
        _refuse(session, user, email, client_address, "wrong_password")
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
    throttle: Throttle,
    keyring: Keyring,
    client_address: str | None,
) -> User:
    """Second factor, after check_password said needs_totp. A code is accepted once only."""
    now = utcnow()
    user = session.get(User, user_id)
    if user is None or user.is_disabled or not user.totp_enabled:
        _refuse(session, user, None, client_address, "no_pending_login")
    _refuse_if_throttled(session, throttle, user.email, user, client_address, totp=True)
    secret = totp_at_rest.secret_of(keyring, user)
    step = totp_step(secret, code, now) if secret is not None else None
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        throttle.failed(account=user.email, client=client_address)
        _refuse(session, user, None, client_address, "wrong_code", totp=True)
    if user.totp_secret_legacy is not None and secret is not None:
        totp_at_rest.seal(keyring, user, secret)  # a secret from before encryption: move it
    user.totp_last_step = step
    _succeed(session, user, None, client_address)
    return user


def _refuse_if_throttled(
    session: Session,
    throttle: Throttle,
    account: str,
    user: User | None,
    client_address: str | None,
    *,
    email: str | None = None,
    totp: bool = False,
) -> None:
    try:
        throttle.check(account=account, client=client_address)
    except TooManyAttempts as error:
        security_log.record(
            session,
            SecurityEventType.TOTP_FAILED if totp else SecurityEventType.LOGIN_FAILED,
            user=user or find_by_email(session, account),
            email=email,
            client_address=client_address,
            reason="throttled",
            retry_after=error.retry_after,
        )
        session.commit()
        raise


def _succeed(
    session: Session, user: User, password: str | None, client_address: str | None
) -> None:
    if password is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    security_log.record(
        session, SecurityEventType.LOGIN_SUCCEEDED, user=user, client_address=client_address
    )
    session.commit()


def _refuse(
    session: Session,
    user: User | None,
    email: str | None,
    client_address: str | None,
    reason: str,
    *,
    totp: bool = False,
) -> NoReturn:
    security_log.record(
        session,
        SecurityEventType.TOTP_FAILED if totp else SecurityEventType.LOGIN_FAILED,
        user=user,
        email=email,
        client_address=client_address,
        reason=reason,
    )
    session.commit()
    raise LoginRefused(REFUSED)
