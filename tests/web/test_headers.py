"""Security headers, cookie flags, and pages that a strict CSP can render (no inline script)."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from casefile import create_app, request_scope
from casefile.db import Database
from casefile.logic.accounts import accounts
from casefile.model import Role
from casefile.settings import Settings
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import (
    cheap_password_hashes,
    find_form,
    location_path,
    login,
    sign_in,
    submit,
    text,
)

SESSION_COOKIE = "casefile_session"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


class _InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block, or what smells of it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script" and not names.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style>")
        for name, value in names.items():
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name == "style":
                self.problems.append(f"style= attribute on <{tag}>")
            if name in ("href", "src", "action", "formaction") and re.match(
                r"\s*javascript:", value, re.IGNORECASE
            ):
                self.problems.append(f"javascript: URL in {name}= on <{tag}>")

    handle_startendtag = handle_starttag


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.problems


def directives(csp: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for part in csp.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            result[name.lower()] = value.strip()
    return result


def check_headers(response: TestResponse, *, page: bool = True) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy")
    assert csp, response.request.path
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    policy = directives(csp)
    assert policy.get("frame-ancestors") == "'none'"
    assert "*" not in policy.get("script-src", policy.get("default-src", "*"))
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") == "no-referrer"
    assert headers.get("X-Frame-Options") == "DENY"
    if page:
        assert "no-store" in headers.get("Cache-Control", ""), response.request.path


def session_cookies(response: TestResponse) -> list[str]:
    return [
        cookie
        for cookie in response.headers.getlist("Set-Cookie")
        if cookie.startswith(SESSION_COOKIE + "=")
    ]


def cookie_flags(cookie: str) -> set[str]:
    """{"httponly", "secure", "samesite=lax", "path=/", ...}"""
    return {part.strip().lower() for part in cookie.split(";")[1:]}


@pytest.fixture
def signed_in(client: FlaskClient, session: Session) -> tuple[FlaskClient, str]:
    """An administrator who leads a case with a second member; yields the case page."""
    admin = make_user(session, "admin@example.org", admin=True)
    colleague = make_user(session, "colleague@example.org")
    case = make_case(session, admin)
    add_member(session, case, admin, colleague, Role.VIEWER)
    sign_in(client, admin.email)
    return client, f"/cases/{case.id}"


def visit_everything(client: FlaskClient, case_page: str) -> dict[str, TestResponse]:
    """Every kind of page the UI has, as the signed-in administrator sees it."""
    seen: dict[str, TestResponse] = {}
    for path in ("/cases", "/cases/new", case_page, "/account", "/account/totp", "/admin/users"):
        seen[path] = client.get(path)
        assert seen[path].status_code == 200, path
    seen["field errors"] = submit(client, "/cases/new", {"title": "", "ern_pattern": "{x}"})
    seen["token created"] = submit(
        client, "/account", {"token-name": "laptop"}, action="/account/tokens"
    )
    seen["404"] = client.get("/cases/00000000-0000-0000-0000-000000000000")
    seen["unknown path"] = client.get("/no/such/page")
    seen["400"] = client.post("/cases/new", data={"title": "no token"})
    seen["405"] = client.delete("/logout")  # a GET is redirected to the home page
    assert [seen[name].status_code for name in ("404", "unknown path", "400", "405")] == [
        404,
        404,
        400,
        405,
    ]
    return seen


def test_every_page_has_the_security_headers_and_no_inline_code(
    signed_in: tuple[FlaskClient, str], app: Flask, session: Session
) -> None:
    client, case_page = signed_in
    seen = visit_everything(client, case_page)

    # Pages a signed-out visitor sees, including the two-factor step and a 403.
    anonymous = app.test_client()
    seen["login"] = anonymous.get("/login")
    seen["redirect"] = anonymous.get("/cases")
    assert location_path(seen["redirect"]) == "/login"
    totp_user = make_user(session, "totp@example.org")
    secret = accounts.new_totp_secret()
    accounts.enable_totp(
        session,
        totp_user,
        secret=secret,
        keyring=request_scope.keyring(app),
        code=pyotp.TOTP(secret).now(),
    )
    assert location_path(login(anonymous, totp_user.email)) == "/login/totp"
    seen["totp"] = anonymous.get("/login/totp")
    assert seen["totp"].status_code == 200
    seen["visitor 400"] = anonymous.post(
        "/login", data={"email": "x@example.org", "password": "y"}
    )  # no CSRF token
    assert seen["visitor 400"].status_code == 400
    member = app.test_client()
    sign_in(member, "colleague@example.org")
    seen["forbidden"] = member.post(
        f"{case_page}/members",
        data={
            **find_form(text(member.get(case_page)), "/logout").fields,
            "email": "admin@example.org",
            "role": "viewer",
        },
    )
    assert seen["forbidden"].status_code == 403

    for name, response in seen.items():
        check_headers(response)
        if response.mimetype == "text/html" and response.status_code != 302:
            problems = inline_code(text(response))
            assert problems == [], f"{name}: {problems}"


def test_burmese_pages_have_no_inline_code(signed_in: tuple[FlaskClient, str]) -> None:
    client, case_page = signed_in
    submit(client, "/cases", {"locale": "my"}, action="/language")
    for path in ("/cases", "/cases/new", case_page, "/account", "/admin/users"):
        response = client.get(path)
        assert '<html lang="my">' in text(response)
        check_headers(response)
        assert inline_code(text(response)) == [], path


def test_static_files_are_not_sniffed(client: FlaskClient) -> None:
    response = client.get("/static/casefile.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    check_headers(response, page=False)
    response.close()


def test_api_responses_carry_the_headers(client: FlaskClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    check_headers(response)


def test_session_cookie_flags_over_http(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    response = login(client, user.email)
    [cookie] = session_cookies(response)
    flags = cookie_flags(cookie)
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_is_secure_and_hsts_is_sent_over_https(client: FlaskClient) -> None:
    response = client.get("/login", base_url="https://localhost")
    assert response.status_code == 200
    check_headers(response)
    hsts = response.headers.get("Strict-Transport-Security", "")
    match = re.search(r"max-age=(\d+)", hsts)
    assert match
    assert int(match.group(1)) >= 31536000
    [cookie] = session_cookies(response)  # the CSRF token is kept in the session
    flags = cookie_flags(cookie)
    assert {"secure", "httponly", "samesite=lax"} <= flags


@pytest.fixture
def https_app(settings: Settings, database: Database) -> Flask:
    return create_app(dataclasses.replace(settings, https=True), database=database)


def test_https_setting_makes_cookies_secure_and_sends_hsts(https_app: Flask) -> None:
    response = https_app.test_client().get("/login", base_url="https://localhost")
    assert "Strict-Transport-Security" in response.headers
    [cookie] = session_cookies(response)
    assert "secure" in cookie_flags(cookie)


def test_the_login_page_cannot_be_framed(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert directives(response.headers["Content-Security-Policy"])["frame-ancestors"] == "'none'"
