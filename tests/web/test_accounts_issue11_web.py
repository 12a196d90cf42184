"""Issue 11 through the HTML UI: the administrators' lock state, unlock and password reset,
no "Disable" on one's own account, the enrolment secret kept across reloads (and out of the
cookie), recovery codes shown once and used at sign-in, and making new ones."""

from __future__ import annotations

import base64
import re
import time
import zlib

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from casefile.model import SecurityEventType, User
from tests.factories import PASSWORD, make_user
from tests.web.test_auth_web import (
    ATTACKER,
    cheap_password_hashes,
    events,
    find_form,
    has_form,
    is_signed_in,
    location_path,
    login,
    logout,
    sign_in,
    submit,
    text,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


def fresh(session: Session, user: User) -> User:
    session.refresh(user)
    return user


def lock(app: Flask, email: str) -> None:
    attacker = app.test_client()
    for _ in range(5):  # the instance's account budget: 5 a minute
        login(attacker, email, "not the right password", environ_base=ATTACKER)


def state_cell(page: str, email: str) -> str:
    row = page[re.search(rf"<td[^>]*>{re.escape(email)}</td>", page).start() :]
    row = row[: row.index("</tr>")]
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)[4]


def test_admin_sees_the_lock_and_unlocks(app: Flask, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "aung@example.org")
    lock(app, user.email)
    admin_client = app.test_client()
    sign_in(admin_client, admin.email)

    page = text(admin_client.get("/admin/users"))
    assert re.fullmatch(r"Locked until \d\d:\d\d UTC", state_cell(page, user.email))
    assert state_cell(page, admin.email) == "Active"
    unlock = f"/admin/users/{user.id}/unlock"
    assert has_form(page, unlock)
    assert not has_form(page, f"/admin/users/{admin.id}/unlock")

    response = submit(admin_client, "/admin/users", action=unlock)
    assert location_path(response) == "/admin/users"
    page = text(admin_client.get("/admin/users"))
    assert "Sign-in unlocked for aung@example.org." in page
    assert state_cell(page, user.email) == "Active"
    [event] = events(session, SecurityEventType.ACCOUNT_UNLOCKED, user)
    assert event.actor_id == admin.id

    owner_from_attacker_address = app.test_client()
    response = login(owner_from_attacker_address, user.email, environ_base=ATTACKER)
    assert location_path(response) == "/"


def test_no_disable_on_ones_own_account(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "aung@example.org")
    sign_in(client, admin.email)
    page = text(client.get("/admin/users"))
    assert not has_form(page, f"/admin/users/{admin.id}/disable")
    assert has_form(page, f"/admin/users/{user.id}/disable")


def test_admin_resets_a_password_and_the_person_must_choose_their_own(
    app: Flask, session: Session
) -> None:
    admin = make_user(session, "admin@example.org", admin=True)
    user = make_user(session, "aung@example.org")
    admin_client, user_client = app.test_client(), app.test_client()
    sign_in(admin_client, admin.email)
    sign_in(user_client, user.email)

    response = submit(admin_client, "/admin/users", action=f"/admin/users/{user.id}/reset-password")
    assert response.status_code == 200
    match = re.search(
        r'<code class="secret" id="temporary-password">([^<]+)</code>', text(response)
    )
    assert match is not None
    temporary = match.group(1)
    assert not is_signed_in(user_client)  # their sessions ended
    [event] = events(session, SecurityEventType.PASSWORD_RESET, user)
    assert event.actor_id == admin.id
    assert temporary not in str(event.details)

    assert login(user_client, user.email).status_code == 422  # the old password is gone
    response = login(user_client, user.email, temporary)
    assert location_path(response) == "/"
    blocked = user_client.get("/cases")
    assert location_path(blocked) == "/account"
    api = user_client.get("/api/v1/cases")  # the browser session on the API: refused too
    assert api.status_code == 403
    assert api.get_json()["error"]["code"] == "forbidden"
    assert "Choose your own password to continue." in text(user_client.get("/account"))

    response = submit(
        user_client,
        "/account",
        {"pw-current_password": temporary, "pw-new_password": "my own new passphrase"},
        action="/account/password",
    )
    assert location_path(response) == "/account"
    assert not fresh(session, user).password_must_change
    assert user_client.get("/cases").status_code == 200
    assert user_client.get("/api/v1/cases").status_code == 200


def secret_on(page: str) -> str:
    match = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert match is not None
    return match.group(1)


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    payload = cookie.value.split(".")[0 if not cookie.value.startswith(".") else 1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if cookie.value.startswith(".") else raw).decode()


def test_enrolment_secret_is_kept_across_reloads_and_not_in_the_cookie(
    client: FlaskClient, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    first = secret_on(text(client.get("/account/totp")))
    assert secret_on(text(client.get("/account/totp"))) == first
    assert first not in session_cookie(client)

    response = submit(client, "/account/totp", action="/account/totp/cancel")
    assert location_path(response) == "/account"
    second = secret_on(text(client.get("/account/totp")))
    assert second != first

    page = client.get("/account/totp")
    form = find_form(text(page))
    response = client.post("/account/totp", data={**form.fields, "code": pyotp.TOTP(second).now()})
    assert response.status_code == 200
    codes = re.search(r'<pre class="secret" id="recovery-codes">([^<]*)</pre>', text(response))
    assert codes is not None and len(codes.group(1).split()) == 10
    assert 'download="casefile-recovery-codes.txt"' in text(response)
    assert fresh(session, user).totp_enabled


def test_recovery_code_sign_in_and_new_codes(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    page = client.get("/account/totp")
    secret = secret_on(text(page))
    response = client.post(
        "/account/totp", data={**find_form(text(page)).fields, "code": pyotp.TOTP(secret).now()}
    )
    match = re.search(r'id="recovery-codes">([^<]*)</pre>', text(response))
    assert match is not None
    codes = match.group(1).split()
    logout(client)

    assert location_path(login(client, user.email)) == "/login/totp"
    response = submit(client, "/login/totp", {"code": codes[0]})
    assert location_path(response) == "/"
    assert "You signed in with a recovery code. 9 recovery codes are left." in text(
        client.get("/cases", follow_redirects=True)
    )
    [used] = events(session, SecurityEventType.RECOVERY_CODE_USED, user)
    assert used.details["codes_left"] == 9
    assert "9 unused recovery codes left." in text(client.get("/account"))
    logout(client)

    assert location_path(login(client, user.email)) == "/login/totp"
    response = submit(client, "/login/totp", {"code": codes[0]})  # used already
    assert response.status_code == 422
    assert "That code was not accepted." in text(response)

    response = submit(client, "/login/totp", {"code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert location_path(response) == "/"
    response = submit(
        client,
        "/account",
        {"recovery-password": "wrong password"},
        action="/account/totp/recovery-codes",
    )
    assert response.status_code == 422
    assert "is not your current password" in text(response)
    response = submit(
        client, "/account", {"recovery-password": PASSWORD}, action="/account/totp/recovery-codes"
    )
    assert response.status_code == 200
    assert "New recovery codes made; the old ones no longer work." in text(response)
    assert "10 unused recovery codes left." in text(client.get("/account"))
