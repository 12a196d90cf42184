"""The `casefile` command, against a real database of its own (commits are real here)."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from casefile.cli import main
from tests.factories import PASSWORD


@pytest.fixture
def env(tmp_path, fresh_database_url):
    return {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": fresh_database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }


@pytest.fixture
def run(env):
    runner = CliRunner()

    def invoke(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


def test_init_is_idempotent_and_creates_private_keys(env, run, tmp_path):
    again = run("init")
    assert again.exit_code == 0
    assert "exists" in again.output
    instance = tmp_path / "instance"
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600
    assert (tmp_path / "storage").is_dir()


def test_users_lifecycle(run):
    created = run("users", "create", "Admin@Example.org", "--admin", "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert "created administrator admin@example.org" in created.output
    assert run("users", "create", "b@example.org", "--password-stdin",
               stdin=PASSWORD + "\n").exit_code == 0

    listing = run("users", "list")
    assert "admin@example.org\tadmin\tadmin" in listing.output
    assert "b@example.org" in listing.output

    assert run("users", "disable", "b@example.org").exit_code == 0
    assert "disabled" in run("users", "list").output
    assert run("users", "enable", "b@example.org").exit_code == 0
    assert run("users", "reset-2fa", "b@example.org").exit_code == 0

    token = run("users", "token", "b@example.org", "--name", "script")
    assert token.exit_code == 0
    last = token.output.strip().splitlines()[-1]
    assert last.startswith("cf_") and " " not in last and len(last) > 40


def test_cases_create_and_list(run):
    run("users", "create", "lead@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    result = run("cases", "create", "--as", "lead@example.org", "--title", "Clearance operations",
                 "--forum", "icc", "--reference", "ICC-01/19",
                 "--ern-pattern", "MMR-OTP-{batch:04d}-{seq:04d}",
                 "--language", "en", "--language", "my")
    assert result.exit_code == 0, result.output
    listing = run("cases", "list", "--as", "lead@example.org")
    assert "icc\tICC-01/19\tClearance operations" in listing.output
    run("users", "create", "other@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    assert run("cases", "list", "--as", "other@example.org").output == ""


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "create", "x@example.org", "--password-stdin"), "short\n",
         "password: must be at least 12 characters"),
        (("users", "create", "not-an-email", "--password-stdin"), PASSWORD + "\n", "email"),
        (("users", "token", "ghost@example.org"), None, "no account with email"),
        (("cases", "create", "--as", "ghost@example.org", "--title", "t", "--forum", "icc"),
         None, "no account with email"),
        (("cases", "create", "--as", "a@example.org", "--title", "t", "--forum", "echr"),
         None, "Invalid value for '--forum'"),
        (("nonsense",), None, "No such command"),
    ],
)
def test_errors_are_one_line_and_non_zero(run, args, stdin, message):
    result = run(*args, stdin=stdin)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("casefile: ")
    assert message in lines[0]


def test_duplicate_account_is_refused(run):
    assert run("users", "create", "d@example.org", "--password-stdin",
               stdin=PASSWORD + "\n").exit_code == 0
    again = run("users", "create", "d@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_serve_refuses_an_uninitialised_instance(env):
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert "casefile init" in result.output
