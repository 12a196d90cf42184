"""Accounts: creation, passwords, enabling and disabling, two-factor enrolment."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import pyotp
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import authz
from casefile.logic.accounts import login_sessions, security_log, tokens, totp_at_rest
from casefile.logic.accounts.passwords import hash_password, verify_password
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.text import refuse_nul
from casefile.model import SecurityEventType, User
from casefile.vault.envelope import Keyring

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
SUPPORTED_LOCALES = ("en", "my")


class AccountInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    email: EmailStr
    password: str = Field(repr=False)
    display_name: DisplayName | None = None
    is_admin: bool = False


def normalise_email(email: str) -> str:
    return email.strip().lower()


def ensure_password_meets_policy(password: str, min_length: int, field: str = "password") -> None:
    if len(password) < min_length:
        raise ValidationFailed({field: f"must be at least {min_length} characters"})
    if len(password) > 1024:
        raise ValidationFailed({field: "must be at most 1024 characters"})


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def create_account(
    session: Session,
    actor: User | None,
    data: AccountInput,
    *,
    min_password_length: int,
    client_address: str | None = None,
) -> User:
    """`actor` None is the operator on the host (the CLI bootstrapping the first admin)."""
    if actor is not None:
        authz.require_admin(actor)
    ensure_password_meets_policy(data.password, min_password_length)
    email = normalise_email(str(data.email))
    if find_by_email(session, email) is not None:
        raise ValidationFailed({"email": "an account with this email already exists"})
    user = User(
        email=email,
        display_name=data.display_name or email.split("@")[0],
        password_hash=hash_password(data.password),
        is_admin=data.is_admin,
        password_changed_at=utcnow(),
    )
    session.add(user)
    session.flush()
    security_log.record(
        session,
        SecurityEventType.ACCOUNT_CREATED,
        user=user,
        actor=actor,
        client_address=client_address,
        is_admin=data.is_admin,
    )
    session.commit()
    return user


def parse_account_input(**fields: object) -> AccountInput:
    try:
        return AccountInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def list_accounts(session: Session, actor: User | None) -> list[User]:
    authz.require_admin(actor)
    return list(session.scalars(select(User).order_by(func.lower(User.email))))


def get_account(session: Session, actor: User | None, user_id: uuid.UUID) -> User:
    authz.require_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("account not found")
    return user


def set_disabled(
    session: Session,
    actor: User | None,
    user: User,
    *,
    disabled: bool,
    client_address: str | None = None,
) -> User:
    if actor is not None:
        authz.require_admin(actor)
        if actor.id == user.id and disabled:
            raise Conflict("you cannot disable your own account")
    if disabled and not user.is_disabled:
        user.disabled_at = utcnow()
        user.session_version += 1
        # Every session and API token ends; enabling the account again brings none back.
        ended = login_sessions.end_all(session, user, reason="disabled")
        revoked = tokens.revoke_all(
            session, user, reason="account_disabled", actor=actor, client_address=client_address
        )
        security_log.record(
            session,
            SecurityEventType.ACCOUNT_DISABLED,
            user=user,
            actor=actor,
            client_address=client_address,
            sessions_ended=ended,
            tokens_revoked=revoked,
        )
    elif not disabled and user.is_disabled:
        user.disabled_at = None
        security_log.record(
            session,
            SecurityEventType.ACCOUNT_ENABLED,
            user=user,
            actor=actor,
            client_address=client_address,
        )
    else:
        return user
    session.commit()
    return user


def change_password(
    session: Session,
    user: User,
    *,
    current_password: str,
    new_password: str,
    min_password_length: int,
    revoke_tokens: bool = False,
    keep_session: uuid.UUID | None = None,
    client_address: str | None = None,
) -> int:
    """Every other sign-in session ends (`keep_session`, the one asking, stays); with
    `revoke_tokens` every API token is revoked too. Returns the number of tokens revoked."""
    authz.require_active(user)
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed({"current_password": "is not your current password"})
    ensure_password_meets_policy(new_password, min_password_length, field="new_password")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.session_version += 1  # other sessions end; the caller signs this one in again
    ended = login_sessions.end_all(session, user, reason="password_changed", keep=keep_session)
    revoked = 0
    if revoke_tokens:
        revoked = tokens.revoke_all(
            session, user, reason="password_changed", client_address=client_address
        )
    security_log.record(
        session,
        SecurityEventType.PASSWORD_CHANGED,
        user=user,
        client_address=client_address,
        sessions_ended=ended,
        tokens_revoked=revoked,
    )
    session.commit()
    return revoked


def set_locale(session: Session, user: User, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise ValidationFailed({"locale": f"must be one of {', '.join(SUPPORTED_LOCALES)}"})
    user.locale = locale
    session.commit()


# --- two-factor (TOTP, RFC 6238) ------------------------------------------------------------

TOTP_ISSUER = "Casefile"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def totp_step(secret: str, code: str, now: dt.datetime | None = None) -> int | None:
    """The accepted time step for `code` (one step of clock drift either way), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    moment = now or utcnow()
    for drift in (0, -1, 1):
        at = moment + dt.timedelta(seconds=drift * totp.interval)
        if totp.verify(code, for_time=at, valid_window=0):
            return totp.timecode(at)
    return None


def enable_totp(
    session: Session,
    user: User,
    *,
    secret: str,
    code: str,
    keyring: Keyring,
    client_address: str | None = None,
) -> None:
    """Turn on two-factor sign-in; the secret is stored encrypted under the KEK."""
    authz.require_active(user)
    if user.totp_enabled:
        raise Conflict("two-factor sign-in is already on; turn it off first")
    step = totp_step(secret, code)
    if step is None:
        raise ValidationFailed({"code": "that code does not match; check your device's clock"})
    totp_at_rest.seal(keyring, user, secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    security_log.record(
        session, SecurityEventType.TOTP_ENABLED, user=user, client_address=client_address
    )
    session.commit()


def disable_totp(
    session: Session,
    user: User,
    *,
    password: str,
    client_address: str | None = None,
) -> None:
    authz.require_active(user)
    if not verify_password(user.password_hash, password):
        raise ValidationFailed({"password": "is not your current password"})
    _clear_totp(user)
    security_log.record(
        session, SecurityEventType.TOTP_DISABLED, user=user, client_address=client_address
    )
    session.commit()


def reset_totp(
    session: Session,
    actor: User | None,
    user: User,
    *,
    client_address: str | None = None,
) -> None:
    """An administrator's reset for someone who lost their device."""
    if actor is not None:
        authz.require_admin(actor)
    _clear_totp(user)
    user.session_version += 1
    login_sessions.end_all(session, user, reason="totp_reset")
    security_log.record(
        session, SecurityEventType.TOTP_RESET, user=user, actor=actor, client_address=client_address
    )
    session.commit()


def _clear_totp(user: User) -> None:
    totp_at_rest.clear(user)
    user.totp_enabled_at = None
    user.totp_last_step = None


def list_all(session: Session) -> list[User]:
    """For the operator on the host (the CLI), who already holds the database."""
    return list(session.scalars(select(User).order_by(func.lower(User.email))))
