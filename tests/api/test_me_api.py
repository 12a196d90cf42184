"""Who is calling: GET /me, API tokens (created, listed, revoked, refused), and the browser
session used against the API, which must carry the CSRF token for unsafe methods."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import func, select

from casefile.db import utcnow
from casefile.logic.accounts import accounts, tokens
from casefile.model import ApiToken, Case, SecurityEvent, SecurityEventType
from tests.factories import PASSWORD, bearer, make_user

CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def error_code(response) -> str:
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    return body["error"]["code"]


def mismatch(response, status: int, code: str, field: str | None = None) -> str | None:
    """Why `response` is not the expected JSON error, or None (for table-driven tests)."""
    body = response.get_json(silent=True) or {}
    error = body.get("error") or {}
    got = (response.status_code, error.get("code"))
    if got != (status, code) or set(body) != {"error"} or not error.get("message"):
        return f"expected {status} {code}, got {got[0]} {response.get_data(as_text=True)[:200]}"
    if field is not None and field not in error.get("fields", {}):
        return f"no message for {field!r} in {error.get('fields')}"
    return None


def as_token(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plaintext}"}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- /me ------------------------------------------------------------------------------------


def test_me_describes_the_caller(client, session):
    user = make_user(session, "Investigator@Example.org")

    response = client.get("/api/v1/me", headers=bearer(session, user))

    assert response.status_code == 200
    assert response.get_json() == {
        "id": str(user.id),
        "email": "investigator@example.org",
        "display_name": "investigator",
        "is_admin": False,
        "totp_enabled": False,
        "locale": None,
    }
    assert "password" not in response.get_data(as_text=True)


def test_me_for_an_admin(client, session):
    admin = make_user(session, "admin@example.org", admin=True)
    assert client.get("/api/v1/me", headers=bearer(session, admin)).get_json()["is_admin"] is True


def test_me_needs_authentication(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"


# --- tokens ---------------------------------------------------------------------------------


def test_token_is_shown_once_then_only_its_prefix(client, session):
    user = make_user(session, "lawyer@example.org")
    headers = bearer(session, user)

    created = client.post("/api/v1/me/tokens", json={"name": "laptop", "days": 30},
                          headers=headers)

    assert created.status_code == 201
    body = created.get_json()
    plaintext = body["token"]
    assert plaintext.startswith("cf_")
    assert len(plaintext) > 40
    assert body["prefix"] == plaintext[:10]
    assert body["name"] == "laptop"
    assert body["revoked_at"] is None
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=29) < expires - utcnow() <= dt.timedelta(days=30)

    listed = client.get("/api/v1/me/tokens", headers=headers)
    assert listed.status_code == 200
    assert plaintext not in listed.get_data(as_text=True)
    items = {item["id"]: item for item in listed.get_json()["items"]}
    assert body["id"] in items
    assert "token" not in items[body["id"]]
    assert items[body["id"]]["prefix"] == plaintext[:10]
    # Only the hash is stored.
    stored = session.get(ApiToken, uuid.UUID(body["id"]))
    assert plaintext not in (stored.token_hash, stored.prefix)

    me = client.get("/api/v1/me", headers=as_token(plaintext))
    assert me.status_code == 200
    assert me.get_json()["email"] == "lawyer@example.org"


def test_token_days_default_from_settings(client, session, settings):
    headers = bearer(session, make_user(session, "lawyer@example.org"))
    created = client.post("/api/v1/me/tokens", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    expires = dt.datetime.fromisoformat(created.get_json()["expires_at"])
    expected = dt.timedelta(days=settings.api_token_days)
    assert expected - dt.timedelta(minutes=1) < expires - utcnow() <= expected


def test_tokens_are_listed_only_for_their_owner(client, session):
    alice = make_user(session, "alice@example.org")
    bob = make_user(session, "bob@example.org")
    tokens.create_token(session, alice, name="alice-laptop", days=1)
    listed = client.get("/api/v1/me/tokens", headers=bearer(session, bob)).get_json()["items"]
    assert [item["name"] for item in listed] == ["test"]  # bob's own, made by bearer()


BAD_TOKEN_REQUESTS = (
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({}, "name"),
    ({"name": 5}, "name"),
    ({"name": "laptop", "days": 3651}, "days"),
    ({"name": "laptop", "days": -1}, "days"),
    ({"name": "laptop", "days": "ten"}, "days"),
    ({"name": "laptop", "days": 0}, "days"),  # once silently became the default 90 days
    ({"name": "laptop", "scope": "admin"}, "scope"),  # once silently ignored
)


def test_bad_token_requests_are_422_and_create_nothing(client, session):
    headers = bearer(session, make_user(session, "lawyer@example.org"))
    before = count(session, ApiToken)

    wrong = {}
    for payload, field in BAD_TOKEN_REQUESTS:
        response = client.post("/api/v1/me/tokens", json=payload, headers=headers)
        if problem := mismatch(response, 422, "validation_error", field):
            wrong[str(payload)] = problem
    assert not wrong
    assert count(session, ApiToken) == before


def test_revoked_token_is_refused(client, session):
    user = make_user(session, "lawyer@example.org")
    token, plaintext = tokens.create_token(session, user, name="laptop", days=1)
    other = bearer(session, user)

    revoked = client.delete(f"/api/v1/me/tokens/{token.id}", headers=other)

    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert "token" not in revoked.get_json()
    refused = client.get("/api/v1/me", headers=as_token(plaintext))
    assert refused.status_code == 401
    assert error_code(refused) == "unauthenticated"
    assert client.get("/api/v1/me", headers=other).status_code == 200
    # Revoking again is harmless and keeps the first time.
    again = client.delete(f"/api/v1/me/tokens/{token.id}", headers=other)
    assert again.status_code == 200
    assert again.get_json()["revoked_at"] == revoked.get_json()["revoked_at"]


def test_a_token_may_revoke_itself(client, session):
    user = make_user(session, "lawyer@example.org")
    token, plaintext = tokens.create_token(session, user, name="laptop", days=1)
    response = client.delete(f"/api/v1/me/tokens/{token.id}", headers=as_token(plaintext))
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=as_token(plaintext)).status_code == 401


def test_someone_elses_token_cannot_be_revoked(client, session):
    alice = make_user(session, "alice@example.org")
    bob = make_user(session, "bob@example.org")
    token, plaintext = tokens.create_token(session, alice, name="laptop", days=1)

    for token_id in (token.id, uuid.uuid4()):
        response = client.delete(f"/api/v1/me/tokens/{token_id}", headers=bearer(session, bob))
        assert response.status_code == 404
        assert error_code(response) == "not_found"
    assert client.get("/api/v1/me", headers=as_token(plaintext)).status_code == 200


def test_expired_token_is_refused(client, session):
    user = make_user(session, "lawyer@example.org")
    token, plaintext = tokens.create_token(session, user, name="old", days=1)
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()

    response = client.get("/api/v1/me", headers=as_token(plaintext))

    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"
    refused = session.scalars(
        select(SecurityEvent).where(SecurityEvent.event == SecurityEventType.TOKEN_REFUSED)
    ).all()
    assert [event.details["reason"] for event in refused] == ["expired"]


def test_token_of_a_disabled_account_is_refused(client, session):
    user = make_user(session, "lawyer@example.org")
    headers = bearer(session, user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    accounts.set_disabled(session, None, user, disabled=True)

    for method, path in (("GET", "/api/v1/me"), ("GET", "/api/v1/cases"),
                         ("POST", "/api/v1/cases")):
        response = client.open(path, method=method, headers=headers,
                               json={"title": "x", "forum": "icc"} if method == "POST" else None)
        assert response.status_code == 401
        assert error_code(response) == "unauthenticated"
    assert count(session, Case) == 0


GARBAGE_AUTHORIZATION = (
    "Bearer",
    "Bearer ",
    "Bearer cf_not-a-real-token",
    "Basic bGF3eWVyQGV4YW1wbGUub3JnOnBhc3N3b3Jk",
    "Token cf_abc",
    "cf_abc",
    "",
    "Bearer \u0000",
)


def test_garbage_authorization_header_is_401(client, session):
    make_user(session, "lawyer@example.org")
    wrong = {}
    for value in GARBAGE_AUTHORIZATION:
        for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/cases")):
            response = client.open(
                path,
                method=method,
                headers={"Authorization": value},
                json={"title": "x", "forum": "icc"} if method == "POST" else None,
            )
            if problem := mismatch(response, 401, "unauthenticated"):
                wrong[(value, method)] = problem
    assert not wrong
    assert count(session, Case) == 0


# --- the browser session used against the API -----------------------------------------------


def login(client, email: str, password: str = PASSWORD) -> None:
    page = client.get("/login")
    token = CSRF_INPUT.search(page.get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303
    assert not response.headers["Location"].startswith("/login")


def page_csrf_token(client) -> str:
    page = client.get("/cases")
    assert page.status_code == 200
    return CSRF_INPUT.search(page.get_data(as_text=True)).group(1)


def test_session_reads_need_no_csrf_token(client, session):
    make_user(session, "lawyer@example.org")
    login(client, "lawyer@example.org")
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.get_json()["email"] == "lawyer@example.org"


def test_session_write_without_a_valid_csrf_token_is_refused(client, session):
    make_user(session, "lawyer@example.org")
    login(client, "lawyer@example.org")

    wrong = {}
    for header in (None, "", "forged-token"):
        headers = {} if header is None else {"X-CSRFToken": header}
        response = client.post(
            "/api/v1/cases", json={"title": "x", "forum": "icc"}, headers=headers
        )
        if problem := mismatch(response, 400, "csrf_failed"):
            wrong[header] = problem
    assert not wrong
    assert client.get("/api/v1/cases").get_json()["items"] == []
    assert count(session, Case) == 0


def test_session_write_with_the_pages_csrf_token_is_accepted(client, session):
    make_user(session, "lawyer@example.org")
    login(client, "lawyer@example.org")
    token = page_csrf_token(client)

    response = client.post(
        "/api/v1/cases", json={"title": "x", "forum": "icc"}, headers={"X-CSRFToken": token}
    )

    assert response.status_code == 201
    assert response.get_json()["my_role"] == "lead"
    assert [item["title"] for item in client.get("/api/v1/cases").get_json()["items"]] == ["x"]


def test_session_csrf_covers_delete_too(client, session):
    user = make_user(session, "lawyer@example.org")
    token, _ = tokens.create_token(session, user, name="laptop", days=1)
    login(client, "lawyer@example.org")

    refused = client.delete(f"/api/v1/me/tokens/{token.id}")
    assert refused.status_code == 400
    assert error_code(refused) == "csrf_failed"
    session.refresh(token)
    assert token.revoked_at is None

    accepted = client.delete(
        f"/api/v1/me/tokens/{token.id}", headers={"X-CSRFToken": page_csrf_token(client)}
    )
    assert accepted.status_code == 200


def test_session_of_a_disabled_account_is_refused(client, session):
    user = make_user(session, "lawyer@example.org")
    login(client, "lawyer@example.org")
    token = page_csrf_token(client)
    accounts.set_disabled(session, None, user, disabled=True)

    assert client.get("/api/v1/me").status_code == 401
    response = client.post(
        "/api/v1/cases", json={"title": "x", "forum": "icc"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 401
    assert count(session, Case) == 0


def test_after_logout_the_session_no_longer_works(client, session):
    make_user(session, "lawyer@example.org")
    login(client, "lawyer@example.org")
    token = page_csrf_token(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/api/v1/me").status_code == 401
