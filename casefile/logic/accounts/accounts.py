"""Accounts: creation, passwords, enabling and disabling, two-factor enrolment."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
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

from casefile import db
from casefile.db import utcnow
from casefile.logic import authz
from casefile.logic.accounts import (
    login_sessions,
    recovery_codes,
    security_log,
    tokens,
    totp_at_rest,
)
from casefile.logic.accounts.passwords import hash_password, verify_password
from casefile.logic.accounts.throttle import Throttle
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.text import refuse_nul
from casefile.model import LoginSession, SecurityEvent, SecurityEventType, User
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


@dataclass(frozen=True)
class AccountState:
    user: User
    locked_until: dt.datetime | None  # the account's failure budget is spent until then


def account_states(
    session: Session, actor: User | None, *, throttle: Throttle
) -> list[AccountState]:
    """Every account, with when its sign-in lock (throttle) ends if it is locked: the
    administrators' list."""
    users = list_accounts(session, actor)
    return [AccountState(user, throttle.account_locked_until(user.email)) for user in users]


def unlock(
    session: Session,
    actor: User | None,
    user: User,
    *,
    throttle: Throttle,
    client_address: str | None = None,
) -> None:
    """An administrator clears the account's failure counts, so sign-in works again from
    addresses that failed on it (an address throttled for its own failures on any account
    stays throttled). Logged, naming the administrator."""
    if actor is not None:
        authz.require_admin(actor)
    wait = throttle.account_wait(user.email)
    throttle.unlock(user.email)
    security_log.record(
        session,
        SecurityEventType.ACCOUNT_UNLOCKED,
        user=user,
        actor=actor,
        client_address=client_address,
        was_locked_seconds=wait,
    )
    session.commit()


TEMPORARY_PASSWORD_BYTES = 18  # 24 characters, above any allowed minimum length


# An administrator may reset one of an account's two factors, not both within this time: the
# password and two-factor reset by one administrator would hand them the account, with its
# access to restricted items, the custody log naming its owner. The operator (on the server,
# `casefile users ...`, no acting user) may: then two people were involved.
BOTH_FACTORS_DAYS = 7


def _refuse_both_factors(
    session: Session, actor: User | None, user: User, other: SecurityEventType
) -> None:
    if actor is None:
        return
    since = utcnow() - dt.timedelta(days=BOTH_FACTORS_DAYS)
    earlier = session.scalar(
        select(SecurityEvent.time)
        .where(
            SecurityEvent.user_id == user.id,
            SecurityEvent.event == other,
            SecurityEvent.actor_id.is_not(None),
            SecurityEvent.time >= since,
        )
        .order_by(SecurityEvent.time.desc())
        .limit(1)
    )
    if earlier is not None:
        what = "two-factor sign-in" if other == SecurityEventType.TOTP_RESET else "the password"
        raise Conflict(
            f"an administrator reset {what} of this account on {earlier:%Y-%m-%d %H:%M} UTC; "
            f"one administrator may not reset both within {BOTH_FACTORS_DAYS} days (that would "
            "hand them the account): the operator can, on the server, with `casefile users`"
        )


def reset_password(
    session: Session,
    actor: User | None,
    user: User,
    *,
    client_address: str | None = None,
) -> str:
    """An administrator's reset for someone who lost their password: a random temporary
    password, returned once (to be given to the person by another channel) and never stored
    in the clear; it opens only the page where they choose their own. Every session ends and
    every API token is revoked: a reset is also how a suspected compromise is handled, and
    whoever held the old password must not keep a way in. Logged, naming the administrator."""
    if actor is not None:
        authz.require_admin(actor)
    if user.is_disabled:
        raise Conflict("the account is disabled; enable it first")
    _refuse_both_factors(session, actor, user, SecurityEventType.TOTP_RESET)
    temporary = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    user.password_hash = hash_password(temporary)
    user.password_changed_at = utcnow()
    user.password_must_change = True
    _end_access(
        session, actor, user, SecurityEventType.PASSWORD_RESET,
        ("password_reset", "password_reset"), client_address=client_address,
    )  # fmt: skip
    session.commit()
    return temporary


def _end_access(
    session: Session,
    actor: User | None,
    user: User,
    event: SecurityEventType,
    reasons: tuple[str, str],
    *,
    client_address: str | None,
) -> None:
    """End every session and API token of `user` (enabling the account or a new password
    brings none back), and log `event` with how many ended. `reasons`: the sessions' and
    the tokens' recorded reason."""
    session_reason, token_reason = reasons
    user.session_version += 1
    ended = login_sessions.end_all(session, user, reason=session_reason)
    revoked = tokens.revoke_all(
        session, user, reason=token_reason, actor=actor, client_address=client_address
    )
    security_log.record(
        session,
        event,
        user=user,
        actor=actor,
        client_address=client_address,
        sessions_ended=ended,
        tokens_revoked=revoked,
    )


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
    last_admin = user.is_admin and _other_active_admins(session, user) == 0
    if disabled and not user.is_disabled and last_admin:
        raise Conflict("this is the last active administrator; make another one first")
    if disabled and not user.is_disabled:
        user.disabled_at = utcnow()
        _end_access(
            session, actor, user, SecurityEventType.ACCOUNT_DISABLED,
            ("disabled", "account_disabled"), client_address=client_address,
        )  # fmt: skip
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


def _other_active_admins(session: Session, user: User) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_admin.is_(True), User.disabled_at.is_(None), User.id != user.id)
        )
        or 0
    )


def _recheck_password(
    user: User, password: str, field: str, throttle: Throttle | None, client_address: str | None
) -> None:
    """The password asked again before a sensitive change (a signed-in session is not proof
    enough): wrong answers count against the account and the address as at sign-in, so a
    stolen session cookie is no unthrottled way to guess the password."""
    if throttle is not None:
        throttle.check(account=user.email, client=client_address)
    if not verify_password(user.password_hash, password):
        if throttle is not None:
            throttle.failed(account=user.email, client=client_address)
        raise ValidationFailed({field: "is not your current password"})


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
    throttle: Throttle | None = None,
) -> int:
    """Every other sign-in session ends (`keep_session`, the one asking, stays); with
    `revoke_tokens` every API token is revoked too. Returns the number of tokens revoked."""
    authz.require_active(user)
    _recheck_password(user, current_password, "current_password", throttle, client_address)
    ensure_password_meets_policy(new_password, min_password_length, field="new_password")
    if user.password_must_change and new_password == current_password:
        raise ValidationFailed({"new_password": "must differ from the temporary password"})
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.password_must_change = False
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


def pending_totp_secret(
    session: Session, user: User, record: LoginSession, *, keyring: Keyring
) -> str:
    """The secret being enrolled in this sign-in session: made on the first visit to the
    enrolment page, kept sealed on the login session record, and the same on every reload
    until enrolment completes or is cancelled (a scan made before a reload still works)."""
    authz.require_active(user)
    if record.user_id != user.id:
        raise NotFound("session not found")
    secret = None
    if record.totp_pending_wrapped is not None:
        try:
            secret = totp_at_rest.pending_of(keyring, record)
        except Exception:  # noqa: BLE001 - sealed under a key since retired: start again
            secret = None
    if secret is None:
        secret = new_totp_secret()
        db.begin_writing(session)  # a GET's first transaction read only so far
        totp_at_rest.seal_pending(keyring, record, secret)
        session.commit()
        db.end_writing(session)
    return secret


def cancel_totp_enrolment(session: Session, user: User, record: LoginSession) -> None:
    """Forget the secret being enrolled; the next visit to the enrolment page makes a new one."""
    authz.require_active(user)
    if record.user_id == user.id and record.totp_pending_wrapped is not None:
        record.totp_pending_wrapped = None
        session.commit()


def enable_totp(
    session: Session,
    user: User,
    *,
    secret: str,
    code: str,
    keyring: Keyring,
    client_address: str | None = None,
    pending: LoginSession | None = None,
) -> list[str]:
    """Turn on two-factor sign-in; the secret is stored encrypted under the KEK. Returns ten
    recovery codes, shown once (logic/accounts/recovery_codes.py). `pending`, the login
    session that held the secret during enrolment, forgets it.

    The accepted code's time step is recorded as used, so the same code cannot then sign in
    within its 30 seconds: a code works once, and one seen over a shoulder or in a screen
    recording of the enrolment must not open the account."""
    authz.require_active(user)
    if user.totp_enabled:
        raise Conflict("two-factor sign-in is already on; turn it off first")
    step = totp_step(secret, code)
    if step is None:
        raise ValidationFailed({"code": "that code does not match; check your device's clock"})
    totp_at_rest.seal(keyring, user, secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    if pending is not None:
        pending.totp_pending_wrapped = None
    security_log.record(
        session, SecurityEventType.TOTP_ENABLED, user=user, client_address=client_address
    )
    codes = _new_recovery_codes(session, user, client_address)
    session.commit()
    return codes


def _new_recovery_codes(session: Session, user: User, client_address: str | None) -> list[str]:
    """Ten new recovery codes in place of any old ones, logged; returned once."""
    codes = recovery_codes.replace_all(session, user)
    security_log.record(
        session,
        SecurityEventType.RECOVERY_CODES_GENERATED,
        user=user,
        client_address=client_address,
        count=len(codes),
    )
    return codes


def regenerate_recovery_codes(
    session: Session,
    user: User,
    *,
    password: str,
    client_address: str | None = None,
    throttle: Throttle | None = None,
) -> list[str]:
    """Ten new recovery codes (the old ones stop working), after the password is given
    again; returned once."""
    authz.require_active(user)
    if not user.totp_enabled:
        raise Conflict("two-factor sign-in is off; turn it on first")
    _recheck_password(user, password, "password", throttle, client_address)
    codes = _new_recovery_codes(session, user, client_address)
    session.commit()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    authz.require_active(user)
    return recovery_codes.remaining(session, user)


def disable_totp(
    session: Session,
    user: User,
    *,
    password: str,
    client_address: str | None = None,
    throttle: Throttle | None = None,
) -> None:
    authz.require_active(user)
    _recheck_password(user, password, "password", throttle, client_address)
    _clear_totp(session, user)
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
    _refuse_both_factors(session, actor, user, SecurityEventType.PASSWORD_RESET)
    _clear_totp(session, user)
    user.session_version += 1
    login_sessions.end_all(session, user, reason="totp_reset")
    security_log.record(
        session, SecurityEventType.TOTP_RESET, user=user, actor=actor, client_address=client_address
    )
    session.commit()


def _clear_totp(session: Session, user: User) -> None:
    totp_at_rest.clear(user)
    recovery_codes.clear(session, user)
    user.totp_enabled_at = None
    user.totp_last_step = None


def list_all(session: Session) -> list[User]:
    """For the operator on the host (the CLI), who already holds the database."""
    return list(session.scalars(select(User).order_by(func.lower(User.email))))
