"""Sign-in throttling on Redis storage: the counters are shared, so two server processes
(here: two apps) throttle the same client together. Skipped only when Redis is unreachable
and CASEFILE_REQUIRE_REDIS is unset (CI sets it, which turns the skip into a failure)."""

from __future__ import annotations

import dataclasses
import os
import secrets

import pytest
import redis
from sqlalchemy.orm import Session

from casefile import create_app
from casefile.db import Database
from casefile.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.web.test_auth_web import HOME, location_path, login, text

REDIS_URL = os.environ.get("CASEFILE_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CASEFILE_REQUIRE_REDIS"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {error}", pytrace=False)
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({error}); CASEFILE_REQUIRE_REDIS unset")
    return REDIS_URL


def test_redis_storage_is_shared_between_processes(
    settings: Settings, database: Database, session: Session, redis_url: str
) -> None:
    configured = dataclasses.replace(settings, throttle_storage_url=redis_url)
    first = create_app(configured, database=database)
    second = create_app(configured, database=database)
    # Addresses of this run only, so reruns and parallel runs do not share counters.
    attacker = {"REMOTE_ADDR": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.1"}
    owner = {"REMOTE_ADDR": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.2"}
    user = make_user(session, f"redis-{secrets.token_hex(4)}@example.org")

    for app in (first, second, first, second, first):
        response = login(app.test_client(), user.email, "wrong password!!", environ_base=attacker)
        assert "Sign-in refused" in text(response)
    response = login(second.test_client(), user.email, PASSWORD, environ_base=attacker)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    keys = redis.Redis.from_url(redis_url).keys("*casefile-auth*")
    assert any(attacker["REMOTE_ADDR"].encode() in key for key in keys)

    response = login(first.test_client(), user.email, PASSWORD, environ_base=owner)
    assert location_path(response) == HOME
    for key in keys:  # leave the shared server as found
        if attacker["REMOTE_ADDR"].encode() in key or user.email.encode() in key:
            redis.Redis.from_url(redis_url).delete(key)


def test_sign_in_fails_closed_with_503_when_the_counter_store_is_unreachable(
    settings: Settings, database: Database, session: Session
) -> None:
    """Redis down: nobody is signed in unthrottled, and the person is told to try again later
    (503 with Retry-After), not shown a 500 page."""
    unreachable = "redis://127.0.0.1:9"  # the discard port: nothing listens there
    configured = dataclasses.replace(settings, throttle_storage_url=unreachable)
    app = create_app(configured, database=database)
    user = make_user(session, f"redis-down-{secrets.token_hex(4)}@example.org")

    for password in (PASSWORD, "wrong password!!"):
        client = app.test_client()
        response = login(client, user.email, password)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert "try again later" in text(response)
        assert location_path(client.get("/cases")) == "/login"  # not signed in
