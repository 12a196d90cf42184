"""Sign-in through the HTML UI: CSRF, throttling, two-factor, idle timeout, session endings.

The helpers at the top (form scraping, login) are shared by the other tests/web modules.
"""

from __future__ import annotations

import dataclasses
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from casefile import create_app
from casefile.db import Database
from casefile.logic.accounts import passwords
from casefile.model import SecurityEvent, SecurityEventType, User
from casefile.settings import Settings
from tests.factories import PASSWORD, make_user

CLIENT_ADDRESS = "203.0.113.7"
HOME = "/"  # where a sign-in lands by default (it forwards to /cases)


# --- helpers shared by the web tests --------------------------------------------------------


def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest cost: these tests sign in often and are not about hashing
    cost (tests of casefile.logic.accounts.passwords keep the real parameters)."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


@dataclasses.dataclass
class Form:
    action: str | None
    method: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(attr.get("action") or None, attr.get("method", "get").lower(), {})
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attr:
                return
            self._form.fields[name] = attr.get("value", "y" if kind == "checkbox" else "")
        elif tag == "textarea" and name:
            self._form.fields[name] = ""
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = attr.get("value", "")
            if self._first_option is None:
                self._first_option = value
                self._form.fields.setdefault(self._select, value)
            if "selected" in attr:
                self._form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def find_form(html: str, action: str | None = None) -> Form:
    """The POST form whose action is `action` (None: a form posting to its own page)."""
    for form in forms(html):
        if form.method == "post" and form.action == action:
            return form
    raise AssertionError(f"no POST form with action {action!r} on the page")


def has_form(html: str, action: str) -> bool:
    return any(form.action == action for form in forms(html))


def submit(
    client: FlaskClient,
    page: str,
    data: dict[str, Any] | None = None,
    *,
    action: str | None = None,
    **kwargs: Any,
) -> TestResponse:
    """Load `page`, fill the form posting to `action` (itself if None) and send it, as a
    browser would: hidden fields (the CSRF token) come from the page."""
    response = client.get(page, **kwargs)
    assert response.status_code == 200, (page, response.status_code)
    form = find_form(response.get_data(as_text=True), action)
    fields: dict[str, Any] = {**form.fields, **(data or {})}
    fields = {name: value for name, value in fields.items() if value is not None}
    return client.post(action or page, data=fields, **kwargs)


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    response = client.get(page)
    for form in forms(response.get_data(as_text=True)):
        for name, value in form.fields.items():
            if name.endswith("csrf_token"):
                return value
    raise AssertionError(f"no CSRF token on {page}")


def location_path(response: TestResponse) -> str:
    assert response.status_code in (301, 302, 303, 307, 308), response.status_code
    parts = urlsplit(response.headers["Location"])
    assert parts.netloc in ("", "localhost"), response.headers["Location"]
    return parts.path


def login(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs: Any) -> TestResponse:
    return submit(client, "/login", {"email": email, "password": password}, **kwargs)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    response = login(client, email, password)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert location_path(response) == HOME


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/account")
    if response.status_code == 302:
        assert location_path(response) == "/login"
        return False
    assert response.status_code == 200
    return True


def logout(client: FlaskClient) -> None:
    response = submit(client, "/account", action="/logout")
    assert location_path(response) == "/login"


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def events(
    session: Session, kind: SecurityEventType, user: User | None = None
) -> list[SecurityEvent]:
    query = select(SecurityEvent).where(SecurityEvent.event == kind).order_by(SecurityEvent.id)
    if user is not None:
        query = query.where(SecurityEvent.user_id == user.id)
    return list(session.scalars(query))


def other_code(secret: str, *codes: str) -> str:
    """A six-digit code valid at no nearby time step (and none of `codes`)."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    taken = {totp.at(now + drift * 30) for drift in range(-3, 4)} | set(codes)
    candidate = 123456
    while f"{candidate:06d}" in taken:
        candidate += 1
    return f"{candidate:06d}"


def enrol_totp(client: FlaskClient) -> str:
    """Turn on two-factor sign-in through /account/totp; returns the secret shown there."""
    page = client.get("/account/totp")
    assert page.status_code == 200
    form = find_form(text(page))
    html = text(page)
    start = html.index('<code class="secret">') + len('<code class="secret">')
    secret = html[start : html.index("</code>", start)]
    assert 'src="data:image/svg+xml;base64,' in html  # the QR code
    response = client.post("/account/totp", data={**form.fields, "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200  # the recovery codes, shown once
    assert "Recovery codes" in text(response)
    return secret


# --- the login page -------------------------------------------------------------------------


def test_login_page_renders_a_form_with_a_csrf_token(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    form = find_form(text(response))
    assert set(form.fields) >= {"csrf_token", "email", "password"}
    assert form.fields["csrf_token"]


def test_anonymous_visitor_is_sent_to_login(client: FlaskClient) -> None:
    response = client.get("/cases")
    assert location_path(response) == "/login"


def test_login_with_the_right_password_signs_in(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    response = login(client, "Aung@Example.org", environ_base={"REMOTE_ADDR": CLIENT_ADDRESS})
    assert location_path(response) == HOME
    assert is_signed_in(client)
    [event] = events(session, SecurityEventType.LOGIN_SUCCEEDED, user)
    assert event.client_address == CLIENT_ADDRESS


def test_wrong_password_is_refused_flashed_and_logged(
    client: FlaskClient, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    response = login(
        client, user.email, "not the right password", environ_base={"REMOTE_ADDR": CLIENT_ADDRESS}
    )
    assert response.status_code == 422
    assert 'class="flash error"' in text(response)
    assert "Sign-in refused" in text(response)
    assert not is_signed_in(client)
    [event] = events(session, SecurityEventType.LOGIN_FAILED, user)
    assert event.client_address == CLIENT_ADDRESS
    assert event.details["reason"] == "wrong_password"


def test_unknown_email_gets_the_same_answer(client: FlaskClient, session: Session) -> None:
    make_user(session, "aung@example.org")
    unknown = text(login(client, "nobody@example.org", "whatever password"))
    wrong = text(login(client, "aung@example.org", "whatever password"))
    assert "Sign-in refused" in unknown
    assert "Sign-in refused" in wrong
    [event] = [e for e in events(session, SecurityEventType.LOGIN_FAILED) if e.user_id is None]
    assert event.email == "nobody@example.org"


ATTACKER = {"REMOTE_ADDR": "198.51.100.66"}
OWNER = {"REMOTE_ADDR": "203.0.113.200"}


def test_failures_are_throttled_with_retry_after_and_no_lockout(
    app: Flask, session: Session
) -> None:
    """Issue 8 item 5: five wrong passwords slow the guesser down (429, Retry-After, a
    message saying how long) but do not lock the owner out from elsewhere."""
    user = make_user(session, "aung@example.org")
    attacker = app.test_client()
    for _ in range(5):
        response = login(attacker, user.email, "not the right password", environ_base=ATTACKER)
        assert response.status_code == 422
        assert "Sign-in refused" in text(response)

    # The sixth attempt does not sign in, right password or not: a wrong one gets the
    # generic answer; the right one (issue 11) is told until when the account is locked.
    response = login(attacker, user.email, "another wrong password", environ_base=ATTACKER)
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert "Too many attempts. Try again in 1 minute." in text(response)
    assert not is_signed_in(attacker)
    throttled = events(session, SecurityEventType.LOGIN_FAILED, user)[-1]
    assert throttled.details["reason"] == "throttled"
    assert throttled.client_address == ATTACKER["REMOTE_ADDR"]
    response = login(attacker, user.email, PASSWORD, environ_base=ATTACKER)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "This account is locked until" in text(response)
    assert not is_signed_in(attacker)
    assert events(session, SecurityEventType.LOGIN_FAILED, user)[-1].details["reason"] == "locked"

    # The owner, from an address with no failures, signs in at once.
    owner = app.test_client()
    response = login(owner, user.email, environ_base=OWNER)
    assert location_path(response) == HOME
    assert events(session, SecurityEventType.LOCKED_OUT, user) == []


def test_a_right_password_uses_up_no_budget(app: Flask, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client = app.test_client()
    for _ in range(4):
        login(client, user.email, "not the right password", environ_base=OWNER)
    for _ in range(6):  # had successes counted, the fifth of these would be refused
        response = login(client, user.email, environ_base=OWNER)
        assert location_path(response) == HOME
        logout(client)
    response = login(client, user.email, "not the right password", environ_base=OWNER)
    assert response.status_code == 422  # the fifth failure is still looked at
    assert login(client, user.email, environ_base=OWNER).status_code == 429


def test_the_wait_grows_with_the_stacked_limits(
    settings: Settings, database: Database, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the per-minute limit the per-hour one applies: the wait grows to minutes."""
    del session
    app = create_app(
        dataclasses.replace(settings, throttle_client_limits="3/minute;4/hour"),
        database=database,
    )
    client = app.test_client()
    for number in range(3):  # unknown accounts count against the address too
        assert "Sign-in refused" in text(login(client, f"n{number}@example.org", "a guess!!!!!"))
    response = login(client, "n3@example.org", "a guess!!!!!")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) <= 60

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)  # a minute later
    assert "Sign-in refused" in text(login(client, "n4@example.org", "a guess!!!!!"))
    response = login(client, "n5@example.org", "a guess!!!!!")
    assert response.status_code == 429  # four failures within the hour
    assert int(response.headers["Retry-After"]) > 50 * 60
    assert "Too many attempts. Try again in 59 minutes." in text(response)


def test_login_without_csrf_token_is_a_400_and_does_nothing(
    client: FlaskClient, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form expired or was not sent from this site" in text(response)
    assert not is_signed_in(client)
    assert session.scalar(select(func.count()).select_from(SecurityEvent)) == 1  # creation only


def test_login_with_a_forged_csrf_token_is_a_400(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client.get("/login")
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert not is_signed_in(client)


def test_logout_is_a_post_with_csrf(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    assert client.get("/logout").status_code == 303  # a reload: to the home page, not a 405
    assert client.post("/logout").status_code == 400  # no token: still signed in
    assert is_signed_in(client)
    logout(client)
    assert not is_signed_in(client)
    assert len(events(session, SecurityEventType.LOGOUT, user)) == 1


def test_session_is_renewed_at_login(client: FlaskClient, session: Session) -> None:
    """Whatever an attacker planted in the pre-login session does not survive sign-in."""
    user = make_user(session, "aung@example.org")
    with client.session_transaction() as cookie_session:
        cookie_session["planted"] = "by someone else"
    sign_in(client, user.email)
    with client.session_transaction() as cookie_session:
        assert "planted" not in cookie_session


# --- open redirects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "https:evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_next_never_leaves_the_site(
    client: FlaskClient, session: Session, target: str
) -> None:
    user = make_user(session, "aung@example.org")
    client.get("/login", query_string={"next": target})
    response = submit(client, "/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    location = response.headers["Location"]
    # Read the way a browser does: tabs and newlines dropped, "\\" taken as "/".
    as_browser = urljoin(
        "http://localhost/login", location.replace("\t", "").replace("\n", "").replace("\\", "/")
    )
    assert urlsplit(as_browser).scheme == "http", location
    assert urlsplit(as_browser).netloc == "localhost", location


def test_login_next_keeps_a_local_path(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client.get("/login", query_string={"next": "/account"})
    response = submit(client, "/login", {"email": user.email, "password": PASSWORD})
    assert location_path(response) == "/account"


def test_protected_page_sends_back_after_login(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    first = client.get("/account")
    assert location_path(first) == "/login"
    client.get(first.headers["Location"])  # the login page remembers where to return
    response = submit(client, "/login", {"email": user.email, "password": PASSWORD})
    assert location_path(response) == "/account"


# --- two-factor sign-in ---------------------------------------------------------------------


def test_totp_enrolment_login_and_replay(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    secret = enrol_totp(client)
    session.refresh(user)
    assert user.totp_enabled
    # Stored encrypted under the KEK (issue 8 item 7), never as the base32 secret.
    assert user.totp_secret_legacy is None
    assert user.totp_secret_wrapped is not None
    assert secret.encode() not in user.totp_secret_wrapped
    assert len(events(session, SecurityEventType.TOTP_ENABLED, user)) == 1
    # The secret was shown once: the enrolment page is gone, the account page hides it.
    assert location_path(client.get("/account/totp")) == "/account"
    assert secret not in text(client.get("/account"))
    logout(client)

    # The password alone does not sign in.
    response = login(client, user.email)
    assert location_path(response) == "/login/totp"
    assert not is_signed_in(client)

    totp = pyotp.TOTP(secret)
    code = totp.at(time.time() + 30)  # the next step: the enrolment used the current one
    response = submit(client, "/login/totp", {"code": other_code(secret, code)})
    assert response.status_code == 422
    assert "That code was not accepted." in text(response)
    assert not is_signed_in(client)
    assert len(events(session, SecurityEventType.TOTP_FAILED, user)) == 1

    response = submit(client, "/login/totp", {"code": code})
    assert location_path(response) == HOME
    assert is_signed_in(client)
    logout(client)

    # The same code, in the same time step, is refused the second time, saying why (issue 11).
    response = login(client, user.email)
    assert location_path(response) == "/login/totp"
    response = submit(client, "/login/totp", {"code": code})
    assert response.status_code == 422
    assert "This code was already used. Wait for the next code (up to 30 s) and enter it." in text(
        response
    )
    assert not is_signed_in(client)
    assert len(events(session, SecurityEventType.TOTP_FAILED, user)) == 2


def test_wrong_codes_are_throttled_not_locked(app: Flask, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client = app.test_client()
    sign_in(client, user.email)
    secret = enrol_totp(client)
    logout(client)
    assert location_path(login(client, user.email, environ_base=ATTACKER)) == "/login/totp"
    for _ in range(5):
        response = submit(
            client, "/login/totp", {"code": other_code(secret)}, environ_base=ATTACKER
        )
        assert "That code was not accepted." in text(response)
    next_code = pyotp.TOTP(secret).at(time.time() + 30)
    response = submit(client, "/login/totp", {"code": next_code}, environ_base=ATTACKER)
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert "Too many attempts." in text(response)
    assert not is_signed_in(client)
    assert events(session, SecurityEventType.TOTP_FAILED, user)[-1].details["reason"] == (
        "throttled"
    )

    owner = app.test_client()  # elsewhere, with both factors: in
    assert location_path(login(owner, user.email, environ_base=OWNER)) == "/login/totp"
    response = submit(owner, "/login/totp", {"code": next_code}, environ_base=OWNER)
    assert location_path(response) == HOME


def test_totp_enrolment_refuses_a_wrong_code(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    page = text(client.get("/account/totp"))
    start = page.index('<code class="secret">') + len('<code class="secret">')
    secret = page[start : page.index("</code>", start)]
    response = submit(client, "/account/totp", {"code": other_code(secret)})
    assert response.status_code == 422
    assert 'class="field invalid"' in text(response)
    session.refresh(user)
    assert not user.totp_enabled
    # The same secret is offered again, so a scanned QR code stays usable.
    assert secret in text(response)


def test_totp_page_without_a_password_step_goes_to_login(client: FlaskClient) -> None:
    assert location_path(client.get("/login/totp")) == "/login"


# --- session endings ------------------------------------------------------------------------


@pytest.fixture
def idle_app(settings: Settings, database: Database) -> Flask:
    return create_app(dataclasses.replace(settings, session_idle_minutes=1), database=database)


def test_idle_session_is_signed_out(idle_app: Flask, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client = idle_app.test_client()
    sign_in(client, user.email)
    with client.session_transaction() as cookie_session:
        cookie_session["seen"] = int(time.time()) - 30
    assert client.get("/cases").status_code == 200  # within the minute: still signed in

    with client.session_transaction() as cookie_session:
        cookie_session["seen"] = int(time.time()) - 120
    response = client.get("/cases")
    assert location_path(response) == "/login"
    page = client.get("/login")
    assert "You were signed out after a period of inactivity." in text(page)
    assert location_path(client.get("/cases")) == "/login"


def test_session_without_a_last_seen_time_is_signed_out(idle_app: Flask, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    client = idle_app.test_client()
    sign_in(client, user.email)
    with client.session_transaction() as cookie_session:
        del cookie_session["seen"]
    assert location_path(client.get("/cases")) == "/login"


def test_password_change_ends_other_sessions_and_keeps_this_one(
    app: Flask, session: Session
) -> None:
    user = make_user(session, "aung@example.org")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, user.email)
    sign_in(elsewhere, user.email)
    new_password = "a brand new passphrase for casefile"

    response = submit(
        here,
        "/account",
        {"pw-current_password": PASSWORD, "pw-new_password": new_password},
        action="/account/password",
    )
    assert location_path(response) == "/account"
    assert "Password changed." in text(here.get("/account"))
    assert is_signed_in(here)
    assert not is_signed_in(elsewhere)
    assert len(events(session, SecurityEventType.PASSWORD_CHANGED, user)) == 1

    assert "Sign-in refused" in text(login(elsewhere, user.email, PASSWORD))
    sign_in(elsewhere, user.email, new_password)


def test_password_change_needs_the_current_password(client: FlaskClient, session: Session) -> None:
    user = make_user(session, "aung@example.org")
    sign_in(client, user.email)
    response = submit(
        client,
        "/account",
        {"pw-current_password": "not my password at all", "pw-new_password": "x" * 20},
        action="/account/password",
    )
    assert response.status_code == 422
    assert "is not your current password" in text(response)
    response = submit(
        client,
        "/account",
        {"pw-current_password": PASSWORD, "pw-new_password": "short"},
        action="/account/password",
    )
    assert "must be at least 12 characters" in text(response)
    assert events(session, SecurityEventType.PASSWORD_CHANGED, user) == []
    logout(client)
    sign_in(client, user.email)


def test_https_login_without_a_referrer_works(app: Flask, session: Session) -> None:
    """Referrer-Policy is no-referrer, so a browser posting the form over https sends no
    Referer header; the sign-in must still work, and the CSRF token is still required."""
    user = make_user(session, "aung@example.org")
    client = app.test_client()
    https = "https://localhost"
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, base_url=https
    )
    assert response.status_code == 400
    response = login(client, user.email, base_url=https)
    assert response.status_code == 303, text(response)
    assert location_path(response) == HOME
    assert client.get("/account", base_url=https).status_code == 200
