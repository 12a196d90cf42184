"""Issue 11: the lockout message after the right password, administrators' unlock and
password reset, recovery codes, the same-step code refusal with its reason, the enrolment
secret kept across reloads, and the refusal to disable oneself or the last administrator.
The logic layer, on both databases."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from sqlalchemy import select

from casefile.db import utcnow
from casefile.logic.accounts import accounts, login, login_sessions, recovery_codes, tokens
from casefile.logic.errors import (
    AccountLocked,
    CodeAlreadyUsed,
    Conflict,
    Forbidden,
    LoginRefused,
    TooManyAttempts,
    ValidationFailed,
)
from casefile.model import LoginSession, RecoveryCode, SecurityEvent, SecurityEventType
from tests.factories import PASSWORD, make_throttle, make_user

ATTACKER = "198.51.100.9"
OWNER = "203.0.113.50"


def events(session, kind, user):
    return list(
        session.scalars(
            select(SecurityEvent)
            .where(SecurityEvent.event == kind, SecurityEvent.user_id == user.id)
            .order_by(SecurityEvent.id)
        )
    )


def sign_in(session, throttle, email, password, client=ATTACKER):
    return login.check_password(session, email, password, throttle=throttle, client_address=client)


def lock(session, throttle, email, failures=3):
    for _ in range(failures):
        with pytest.raises(LoginRefused):
            sign_in(session, throttle, email, "not the right password")


# --- the lock: told only after the right password --------------------------------------------


def test_the_right_password_while_locked_says_until_when(session):
    throttle = make_throttle(account="3/hour", client="50/hour")
    user = make_user(session, "aung@example.org")
    lock(session, throttle, user.email)
    wait_before = throttle.account_wait(user.email)
    assert wait_before is not None

    with pytest.raises(TooManyAttempts) as wrong:  # a wrong password: the generic answer
        sign_in(session, throttle, user.email, "still not the right password")
    assert not isinstance(wrong.value, AccountLocked)

    with pytest.raises(AccountLocked) as right:
        sign_in(session, throttle, user.email, PASSWORD)
    until = right.value.until
    assert utcnow() < until <= utcnow() + dt.timedelta(seconds=wait_before + 62)
    assert until.second == 0  # rounded up to the minute shown
    assert f"{until:%H:%M} UTC" in right.value.message
    assert events(session, SecurityEventType.LOGIN_FAILED, user)[-1].details["reason"] == "locked"

    # Checking the password while locked neither extended nor reset the lock.
    assert throttle.account_wait(user.email) <= wait_before

    # An unknown account and a disabled one get the generic answer, whatever the password.
    admin = make_user(session, "admin@example.org", admin=True)
    lock(session, throttle, "nobody@example.org")
    with pytest.raises(TooManyAttempts) as unknown:
        sign_in(session, throttle, "nobody@example.org", PASSWORD)
    assert not isinstance(unknown.value, AccountLocked)
    other = make_user(session, "thida@example.org")
    lock(session, throttle, other.email)
    accounts.set_disabled(session, admin, other, disabled=True)
    with pytest.raises(TooManyAttempts) as disabled:
        sign_in(session, throttle, other.email, PASSWORD)
    assert not isinstance(disabled.value, AccountLocked)


def test_password_checks_while_locked_have_their_own_small_budget(session):
    throttle = make_throttle(account="3/hour", client="50/hour")
    user = make_user(session, "aung@example.org")
    lock(session, throttle, user.email)
    for _ in range(2):
        with pytest.raises(TooManyAttempts):
            sign_in(session, throttle, user.email, "guess while locked")
    with pytest.raises(AccountLocked):  # the third check of the hour is still made
        sign_in(session, throttle, user.email, PASSWORD)
    # Past the budget the password is not looked at: no way to test guesses while locked.
    with pytest.raises(TooManyAttempts) as beyond:
        sign_in(session, throttle, user.email, PASSWORD)
    assert not isinstance(beyond.value, AccountLocked)
    # The owner from an address with no failures signs in as before.
    assert sign_in(session, throttle, user.email, PASSWORD, client=OWNER).user.id == user.id


# --- administrators: unlock, password reset, disable ------------------------------------------


def test_admin_unlock_clears_the_lock_and_is_logged(session):
    throttle = make_throttle(account="3/hour", client="50/hour")
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "aung@example.org")
    lock(session, throttle, user.email)
    states = {
        state.user.id: state for state in accounts.account_states(session, admin, throttle=throttle)
    }
    assert states[user.id].locked_until is not None
    assert states[admin.id].locked_until is None

    with pytest.raises(Forbidden):
        accounts.unlock(session, user, user, throttle=throttle)
    accounts.unlock(session, admin, user, throttle=throttle, client_address=OWNER)

    states = {
        state.user.id: state for state in accounts.account_states(session, admin, throttle=throttle)
    }
    assert states[user.id].locked_until is None
    assert sign_in(session, throttle, user.email, PASSWORD).user.id == user.id
    [event] = events(session, SecurityEventType.ACCOUNT_UNLOCKED, user)
    assert event.actor_id == admin.id
    assert event.client_address == OWNER


def test_admin_password_reset(session):
    throttle = make_throttle()
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "aung@example.org")
    started = login_sessions.start(session, user, client_address=None, user_agent=None)
    tokens.create_token(session, user, name="laptop", days=30)
    version = user.session_version

    with pytest.raises(Forbidden):
        accounts.reset_password(session, user, admin)
    temporary = accounts.reset_password(session, admin, user)

    assert len(temporary) >= 24
    assert user.password_must_change
    assert user.session_version == version + 1
    session.refresh(started.record)
    assert started.record.ended_at is not None
    assert all(token.revoked_at is not None for token in tokens.list_tokens(session, user))
    with pytest.raises(LoginRefused):
        sign_in(session, throttle, user.email, PASSWORD)
    assert sign_in(session, throttle, user.email, temporary).user.id == user.id
    [event] = events(session, SecurityEventType.PASSWORD_RESET, user)
    assert event.actor_id == admin.id
    assert event.details["sessions_ended"] == 1 and event.details["tokens_revoked"] == 1

    with pytest.raises(ValidationFailed) as same:
        accounts.change_password(
            session,
            user,
            current_password=temporary,
            new_password=temporary,
            min_password_length=12,
        )
    assert "new_password" in same.value.fields
    accounts.change_password(
        session,
        user,
        current_password=temporary,
        new_password="my very own passphrase",
        min_password_length=12,
    )
    assert not user.password_must_change


def test_no_self_disable_and_never_the_last_active_administrator(session):
    admin = make_user(session, "admin@example.org", admin=True)
    with pytest.raises(Conflict):
        accounts.set_disabled(session, admin, admin, disabled=True)
    with pytest.raises(Conflict) as last:  # the operator on the host too
        accounts.set_disabled(session, None, admin, disabled=True)
    assert "last active administrator" in last.value.message
    assert not admin.is_disabled

    second = make_user(session, "second@example.org", admin=True)
    accounts.set_disabled(session, admin, second, disabled=True)
    with pytest.raises(Conflict):  # the other administrator is disabled: still the last
        accounts.set_disabled(session, None, admin, disabled=True)
    accounts.set_disabled(session, admin, second, disabled=False)
    accounts.set_disabled(session, second, admin, disabled=True)
    assert admin.is_disabled


# --- two-factor ---------------------------------------------------------------------------


def enrol(session, user, keyring):
    secret = accounts.new_totp_secret()
    codes = accounts.enable_totp(
        session, user, secret=secret, keyring=keyring, code=pyotp.TOTP(secret).now()
    )
    return secret, codes


def test_a_code_used_at_enrolment_is_refused_with_the_reason(session, keyring):
    throttle = make_throttle()
    user = make_user(session, "t@example.org")
    secret, _codes = enrol(session, user, keyring)
    assert sign_in(session, throttle, user.email, PASSWORD).needs_totp
    with pytest.raises(CodeAlreadyUsed) as used:
        login.check_totp(
            session,
            user.id,
            pyotp.TOTP(secret).now(),
            throttle=throttle,
            keyring=keyring,
            client_address=None,
        )
    assert "already used" in used.value.message
    with pytest.raises(LoginRefused) as wrong:
        login.check_totp(
            session,
            user.id,
            "000000" if pyotp.TOTP(secret).now() != "000000" else "111111",
            throttle=throttle,
            keyring=keyring,
            client_address=None,
        )
    assert not isinstance(wrong.value, CodeAlreadyUsed)
    reasons = [
        event.details["reason"] for event in events(session, SecurityEventType.TOTP_FAILED, user)
    ]
    assert reasons[0] == "code_already_used"


def test_recovery_codes_sign_in_once_each(session, keyring):
    throttle = make_throttle()
    user = make_user(session, "t@example.org")
    _secret, codes = enrol(session, user, keyring)
    assert len(codes) == 10 == len(set(codes))
    stored = list(
        session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id))
    )
    assert len(stored) == 10
    assert not {code.replace("-", "").upper() for code in codes} & set(stored)
    assert not set(codes) & set(stored)
    assert [
        e.details["count"]
        for e in events(session, SecurityEventType.RECOVERY_CODES_GENERATED, user)
    ] == [10]

    accepted = login.check_totp(
        session, user.id, codes[3].upper(), throttle=throttle, keyring=keyring, client_address=OWNER
    )
    assert accepted.user.id == user.id
    assert accepted.recovery_codes_left == 9
    [used] = events(session, SecurityEventType.RECOVERY_CODE_USED, user)
    assert used.details["codes_left"] == 9 and used.client_address == OWNER
    with pytest.raises(LoginRefused):  # once only
        login.check_totp(
            session, user.id, codes[3], throttle=throttle, keyring=keyring, client_address=OWNER
        )
    other = make_user(session, "o@example.org")
    _other_secret, other_codes = enrol(session, other, keyring)
    with pytest.raises(LoginRefused):  # someone else's codes are not this account's
        login.check_totp(
            session,
            user.id,
            other_codes[0],
            throttle=throttle,
            keyring=keyring,
            client_address=OWNER,
        )
    assert accounts.recovery_codes_left(session, user) == 9

    with pytest.raises(ValidationFailed):
        accounts.regenerate_recovery_codes(session, user, password="not my password")
    fresh = accounts.regenerate_recovery_codes(session, user, password=PASSWORD)
    assert accounts.recovery_codes_left(session, user) == 10
    with pytest.raises(LoginRefused):  # the old ones stopped working
        login.check_totp(
            session, user.id, codes[0], throttle=throttle, keyring=keyring, client_address=OWNER
        )
    assert (
        login.check_totp(
            session, user.id, fresh[0], throttle=throttle, keyring=keyring, client_address=OWNER
        ).recovery_codes_left
        == 9
    )

    accounts.disable_totp(session, user, password=PASSWORD)
    assert recovery_codes.remaining(session, user) == 0


def test_the_pending_secret_is_sealed_and_stable_until_cancelled(session, keyring):
    user = make_user(session, "t@example.org")
    record = login_sessions.start(session, user, client_address=None, user_agent=None).record
    first = accounts.pending_totp_secret(session, user, record, keyring=keyring)
    assert accounts.pending_totp_secret(session, user, record, keyring=keyring) == first
    session.expire_all()
    stored = session.scalar(
        select(LoginSession.totp_pending_wrapped).where(LoginSession.id == record.id)
    )
    assert stored is not None and first.encode() not in stored

    accounts.cancel_totp_enrolment(session, user, record)
    second = accounts.pending_totp_secret(session, user, record, keyring=keyring)
    assert second != first

    accounts.enable_totp(
        session, user, secret=second, keyring=keyring, code=pyotp.TOTP(second).now(), pending=record
    )
    assert record.totp_pending_wrapped is None


def test_an_unfinished_enrolment_ends_with_its_session(session, keyring):
    user = make_user(session, "t@example.org")
    record = login_sessions.start(session, user, client_address=None, user_agent=None).record
    accounts.pending_totp_secret(session, user, record, keyring=keyring)
    login_sessions.end(session, record, client_address=None, user=user)
    assert record.totp_pending_wrapped is None

    other = login_sessions.start(session, user, client_address=None, user_agent=None).record
    accounts.pending_totp_secret(session, user, other, keyring=keyring)
    login_sessions.sign_out_others(session, user, None)
    session.refresh(other)
    assert other.ended_at is not None and other.totp_pending_wrapped is None


def test_one_administrator_may_not_reset_both_factors_within_a_week(session):
    """Password and two-factor reset by one administrator would hand them the account (and its
    access to restricted items, the custody log naming its owner): the second is refused
    within 7 days, whichever came first; the operator on the server (no acting user) may."""
    admin = make_user(session, "admin@example.org", admin=True)
    first = make_user(session, "first@example.org")
    second = make_user(session, "second@example.org")

    accounts.reset_totp(session, admin, first)
    with pytest.raises(Conflict, match="may not reset both"):
        accounts.reset_password(session, admin, first)
    assert events(session, SecurityEventType.PASSWORD_RESET, first) == []
    assert accounts.reset_password(session, None, first)  # the operator: `casefile users`

    accounts.reset_password(session, admin, second)
    with pytest.raises(Conflict, match="may not reset both"):
        accounts.reset_totp(session, admin, second)
    accounts.reset_totp(session, None, second)
    assert len(events(session, SecurityEventType.TOTP_RESET, second)) == 1
