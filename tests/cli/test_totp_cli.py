"""`casefile init` and `casefile keys rotate` encrypt TOTP secrets left in plain base32 from
before they were encrypted (an Alembic revision cannot: it never holds the KEK)."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import text

from casefile.cli import main
from casefile.db import Database
from casefile.logic.accounts import accounts, totp_at_rest
from casefile.settings import load_settings
from casefile.vault.envelope import Keyring
from tests.cli.instances import initialised
from tests.factories import make_user


@pytest.fixture
def instance(tmp_path, fresh_database_url):
    env, runner = initialised(tmp_path, fresh_database_url)
    database = Database.from_url(fresh_database_url)
    yield env, runner, database, load_settings(env).kek_path
    database.engine.dispose()


def plaintext_secret(database, kek_path):
    """An account whose secret is stored the way it was before encryption."""
    with database.sessions() as session:
        user = make_user(session, "old@example.org")
        secret = accounts.new_totp_secret()
        accounts.enable_totp(session, user, secret=secret, keyring=Keyring.load(kek_path),
                             code=pyotp.TOTP(secret).now())
        session.execute(text("UPDATE users SET totp_secret = :s, totp_secret_wrapped = NULL"),
                        {"s": secret})
        session.commit()
    return secret


def stored(database):
    with database.sessions() as session:
        return session.execute(text("SELECT totp_secret, totp_secret_wrapped FROM users")).one()


def secret_now(database, kek_path):
    with database.sessions() as session:
        user = accounts.find_by_email(session, "old@example.org")
        return totp_at_rest.secret_of(Keyring.load(kek_path), user)


def test_init_encrypts_plaintext_secrets(instance):
    env, runner, database, kek_path = instance
    secret = plaintext_secret(database, kek_path)
    result = runner.invoke(main, ["init"], env=env)
    assert result.exit_code == 0, result.output
    assert "encrypted 1 two-factor secrets stored in plain text before" in result.output
    plain, wrapped = stored(database)
    assert plain is None and wrapped is not None
    assert secret_now(database, kek_path) == secret
    again = runner.invoke(main, ["init"], env=env)
    assert "two-factor secrets" not in again.output


def test_rotate_reencrypts_and_reports(instance):
    env, runner, database, kek_path = instance
    secret = plaintext_secret(database, kek_path)
    result = runner.invoke(main, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert "TOTP secrets: 0 re-encrypted, 1 plaintext secrets encrypted" in result.output
    result = runner.invoke(main, ["keys", "rotate"], env=env)
    assert "TOTP secrets: 1 re-encrypted, 0 plaintext secrets encrypted" in result.output
    assert stored(database)[0] is None
    assert secret_now(database, kek_path) == secret
