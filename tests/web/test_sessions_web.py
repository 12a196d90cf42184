"""Server-side sign-in sessions (issue 8 item 3): a cookie copied before sign-out, a password
change, a disable or an administrator's "sign out everywhere" opens nothing afterwards and
is not refreshed; the owner can end their other sessions; password change can revoke
API tokens (item 4)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from casefile.logic.accounts import tokens
from casefile.model import LoginSession, SecurityEventType, User
from tests.factories import PASSWORD, make_user
from tests.web.test_auth_web import (
    csrf_token,
    events,
    is_signed_in,
    location_path,
    logout,
    sign_in,
    submit,
    text,
)

COOKIE = "casefile_session"
NEW_PASSWORD = "a brand new passphrase for casefile"


def saved_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def replay(client: FlaskClient, value: str, path: str = "/account") -> TestResponse:
    client.set_cookie(COOKIE, value)
    return client.get(path)


def cookie_payloads(app: Flask, response: TestResponse) -> list[dict[str, object]]:
    """The sessions the response's Set-Cookie headers would store (empty if deleted)."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    payloads = []
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if name == COOKIE and value:
            payloads.append(serializer.loads(value))
    return payloads


def sessions_of(session: Session, user: User) -> list[LoginSession]:
    session.expire_all()
    query = select(LoginSession).where(LoginSession.user_id == user.id)
    return list(session.scalars(query.order_by(LoginSession.created_at)))


def test_a_cookie_saved_before_logout_is_refused_and_not_refreshed(
    app: Flask, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    client = app.test_client()
    sign_in(client, user.email)
    stolen = saved_cookie(client)
    [record] = sessions_of(session, user)
    assert record.ended_at is None

    logout(client)
    [record] = sessions_of(session, user)
    assert record.end_reason == "logout"
    ended_at, last_seen = record.ended_at, record.last_seen_at
    assert ended_at is not None

    for _ in range(2):  # every replay, not just the first
        response = replay(client, stolen)
        assert location_path(response) == "/login"
        for payload in cookie_payloads(app, response):
            assert "_user_id" not in payload and "sid" not in payload
        assert not is_signed_in(client)
    [record] = sessions_of(session, user)
    assert (record.ended_at, record.last_seen_at) == (ended_at, last_seen)
    [logged] = events(session, SecurityEventType.LOGOUT, user)
    assert logged.details["session_id"] == str(record.id)


def test_an_idle_session_ends_server_side(app: Flask, session: Session) -> None:
    """Even with a fresh last-seen time in the cookie, the server's own record decides."""
    user = make_user(session, "aung@example.org")
    client = app.test_client()
    sign_in(client, user.email)
    [record] = sessions_of(session, user)
    record.last_seen_at -= dt.timedelta(minutes=32)  # idle limit 30 minutes (+1 of slack)
    session.commit()
    assert location_path(client.get("/cases")) == "/login"
    [record] = sessions_of(session, user)
    assert record.end_reason == "idle"


def test_password_change_ends_the_other_sessions_and_can_revoke_tokens(
    app: Flask, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    _, kept_token = tokens.create_token(session, user, name="kept", days=1)
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, user.email)
    sign_in(elsewhere, user.email)
    other_cookie = saved_cookie(elsewhere)

    response = submit(
        here,
        "/account",
        {"pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD},
        action="/account/password",
    )
    assert location_path(response) == "/account"
    assert is_signed_in(here)
    assert location_path(replay(elsewhere, other_cookie)) == "/login"
    reasons = sorted(str(record.end_reason) for record in sessions_of(session, user))
    assert reasons == ["None", "password_changed"]
    # Unticked, the tokens stay valid.
    headers = {"Authorization": f"Bearer {kept_token}"}
    assert here.get("/api/v1/me", headers=headers).status_code == 200

    response = submit(
        here,
        "/account",
        {
            "pw-current_password": NEW_PASSWORD,
            "pw-new_password": "yet another long passphrase",
            "pw-revoke_tokens": "y",
        },
        action="/account/password",
    )
    assert location_path(response) == "/account"
    assert "Your API tokens have been revoked." in text(here.get("/account"))
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    [revoked] = [
        event
        for event in events(session, SecurityEventType.TOKEN_REVOKED, user)
        if event.details.get("scope") == "all"
    ]
    assert revoked.details["reason"] == "password_changed"


def test_sign_out_my_other_sessions(app: Flask, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    here, phone, laptop = app.test_client(), app.test_client(), app.test_client()
    for client in (here, phone, laptop):
        sign_in(client, user.email)
    page = text(here.get("/account"))
    assert "Where you are signed in" in page
    assert page.count("127.0.0.1") == 3
    response = submit(here, "/account", action="/account/sessions/end-others")
    assert location_path(response) == "/account"
    assert "2 other sessions signed out." in text(here.get("/account"))
    assert is_signed_in(here)
    assert not is_signed_in(phone)
    assert not is_signed_in(laptop)
    [logged] = [
        event
        for event in events(session, SecurityEventType.LOGOUT, user)
        if event.details.get("scope") == "other_sessions"
    ]
    assert logged.details["sessions_ended"] == 2


def test_admin_signs_an_account_out_everywhere(app: Flask, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "thida@example.org")
    admin_client, phone, laptop = app.test_client(), app.test_client(), app.test_client()
    sign_in(phone, user.email)
    sign_in(laptop, user.email)
    stolen = saved_cookie(laptop)

    # Someone who is not an administrator may not.
    token = csrf_token(phone, "/account")
    response = phone.post(f"/admin/users/{admin.id}/sign-out", data={"csrf_token": token})
    assert response.status_code == 403
    assert is_signed_in(phone)

    sign_in(admin_client, admin.email)
    response = submit(admin_client, "/admin/users", action=f"/admin/users/{user.id}/sign-out")
    assert location_path(response) == "/admin/users"
    assert "2 sessions of thida@example.org signed out." in text(admin_client.get("/admin/users"))
    assert not is_signed_in(phone)
    assert location_path(replay(laptop, stolen)) == "/login"
    assert is_signed_in(admin_client)
    [logged] = [
        event
        for event in events(session, SecurityEventType.LOGOUT, user)
        if event.details.get("scope") == "everywhere"
    ]
    assert logged.actor_id == admin.id
    assert logged.details["sessions_ended"] == 2
    sign_in(phone, user.email)  # the account itself still works


def test_disable_ends_sessions_and_revokes_tokens_for_good(app: Flask, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "thida@example.org")
    _, plaintext = tokens.create_token(session, user, name="script", days=30)
    headers = {"Authorization": f"Bearer {plaintext}"}
    admin_client, user_client = app.test_client(), app.test_client()
    sign_in(user_client, user.email)
    stolen = saved_cookie(user_client)
    sign_in(admin_client, admin.email)

    submit(admin_client, "/admin/users", action=f"/admin/users/{user.id}/disable")
    assert location_path(replay(user_client, stolen)) == "/login"
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    submit(admin_client, "/admin/users", action=f"/admin/users/{user.id}/enable")
    # Enabled again: the person signs in afresh; the old cookie and token stay dead.
    assert location_path(replay(user_client, stolen)) == "/login"
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    [disabled] = events(session, SecurityEventType.ACCOUNT_DISABLED, user)
    assert disabled.details == {"sessions_ended": 1, "tokens_revoked": 1}
    sign_in(app.test_client(), user.email)


def test_signing_in_again_replaces_the_browsers_session(app: Flask, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client = app.test_client()
    sign_in(client, user.email)
    first = saved_cookie(client)
    sign_in(client, user.email)
    assert is_signed_in(client)
    ended = [record.end_reason for record in sessions_of(session, user)]
    assert ended == ["replaced", None]
    assert location_path(replay(client, first)) == "/login"
