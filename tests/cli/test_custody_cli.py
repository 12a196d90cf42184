"""`casefile custody checkpoint` and `casefile custody verify` against a real database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from casefile.cli import main
from casefile.db import make_engine
from casefile.verifier.signed_note import Checkpoint, open_note
from tests.cli.instances import cli_env
from tests.factories import PASSWORD


@pytest.fixture
def run(tmp_path, fresh_database_url):
    env = cli_env(tmp_path, fresh_database_url)
    runner = CliRunner()

    def invoke(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    invoke("users", "create", "lead@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    for title in ("One", "Two", "Three"):
        assert invoke("cases", "create", "--as", "lead@example.org", "--title", title,
                      "--forum", "icj").exit_code == 0
    return invoke


def test_checkpoint_prints_a_signed_note_and_verify_passes(run, tmp_path):
    result = run("custody", "checkpoint")
    assert result.exit_code == 0
    key = (tmp_path / "instance" / "custody_signing_key.pem")
    assert key.exists()
    note = result.output
    assert note.splitlines()[1] == "3"
    verified = run("custody", "verify")
    assert verified.exit_code == 0, verified.output
    assert "custody log verified: 3 entries" in verified.output
    assert "1 signed checkpoints" in verified.output or "signed checkpoints" in verified.output


def test_verify_with_a_published_key_and_a_wrong_key(run):
    note = run("custody", "checkpoint").output
    from casefile.verifier.signed_note import generate_private_key, verifier_key  # noqa: PLC0415

    stranger = verifier_key("casefile.local/custody", generate_private_key().public_key())
    result = run("custody", "verify", "--public-key", stranger)
    assert result.exit_code == 1
    assert "checkpoint" in result.output and "signature" in result.output
    del note


def test_verify_exits_1_naming_the_tampered_entry(run, fresh_database_url):
    run("custody", "checkpoint")
    engine = make_engine(fresh_database_url)
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER custody_entries_no_update"))
        else:
            connection.execute(text("ALTER TABLE custody_entries DISABLE TRIGGER USER"))
        connection.execute(text("UPDATE custody_entries SET actor_label = 'x' WHERE seq = 1"))
    engine.dispose()
    result = run("custody", "verify")
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last == ("casefile: custody log does not verify: entry 1: its fields do not hash to "
                    "its recorded leaf hash")


def test_checkpoint_is_parseable(run):
    note = run("custody", "checkpoint").output
    body = note.split("\n\n")[0] + "\n"
    assert Checkpoint.parse(body).origin == "casefile.local/custody"
    assert open_note  # the API a verifier uses; exercised in tests/logic
