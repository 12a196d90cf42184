"""Password and two-factor sign-in, throttled (logic/accounts/throttle.py); every outcome, including
a throttled attempt, is in the security log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic.accounts import recovery_codes, security_log, totp_at_rest
from casefile.logic.accounts.accounts import find_by_email, normalise_email, totp_step
from casefile.logic.accounts.passwords import hash_password, needs_rehash, verify_password
from casefile.logic.accounts.throttle import Throttle, lock_ends
from casefile.logic.errors import AccountLocked, CodeAlreadyUsed, LoginRefused, TooManyAttempts
from casefile.model import SecurityEventType, User
from casefile.vault.envelope import Keyring

REFUSED = "email or password not accepted, or the account is disabled"
ALREADY_USED = "this code was already used; wait for the next code (up to 30 s) and enter it"


@dataclass(frozen=True)
class SecondFactorAccepted:
    user: User
    recovery_codes_left: int | None  # signed in with a recovery code: how many are left


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
    """First factor. A throttled attempt is refused (TooManyAttempts); a wrong one counts
    against the client address and the account. While throttled, the password is checked
    only within the throttle's small probe budget and counts nothing; if it is the right one
    for an enabled account, the refusal says until when the account is locked (AccountLocked),
    which tells nothing to anyone without the password."""
    account = normalise_email(email)
    try:
        throttle.check(account=account, client=client_address)
    except TooManyAttempts as error:
        _refuse_throttled(
            session, throttle, error, account=account, email=email, password=password,
            client_address=client_address,
        )
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
) -> SecondFactorAccepted:
    """Second factor, after check_password said needs_totp: an authenticator code, accepted
    once only (a right code already used in its step is refused with CodeAlreadyUsed), or a
    one-time recovery code."""
    now = utcnow()
    user = session.get(User, user_id)
    if user is None or user.is_disabled or not user.totp_enabled:
        _refuse(session, user, None, client_address, "no_pending_login")
    _refuse_if_throttled(session, throttle, user.email, user, client_address, totp=True)
    if recovery_codes.looks_like_code(code):
        return _recover(session, user, code, throttle=throttle, client_address=client_address)
    secret = totp_at_rest.secret_of(keyring, user)
    step = totp_step(secret, code, now) if secret is not None else None
    if step is None:
        throttle.failed(account=user.email, client=client_address)
        _refuse(session, user, None, client_address, "wrong_code", totp=True)
    if user.totp_last_step is not None and step <= user.totp_last_step:
        throttle.failed(account=user.email, client=client_address)  # still a failed attempt
        _refuse(
            session, user, None, client_address, "code_already_used", totp=True,
            error=CodeAlreadyUsed(ALREADY_USED),
        )
    if user.totp_secret_legacy is not None and secret is not None:
        totp_at_rest.seal(keyring, user, secret)  # a secret from before encryption: move it
    user.totp_last_step = step
    _succeed(session, user, None, client_address)
    return SecondFactorAccepted(user, None)


def _recover(
    session: Session,
    user: User,
    code: str,
    *,
    throttle: Throttle,
    client_address: str | None,
) -> SecondFactorAccepted:
    left = recovery_codes.spend(session, user, code)
    if left is None:
        throttle.failed(account=user.email, client=client_address)
        _refuse(session, user, None, client_address, "wrong_recovery_code", totp=True)
    security_log.record(
        session,
        SecurityEventType.RECOVERY_CODE_USED,
        user=user,
        client_address=client_address,
        codes_left=left,
    )
    _succeed(session, user, None, client_address)
    return SecondFactorAccepted(user, left)


def _refuse_throttled(
    session: Session,
    throttle: Throttle,
    error: TooManyAttempts,
    *,
    account: str,
    email: str,
    password: str,
    client_address: str | None,
) -> NoReturn:
    """A sign-in refused by the throttle. Within the probe budget the password is checked
    (argon2 against a dummy hash for an unknown account, so the work is the same), only to
    tell the owner how long the lock lasts; nothing is counted as a failure."""
    user = find_by_email(session, account)
    probe = throttle.may_probe(account=account, client=client_address)
    right = probe and verify_password(user.password_hash if user else None, password)
    locked = right and user is not None and not user.is_disabled
    security_log.record(
        session,
        SecurityEventType.LOGIN_FAILED,
        user=user,
        email=email,
        client_address=client_address,
        reason="locked" if locked else "throttled",
        retry_after=error.retry_after,
    )
    session.commit()
    if locked:
        raise AccountLocked(error.retry_after, lock_ends(error.retry_after))
    raise error


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
    error: LoginRefused | None = None,
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
    raise error or LoginRefused(REFUSED)
