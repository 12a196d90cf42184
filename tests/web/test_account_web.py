"""My account in the HTML UI: API tokens, two-factor switch-off, and the language choice."""

from __future__ import annotations

import re
from functools import cache

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic.accounts.passwords import verify_password
from casefile.model import ApiToken, SecurityEventType, User
from casefile.settings import PROJECT_ROOT
from tests.factories import PASSWORD, make_user
from tests.web.test_auth_web import (
    cheap_password_hashes,
    enrol_totp,
    events,
    find_form,
    forms,
    location_path,
    login,
    logout,
    sign_in,
    submit,
    text,
)

PO_FILE = PROJECT_ROOT / "casefile" / "translations" / "my" / "LC_MESSAGES" / "messages.po"
NEW_TOKEN = re.compile(r'<code class="secret" id="new-token">([^<]+)</code>')


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


@cache
def burmese(msgid: str) -> str:
    """The Burmese msgstr for `msgid`, as the catalogue has it now."""
    with PO_FILE.open("rb") as source:
        catalog = read_po(source)
    message = catalog.get(msgid)
    assert message is not None, f"{msgid!r} is not in {PO_FILE.name}"
    assert isinstance(message.string, str), msgid
    assert message.string, f"no Burmese translation of {msgid!r}"
    assert message.string != msgid
    return message.string


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match
    return match.group(1)


# --- API tokens -----------------------------------------------------------------------------


def create_token(client: FlaskClient, name: str, days: int | None = 30) -> str:
    response = submit(
        client, "/account", {"token-name": name, "token-days": days}, action="/account/tokens"
    )
    assert response.status_code == 200
    match = NEW_TOKEN.search(text(response))
    assert match, text(response)
    return match.group(1)


def me_status(app: Flask, plaintext: str) -> int:
    """/api/v1/me with the bearer token alone, from a client with no browser session."""
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    return response.status_code


def test_token_is_shown_once_listed_by_prefix_and_revocable(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    plaintext = create_token(client, "field laptop")
    assert plaintext.startswith("cf_")
    assert me_status(app, plaintext) == 200

    account = text(client.get("/account"))
    assert plaintext not in account  # shown once only
    assert "field laptop" in account
    assert f"<code>{plaintext[:10]}…</code>" in account
    [token] = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.prefix == plaintext[:10]
    assert plaintext not in (token.token_hash, token.prefix)

    revoke = f"/account/tokens/{token.id}/revoke"
    response = submit(client, "/account", action=revoke)
    assert location_path(response) == "/account"
    account = text(client.get("/account"))
    assert "Token revoked." in account
    assert "Revoked" in account
    assert not any(form.action == revoke for form in forms(account))
    assert me_status(app, plaintext) == 401
    assert len(events(session, SecurityEventType.TOKEN_CREATED, user)) == 1
    assert len(events(session, SecurityEventType.TOKEN_REVOKED, user)) == 1


def test_token_without_a_name_is_refused(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    response = submit(client, "/account", {"token-name": ""}, action="/account/tokens")
    assert response.status_code == 422
    assert 'class="field invalid"' in text(response)
    assert NEW_TOKEN.search(text(response)) is None
    assert list(session.scalars(select(ApiToken))) == []


def test_token_create_without_csrf_is_refused(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    response = client.post("/account/tokens", data={"token-name": "x", "token-days": "3"})
    assert response.status_code == 400
    assert list(session.scalars(select(ApiToken))) == []


def test_someone_elses_token_cannot_be_revoked(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    owner = make_user(session, "owner@example.org")
    other = make_user(session, "other@example.org")
    sign_in(client, owner.email)
    plaintext = create_token(client, "mine")
    [token] = session.scalars(select(ApiToken))
    logout(client)

    sign_in(client, other.email)
    form = find_form(text(client.get("/account")), "/logout")
    response = client.post(f"/account/tokens/{token.id}/revoke", data=form.fields)
    assert response.status_code == 404
    assert me_status(app, plaintext) == 200


def test_totp_can_be_turned_off_with_the_password(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    enrol_totp(client)
    response = submit(
        client, "/account", {"totp-password": "not my password!"}, action="/account/totp/disable"
    )
    assert response.status_code == 422
    assert "is not your current password" in text(response)
    session.refresh(user)
    assert user.totp_enabled

    response = submit(
        client, "/account", {"totp-password": PASSWORD}, action="/account/totp/disable"
    )
    assert location_path(response) == "/account"
    session.refresh(user)
    assert not user.totp_enabled
    assert len(events(session, SecurityEventType.TOTP_DISABLED, user)) == 1


# --- language -------------------------------------------------------------------------------


def test_anonymous_language_choice_is_kept_in_the_session(client: FlaskClient) -> None:
    page = text(client.get("/login"))
    assert html_lang(page) == "en"
    assert burmese("Sign in") not in page
    form = find_form(page, "/language")
    assert form.fields["next"].startswith("/login")

    response = client.post("/language", data={**form.fields, "locale": "my"})
    assert location_path(response) == "/login"
    page = text(client.get("/login"))
    assert html_lang(page) == "my"
    assert burmese("Sign in") in page
    assert 'value="my" selected' in page


def test_language_choice_is_remembered_on_the_account(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    page = text(client.get("/cases"))
    assert html_lang(page) == "en"
    assert "My cases" in page

    response = submit(client, "/cases", {"locale": "my"}, action="/language")
    assert location_path(response) == "/cases"
    page = text(client.get("/cases"))
    assert html_lang(page) == "my"
    assert burmese("My cases") in page
    session.refresh(user)
    assert user.locale == "my"

    # A new sign-in, from a browser that never chose a language, speaks Burmese again.
    logout(client)
    elsewhere = app.test_client()
    assert html_lang(text(elsewhere.get("/login"))) == "en"
    response = login(elsewhere, user.email, follow_redirects=True)
    assert response.request.path == "/cases"
    assert html_lang(text(response)) == "my"
    assert burmese("My cases") in text(response)

    # ... until the person switches back.
    submit(elsewhere, "/cases", {"locale": "en"}, action="/language")
    assert html_lang(text(elsewhere.get("/cases"))) == "en"
    session.refresh(user)
    assert user.locale == "en"


def test_unknown_language_is_refused(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    response = submit(client, "/cases", {"locale": "xx"}, action="/language")
    assert location_path(response) == "/cases"
    page = text(client.get("/cases"))
    assert "That language is not available." in page
    assert html_lang(page) == "en"
    session.refresh(user)
    assert user.locale is None


def test_language_switch_does_not_redirect_off_site(client: FlaskClient) -> None:
    form = find_form(text(client.get("/login")), "/language")
    response = client.post(
        "/language", data={**form.fields, "locale": "my", "next": "https://evil.example/"}
    )
    assert response.status_code == 303
    assert "evil" not in response.headers["Location"]


def test_language_switch_needs_csrf(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    response = client.post("/language", data={"locale": "my", "next": "/cases"})
    assert response.status_code == 400
    user_row = session.get(User, user.id)
    assert user_row is not None
    session.refresh(user_row)
    assert user_row.locale is None


def test_language_chosen_before_signing_in_is_kept(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    submit(client, "/login", {"locale": "my"}, action="/language")
    assert html_lang(text(client.get("/login"))) == "my"
    response = login(client, user.email, follow_redirects=True)
    assert response.request.path == "/cases"
    assert html_lang(text(response)) == "my"


def test_signing_out_keeps_the_language(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    submit(client, "/cases", {"locale": "my"}, action="/language")
    response = submit(client, "/cases", action="/logout", follow_redirects=True)
    assert response.request.path == "/login"
    page = text(response)
    assert html_lang(page) == "my"
    assert burmese("You are signed out.") in page


def test_asking_for_the_password_again_is_throttled_like_sign_in(
    client: FlaskClient, session: Session
) -> None:
    """A stolen session cookie is no unthrottled way to guess the password: wrong answers on
    the account page count as sign-in failures do (5 a minute for the account), and then even
    the right password waits (429 with Retry-After) and changes nothing."""
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    for _ in range(5):
        response = submit(
            client,
            "/account",
            {"pw-current_password": "not my password at all", "pw-new_password": "y" * 20},
            action="/account/password",
        )
        assert response.status_code == 422
    response = submit(
        client,
        "/account",
        {"pw-current_password": PASSWORD, "pw-new_password": "a new passphrase of mine"},
        action="/account/password",
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)  # unchanged
