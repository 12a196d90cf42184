"""The API side of issue 8 items 4 and 5: revoking all my tokens, changing my password
(optionally revoking every token), and bearer-token failures throttled per client address."""

from __future__ import annotations

from sqlalchemy import select

from casefile.logic.accounts import accounts, login
from casefile.model import ApiToken, SecurityEvent, SecurityEventType
from tests.api.test_me_api import as_token, mismatch
from tests.factories import PASSWORD, bearer, make_throttle, make_user

NEW_PASSWORD = "a brand new passphrase for the api"
ATTACKER = {"REMOTE_ADDR": "198.51.100.77"}
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.50"}


def live_tokens(session, user) -> int:
    session.expire_all()
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    return len(list(session.scalars(query)))


def test_delete_my_tokens_revokes_every_one(client, session):
    user = make_user(session, "api@example.org")
    other = make_user(session, "other@example.org")
    headers, spare = bearer(session, user), bearer(session, user)
    others = bearer(session, other)
    response = client.delete("/api/v1/me/tokens", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"revoked": 2}
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/api/v1/me", headers=spare).status_code == 401
    assert client.get("/api/v1/me", headers=others).status_code == 200  # only mine
    logged = session.scalars(
        select(SecurityEvent).where(
            SecurityEvent.event == SecurityEventType.TOKEN_REVOKED,
            SecurityEvent.user_id == user.id,
        )
    ).one()
    assert logged.details["scope"] == "all" and len(logged.details["token_ids"]) == 2
    assert client.delete("/api/v1/me/tokens").status_code == 401


def test_change_password_through_the_api(client, session):
    user = make_user(session, "api@example.org")
    headers, spare = bearer(session, user), bearer(session, user)
    response = client.post(
        "/api/v1/me/password", headers=headers, json={"current": PASSWORD, "new": NEW_PASSWORD}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"tokens_revoked": 0}
    assert client.get("/api/v1/me", headers=spare).status_code == 200  # not asked: kept
    throttle = make_throttle()
    session.expire_all()
    assert login.check_password(
        session, user.email, NEW_PASSWORD, throttle=throttle, client_address=None
    ).user.id == user.id

    response = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current": NEW_PASSWORD, "new": "and yet another passphrase", "revoke_tokens": True},
    )
    assert response.status_code == 200
    assert response.get_json() == {"tokens_revoked": 2}
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/api/v1/me", headers=spare).status_code == 401
    assert live_tokens(session, user) == 0


def test_bad_password_changes_are_refused_and_change_nothing(client, session):
    user = make_user(session, "api@example.org")
    headers = bearer(session, user)
    before = user.password_hash
    cases = [
        ({"current": "not my password!", "new": NEW_PASSWORD, "revoke_tokens": True},
         422, "validation_error", "current_password"),
        ({"current": PASSWORD, "new": "short", "revoke_tokens": True},
         422, "validation_error", "new_password"),
        ({"current": PASSWORD}, 422, "validation_error", "new"),
        ({"current": PASSWORD, "new": NEW_PASSWORD, "revoke": True},
         422, "validation_error", "revoke"),
        ({"current": PASSWORD, "new": NEW_PASSWORD, "revoke_tokens": "maybe"},
         422, "validation_error", "revoke_tokens"),
    ]
    problems = []
    for payload, status, code, field in cases:
        response = client.post("/api/v1/me/password", headers=headers, json=payload)
        if (why := mismatch(response, status, code, field)) is not None:
            problems.append((payload, why))
    assert problems == []
    response = client.post("/api/v1/me/password", json={"current": PASSWORD, "new": NEW_PASSWORD})
    assert response.status_code == 401
    session.expire_all()
    assert user.password_hash == before
    assert live_tokens(session, user) == 1
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_bad_bearer_tokens_are_throttled_per_client_address(client, session):
    user = make_user(session, "api@example.org")
    headers = bearer(session, user)
    for number in range(10):
        response = client.get(
            "/api/v1/me", headers=as_token(f"cf_guess{number:040d}"), environ_base=ATTACKER
        )
        assert response.status_code == 401
    # The eleventh is not looked at, even with a valid token: 429 and how long to wait.
    response = client.get("/api/v1/me", headers=headers, environ_base=ATTACKER)
    assert mismatch(response, 429, "too_many_requests") is None
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another address is not affected, and successes never used up any budget.
    for _ in range(12):
        assert client.get("/api/v1/me", headers=headers, environ_base=ELSEWHERE).status_code == 200
    throttled = session.scalars(
        select(SecurityEvent)
        .where(SecurityEvent.event == SecurityEventType.TOKEN_REFUSED)
        .order_by(SecurityEvent.id.desc())
    ).first()
    assert throttled.details["reason"] == "throttled"
    assert throttled.client_address == ATTACKER["REMOTE_ADDR"]


def test_disable_then_enable_does_not_bring_tokens_back(client, session):
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "api@example.org")
    headers = bearer(session, user)
    accounts.set_disabled(session, admin, user, disabled=True)
    accounts.set_disabled(session, admin, user, disabled=False)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert live_tokens(session, user) == 0
    assert client.get("/api/v1/me", headers=bearer(session, user)).status_code == 200


def test_the_new_operations_are_documented(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "delete" in document["paths"]["/api/v1/me/tokens"]
    change = document["paths"]["/api/v1/me/password"]["post"]
    assert set(change["responses"]) >= {"200", "401", "422", "429"}
    schema = document["components"]["schemas"]["PasswordChangeIn"]
    assert set(schema["properties"]) == {"current", "new", "revoke_tokens"}
