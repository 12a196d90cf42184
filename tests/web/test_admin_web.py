"""Account administration through the HTML UI."""

from __future__ import annotations

import time

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile import request_scope
from casefile.logic.accounts import accounts
from casefile.logic.accounts.accounts import find_by_email
from casefile.model import SecurityEventType, User
from tests.factories import make_case, make_user
from tests.web.test_auth_web import (
    cheap_password_hashes,
    events,
    find_form,
    has_form,
    is_signed_in,
    location_path,
    login,
    sign_in,
    submit,
    text,
)

NEW_PASSWORD = "a long enough initial passphrase"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def fresh(session: Session, user: User) -> User:
    session.refresh(user)
    return user


def test_admin_creates_an_account(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    sign_in(client, admin.email)
    page = text(client.get("/admin/users"))
    assert "admin@example.org" in page

    response = submit(
        client,
        "/admin/users",
        {"email": "thida@example.org", "display_name": "Thida", "password": "too short"},
        action="/admin/users",
    )
    assert response.status_code == 422
    assert 'class="field invalid"' in text(response)
    assert "must be at least 12 characters" in text(response)
    assert find_by_email(session, "thida@example.org") is None

    response = submit(
        client,
        "/admin/users",
        {"email": "thida@example.org", "display_name": "Thida", "password": NEW_PASSWORD},
        action="/admin/users",
    )
    assert location_path(response) == "/admin/users"
    page = text(client.get("/admin/users"))
    assert "Account created." in page
    assert "thida@example.org" in page
    created = find_by_email(session, "thida@example.org")
    assert created is not None
    assert not created.is_admin
    assert created.display_name == "Thida"
    [event] = events(session, SecurityEventType.ACCOUNT_CREATED, created)
    assert event.actor_id == admin.id

    count = user_count(session)
    response = submit(
        client,
        "/admin/users",
        {"email": "Thida@Example.org", "password": NEW_PASSWORD},
        action="/admin/users",
    )
    assert response.status_code == 422
    assert "an account with this email already exists" in text(response)
    assert user_count(session) == count

    sign_in(client.application.test_client(), "thida@example.org", NEW_PASSWORD)


def test_admin_can_create_another_admin(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    sign_in(client, admin.email)
    submit(
        client,
        "/admin/users",
        {"email": "second@example.org", "password": NEW_PASSWORD, "is_admin": "y"},
        action="/admin/users",
    )
    created = find_by_email(session, "second@example.org")
    assert created is not None
    assert created.is_admin


def test_disable_and_enable_an_account(app: Flask, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "thida@example.org")
    admin_client, user_client, idle_client = app.test_client(), app.test_client(), app.test_client()
    sign_in(admin_client, admin.email)
    sign_in(user_client, user.email)
    sign_in(idle_client, user.email)  # left untouched until the account is enabled again

    response = submit(admin_client, "/admin/users", action=f"/admin/users/{user.id}/disable")
    assert location_path(response) == "/admin/users"
    page = text(admin_client.get("/admin/users"))
    assert "Account disabled." in page
    assert has_form(page, f"/admin/users/{user.id}/enable")
    assert fresh(session, user).is_disabled
    assert len(events(session, SecurityEventType.ACCOUNT_DISABLED, user)) == 1

    # The open session stops working, and signing in again is refused.
    assert not is_signed_in(user_client)
    assert "Sign-in refused" in text(login(user_client, user.email))
    assert not is_signed_in(user_client)

    response = submit(admin_client, "/admin/users", action=f"/admin/users/{user.id}/enable")
    assert location_path(response) == "/admin/users"
    assert "Account enabled." in text(admin_client.get("/admin/users"))
    assert not fresh(session, user).is_disabled
    assert not is_signed_in(idle_client)  # sessions from before the disabling stay ended
    sign_in(user_client, user.email)


def test_admin_cannot_disable_themselves(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    sign_in(client, admin.email)
    page = text(client.get("/admin/users"))
    own = f"/admin/users/{admin.id}/disable"
    assert not has_form(page, own)  # not offered (issue 11); refused if sent all the same
    token = find_form(page, f"/admin/users/{admin.id}/sign-out").fields["csrf_token"]
    response = client.post(own, data={"csrf_token": token})
    assert location_path(response) == "/admin/users"
    assert "You cannot disable your own account." in text(client.get("/admin/users"))
    assert not fresh(session, admin).is_disabled
    assert is_signed_in(client)


def test_admin_resets_two_factor(app: Flask, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "thida@example.org")
    secret = accounts.new_totp_secret()
    accounts.enable_totp(
        session,
        user,
        secret=secret,
        keyring=request_scope.keyring(app),
        code=pyotp.TOTP(secret).now(),
    )
    admin_client, user_client = app.test_client(), app.test_client()
    sign_in(admin_client, admin.email)
    assert location_path(login(user_client, user.email)) == "/login/totp"
    response = submit(user_client, "/login/totp", {"code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert location_path(response) == "/"
    assert is_signed_in(user_client)

    reset = f"/admin/users/{user.id}/reset-2fa"
    page = text(admin_client.get("/admin/users"))
    assert has_form(page, reset)
    assert not has_form(page, f"/admin/users/{admin.id}/reset-2fa")  # admin has no 2FA on
    response = submit(admin_client, "/admin/users", action=reset)
    assert location_path(response) == "/admin/users"
    page = text(admin_client.get("/admin/users"))
    assert "Two-factor sign-in reset" in page
    assert not has_form(page, reset)
    assert not fresh(session, user).totp_enabled
    [event] = events(session, SecurityEventType.TOTP_RESET, user)
    assert event.actor_id == admin.id

    # The reset ends the person's sessions; the password alone signs in again, and the
    # person can enrol anew.
    assert not is_signed_in(user_client)
    sign_in(user_client, user.email)
    assert user_client.get("/account/totp").status_code == 200


def test_non_admin_gets_403(client: FlaskClient, session: Session) -> None:
    make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "thida@example.org")
    sign_in(client, user.email)
    page = text(client.get("/cases"))
    assert 'href="/admin/users"' not in page
    assert client.get("/admin/users").status_code == 403
    token = find_form(page, "/logout").fields
    response = client.post(
        "/admin/users", data={**token, "email": "new@example.org", "password": NEW_PASSWORD}
    )
    assert response.status_code == 403
    assert find_by_email(session, "new@example.org") is None
    response = client.post(f"/admin/users/{user.id}/disable", data=token)
    assert response.status_code == 403
    assert not fresh(session, user).is_disabled


def test_anonymous_admin_pages_send_to_login(client: FlaskClient) -> None:
    assert location_path(client.get("/admin/users")) == "/login"


def test_admin_sees_no_case_content(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead, "Confidential witness statements")
    sign_in(client, admin.email)
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert "Confidential witness statements" not in text(client.get("/cases"))
    assert "Confidential witness statements" not in text(client.get("/admin/users"))
