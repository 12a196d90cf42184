"""Accounts, passwords, two-factor, tokens: the logic layer, on both databases."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from sqlalchemy import select

from casefile.db import utcnow
from casefile.logic.accounts import accounts, login, tokens
from casefile.logic.errors import (
    Conflict,
    Forbidden,
    LoginRefused,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from casefile.model import SecurityEvent, SecurityEventType, User
from casefile.vault.envelope import Keyring
from tests.factories import PASSWORD, make_throttle, make_user


@pytest.fixture
def throttle():
    return make_throttle()


@pytest.fixture
def keyring(tmp_path):
    Keyring.create_file(tmp_path / "kek.json")
    return Keyring.load(tmp_path / "kek.json")


def events(session, user=None):
    query = select(SecurityEvent.event).order_by(SecurityEvent.id)
    if user is not None:
        query = query.where(SecurityEvent.user_id == user.id)
    return list(session.scalars(query))


def test_create_account_hashes_with_argon2id_and_normalises_email(session):
    user = make_user(session, "  Investigator@Example.ORG ")
    assert user.email == "investigator@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert events(session, user) == [SecurityEventType.ACCOUNT_CREATED]


def test_duplicate_email_and_short_password_are_refused(session):
    make_user(session, "a@example.org")
    with pytest.raises(ValidationFailed) as duplicate:
        make_user(session, "A@example.org")
    assert "email" in duplicate.value.fields
    with pytest.raises(ValidationFailed) as short:
        make_user(session, "b@example.org", password="elevenchars")
    assert "password" in short.value.fields
    assert session.scalar(select(User).where(User.email == "b@example.org")) is None


def test_only_admins_create_accounts(session):
    admin = make_user(session, "admin@example.org", admin=True)
    plain = make_user(session, "plain@example.org")
    data = accounts.parse_account_input(email="new@example.org", password=PASSWORD)
    with pytest.raises(Forbidden):
        accounts.create_account(session, plain, data, min_password_length=12)
    created = accounts.create_account(session, admin, data, min_password_length=12)
    assert created.email == "new@example.org"


def test_login_success_and_failure_are_logged_with_address(session, throttle):
    user = make_user(session, "p@example.org")
    with pytest.raises(LoginRefused):
        login.check_password(session, user.email, "wrong password!!", throttle=throttle,
                             client_address="203.0.113.9")
    accepted = login.check_password(session, "P@example.org", PASSWORD, throttle=throttle,
                                    client_address="203.0.113.9")
    assert accepted.user.id == user.id
    assert not accepted.needs_totp
    rows = list(session.scalars(
        select(SecurityEvent).where(SecurityEvent.user_id == user.id).order_by(SecurityEvent.id)
    ))
    assert [row.event for row in rows][-2:] == [
        SecurityEventType.LOGIN_FAILED, SecurityEventType.LOGIN_SUCCEEDED,
    ]
    assert all(row.client_address == "203.0.113.9" for row in rows[-2:])
    assert rows[-2].details["reason"] == "wrong_password"


def test_unknown_account_is_logged_and_refused_the_same_way(session, throttle):
    with pytest.raises(LoginRefused) as refused:
        login.check_password(session, "ghost@example.org", PASSWORD, throttle=throttle,
                             client_address="198.51.100.1")
    assert refused.value.message == login.REFUSED
    row = session.scalars(select(SecurityEvent).order_by(SecurityEvent.id.desc())).first()
    assert row.email == "ghost@example.org"
    assert row.details["reason"] == "unknown_account"


def test_disabled_account_cannot_log_in_and_can_be_re_enabled(session, throttle):
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "d@example.org")
    version = user.session_version
    accounts.set_disabled(session, admin, user, disabled=True)
    assert user.session_version == version + 1  # existing sessions end
    with pytest.raises(LoginRefused):
        login.check_password(session, user.email, PASSWORD, throttle=throttle, client_address=None)
    accounts.set_disabled(session, admin, user, disabled=False)
    assert login.check_password(session, user.email, PASSWORD, throttle=throttle,
                                client_address=None).user.id == user.id
    assert events(session, user).count(SecurityEventType.ACCOUNT_DISABLED) == 1
    with pytest.raises(Conflict):
        accounts.set_disabled(session, admin, admin, disabled=True)


def test_change_password_checks_current_and_policy(session, throttle):
    user = make_user(session, "c@example.org")
    with pytest.raises(ValidationFailed) as wrong:
        accounts.change_password(session, user, current_password="nope nope nope",
                                 new_password="a new passphrase", min_password_length=12)
    assert "current_password" in wrong.value.fields
    with pytest.raises(ValidationFailed) as short:
        accounts.change_password(session, user, current_password=PASSWORD,
                                 new_password="short", min_password_length=12)
    assert "new_password" in short.value.fields
    version = user.session_version
    accounts.change_password(session, user, current_password=PASSWORD,
                             new_password="a new passphrase", min_password_length=12)
    assert user.session_version == version + 1
    assert login.check_password(session, user.email, "a new passphrase", throttle=throttle,
                                client_address=None).user.id == user.id


def test_totp_enrolment_login_and_replay(session, throttle, keyring):
    user = make_user(session, "t@example.org")
    secret = accounts.new_totp_secret()
    with pytest.raises(ValidationFailed):
        accounts.enable_totp(session, user, secret=secret, keyring=keyring, code="000000")
    accounts.enable_totp(session, user, secret=secret, keyring=keyring,
                         code=pyotp.TOTP(secret).now())
    accepted = login.check_password(session, user.email, PASSWORD, throttle=throttle,
                                    client_address=None)
    assert accepted.needs_totp
    # The enrolment code's step is spent, so the same code cannot also sign in.
    with pytest.raises(LoginRefused):
        login.check_totp(session, user.id, pyotp.TOTP(secret).now(), throttle=throttle,
                         keyring=keyring, client_address=None)
    later = utcnow() + dt.timedelta(seconds=30)
    user.totp_last_step = pyotp.TOTP(secret).timecode(utcnow()) - 1
    session.commit()
    code = pyotp.TOTP(secret).at(later - dt.timedelta(seconds=30))
    signed_in = login.check_totp(session, user.id, code, throttle=throttle, keyring=keyring,
                                     client_address=None)
    assert signed_in.user.id == user.id
    with pytest.raises(LoginRefused):  # replay of the accepted code
        login.check_totp(session, user.id, code, throttle=throttle, keyring=keyring,
                                     client_address=None)
    assert SecurityEventType.TOTP_FAILED in events(session, user)


def test_admin_reset_of_totp(session, keyring):
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "r@example.org")
    secret = accounts.new_totp_secret()
    accounts.enable_totp(session, user, secret=secret, keyring=keyring,
                         code=pyotp.TOTP(secret).now())
    with pytest.raises(Forbidden):
        accounts.reset_totp(session, user, user)
    accounts.reset_totp(session, admin, user)
    assert not user.totp_enabled
    assert SecurityEventType.TOTP_RESET in events(session, user)


def test_tokens_are_hashed_and_refused_when_revoked_expired_or_disabled(session, throttle):
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "api@example.org")
    token, plaintext = tokens.create_token(session, user, name="laptop", days=30)
    assert plaintext not in token.token_hash and len(token.token_hash) == 64
    found = tokens.user_for_token(session, plaintext, throttle=throttle, client_address=None)
    assert found.id == user.id

    tokens.revoke_token(session, user, token.id)
    with pytest.raises(Unauthenticated):
        tokens.user_for_token(session, plaintext, throttle=throttle, client_address=None)

    token2, plaintext2 = tokens.create_token(session, user, name="old", days=1)
    token2.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    with pytest.raises(Unauthenticated):
        tokens.user_for_token(session, plaintext2, throttle=throttle, client_address=None)

    _, plaintext3 = tokens.create_token(session, user, name="third", days=1)
    accounts.set_disabled(session, admin, user, disabled=True)
    with pytest.raises(Unauthenticated):
        tokens.user_for_token(session, plaintext3, throttle=throttle, client_address=None)

    with pytest.raises(NotFound):  # someone else's token cannot be revoked
        tokens.revoke_token(session, admin, token2.id)
    with pytest.raises(ValidationFailed):
        tokens.create_token(session, admin, name=" ", days=1)
    refused = [e for e in events(session, user) if e == SecurityEventType.TOKEN_REFUSED]
    assert len(refused) == 3
