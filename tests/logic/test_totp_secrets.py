"""TOTP secrets at rest (issue 8 item 7): encrypted under the KEK, bound to their account,
rotated with the KEK, and secrets from before encryption moved over without refusing
anyone."""

from __future__ import annotations

import base64
import datetime as dt

import pyotp
import pytest
from sqlalchemy import text

from casefile.db import utcnow
from casefile.logic import keys
from casefile.logic.accounts import accounts, login, totp_at_rest
from casefile.vault import envelope
from casefile.vault.envelope import Keyring, KeyringError
from tests.factories import PASSWORD, make_throttle, make_user


@pytest.fixture
def kek_path(tmp_path):
    path = tmp_path / "kek.json"
    Keyring.create_file(path)
    return path


def raw_columns(session, user):
    row = session.execute(
        text("SELECT totp_secret, totp_secret_wrapped FROM users WHERE email = :email"),
        {"email": user.email},
    ).one()
    return row[0], bytes(row[1]) if row[1] is not None else None


def enrol(session, user, keyring):
    secret = accounts.new_totp_secret()
    accounts.enable_totp(
        session, user, secret=secret, keyring=keyring, code=pyotp.TOTP(secret).now()
    )
    return secret


def sign_in_with_code(session, user, secret, keyring):
    """Password, then a code from the next time step (the enrolment spent the current one)."""
    throttle = make_throttle()
    assert login.check_password(
        session, user.email, PASSWORD, throttle=throttle, client_address=None
    ).needs_totp
    code = pyotp.TOTP(secret).at(utcnow() + dt.timedelta(seconds=30))
    return login.check_totp(
        session, user.id, code, throttle=throttle, keyring=keyring, client_address=None
    ).user


def test_the_database_holds_no_base32_secret(session, kek_path):
    keyring = Keyring.load(kek_path)
    user = make_user(session, "t@example.org")
    secret = enrol(session, user, keyring)
    plain, wrapped = raw_columns(session, user)
    assert plain is None
    assert wrapped is not None
    for form in (secret.encode(), secret.lower().encode(), base64.b32decode(secret)):
        assert form not in wrapped
    assert envelope.encrypted_by(wrapped) == keyring.primary_key_id
    assert totp_at_rest.secret_of(keyring, user) == secret


def test_a_sealed_secret_cannot_be_moved_to_another_account(session, kek_path):
    keyring = Keyring.load(kek_path)
    victim = make_user(session, "victim@example.org")
    intruder = make_user(session, "intruder@example.org")
    enrol(session, victim, keyring)
    intruder.totp_secret_wrapped = victim.totp_secret_wrapped
    with pytest.raises(KeyringError):
        totp_at_rest.secret_of(keyring, intruder)


def test_rotation_reencrypts_and_two_factor_sign_in_keeps_working(session, kek_path):
    user = make_user(session, "t@example.org")
    secret = enrol(session, user, Keyring.load(kek_path))
    _, before = raw_columns(session, user)

    result = keys.rotate(session, kek_path)
    rotated = Keyring.load(kek_path)
    assert result.totp_secrets_rewrapped == 1
    assert envelope.key_ids(rotated) == [result.new_key_id]  # the old key is retired
    session.expire_all()
    _, after = raw_columns(session, user)
    assert after != before
    assert envelope.encrypted_by(after) == result.new_key_id
    assert sign_in_with_code(session, user, secret, rotated).id == user.id


def test_plaintext_secrets_from_before_are_encrypted(session, kek_path):
    keyring = Keyring.load(kek_path)
    old_style = make_user(session, "old@example.org")
    secret = enrol(session, old_style, keyring)
    old_style.totp_secret_wrapped, old_style.totp_secret_legacy = None, secret  # as stored before
    session.commit()
    assert raw_columns(session, old_style) == (secret, None)

    assert totp_at_rest.encrypt_plaintext(session, keyring) == 1
    session.expire_all()
    plain, wrapped = raw_columns(session, old_style)
    assert plain is None and wrapped is not None and secret.encode() not in wrapped
    assert totp_at_rest.encrypt_plaintext(session, keyring) == 0  # a rerun finds nothing
    assert sign_in_with_code(session, old_style, secret, keyring).id == old_style.id


def test_a_plaintext_secret_still_signs_in_and_is_encrypted_then(session, kek_path):
    """Nothing is refused while a secret waits for `casefile init`: the sign-in moves it."""
    keyring = Keyring.load(kek_path)
    user = make_user(session, "old@example.org")
    secret = enrol(session, user, keyring)
    user.totp_secret_wrapped, user.totp_secret_legacy = None, secret
    session.commit()
    assert sign_in_with_code(session, user, secret, keyring).id == user.id
    session.expire_all()
    plain, wrapped = raw_columns(session, user)
    assert plain is None and wrapped is not None


def test_rotation_encrypts_leftover_plaintext_too(session, kek_path):
    user = make_user(session, "old@example.org")
    secret = enrol(session, user, Keyring.load(kek_path))
    user.totp_secret_wrapped, user.totp_secret_legacy = None, secret
    session.commit()
    result = keys.rotate(session, kek_path)
    assert result.totp_secrets_encrypted == 1
    session.expire_all()
    assert raw_columns(session, user)[0] is None
    assert sign_in_with_code(session, user, secret, Keyring.load(kek_path)).id == user.id
