"""`casefile users reset-password`, `users unlock` and the last-administrator refusal (issue
11): the same logic functions as the administrators' web page."""

from __future__ import annotations

import dataclasses
import secrets

from casefile import create_app, request_scope
from casefile.db import Database
from casefile.logic.accounts import login
from casefile.model import SecurityEvent, SecurityEventType
from casefile.settings import Settings
from tests.cli.test_cli import env, run  # noqa: F401 - fixtures
from tests.factories import PASSWORD, make_throttle
from tests.web.test_throttle_redis import redis_url  # noqa: F401 - a fixture


def test_reset_password_prints_a_temporary_password_that_must_be_changed(
    run,  # noqa: F811
    fresh_database_url,
):
    run("users", "create", "admin@example.org", "--admin", "--password-stdin",
        stdin=PASSWORD + "\n")
    run("users", "create", "b@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    result = run("users", "reset-password", "b@example.org")
    assert result.exit_code == 0, result.output
    temporary = result.output.strip().splitlines()[-1]
    assert len(temporary) >= 24 and " " not in temporary
    assert "must-change-password" in run("users", "list").output

    database = Database.from_url(fresh_database_url)
    try:
        with database.sessions() as session:
            throttle = make_throttle()
            accepted = login.check_password(
                session, "b@example.org", temporary, throttle=throttle, client_address=None
            )
            assert accepted.user.password_must_change
            [event] = session.query(SecurityEvent).filter_by(
                event=SecurityEventType.PASSWORD_RESET
            ).all()
            assert event.actor_id is None  # the operator on the host
    finally:
        database.engine.dispose()

    refused = run("users", "disable", "admin@example.org")  # the last active administrator
    assert refused.exit_code != 0
    assert "last active administrator" in refused.output


def test_unlock_clears_the_shared_counters(
    env,  # noqa: F811
    run,  # noqa: F811
    settings: Settings,
    database: Database,
    redis_url: str,  # noqa: F811
):
    email = f"locked-{secrets.token_hex(4)}@example.org"
    run("users", "create", email, "--password-stdin", stdin=PASSWORD + "\n")
    shared = dataclasses.replace(settings, throttle_storage_url=redis_url)
    app = create_app(shared, database=database)
    throttle = request_scope.throttle(app)
    with app.app_context():
        for _ in range(5):
            throttle.failed(account=email, client=f"10.9.{secrets.randbelow(250)}.1")
        assert throttle.account_wait(email) is not None

    env["CASEFILE_THROTTLE_STORAGE_URL"] = redis_url
    result = run("users", "unlock", email)
    assert result.exit_code == 0, result.output
    assert f"sign-in unlocked for {email}" in result.output
    with app.app_context():
        assert throttle.account_wait(email) is None
