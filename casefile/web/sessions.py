"""Browser sessions: flask-login wiring, server-side session records, idle timeout, cookie
flags, security headers, locale."""

from __future__ import annotations

import datetime as dt
import time

from flask import Flask, Response, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import logout_user
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope
from casefile.extensions import babel, csrf, login_manager
from casefile.logic.accounts import login_sessions
from casefile.logic.errors import Forbidden
from casefile.model import User

CSP = "; ".join(  # noqa: FLY002 - one directive a line reads better
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class CookieSessions(SecureCookieSessionInterface):
    """Secure cookies whenever the request itself came over https, not only when configured."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app)) or request.is_secure


def load_user(login_id: str) -> User | None:
    parsed = User.parse_login_id(login_id)
    if parsed is None:
        return None
    user_id, version = parsed
    user = request_scope.db_session().get(User, user_id)
    if user is None or user.is_disabled or user.session_version != version:
        return None
    return user


SESSION_ID = "sid"  # the cookie's key for the server-side session id


def enforce_session() -> None:
    """A signed-in cookie opens nothing unless its server-side session is still active and
    not idle (logic/accounts/login_sessions.py): a copied cookie stops working at sign-out, password
    change, disable or an administrator's "sign out everywhere", and is not refreshed."""
    if request.endpoint == "static" or "_user_id" not in session:
        return
    idle_limit = request_scope.settings().session_idle_minutes * 60
    now = int(time.time())
    seen = session.get("seen")
    idle = not isinstance(seen, int) or now - seen > idle_limit
    parsed = User.parse_login_id(str(session.get("_user_id")))
    record = None
    if parsed is not None:
        record = login_sessions.resume(
            request_scope.db_session(),
            session.get(SESSION_ID),
            parsed[0],
            idle=dt.timedelta(seconds=idle_limit),
            end_as_idle=idle,
        )
    if record is None:
        logout_user()
        session.clear()
        if idle:
            session["expired"] = True
        return
    g.login_session = record
    session["seen"] = now


# What a person signed in with an administrator's temporary password may open: the account
# page (to choose their own password), sign-out, the language choice, and the API's password
# change (with the browser session).
MUST_CHANGE_ALLOWED = frozenset(
    {
        "web.account.overview",
        "web.account.change_password",
        "web.auth.logout",
        "web.auth.language",
        "api.change_my_password",
    }
)


def require_own_password() -> BaseResponse | None:
    """After an administrator's password reset, nothing else opens until the person has
    chosen their own password (logic/accounts/accounts.py, reset_password). A bearer token is
    not this check's business: the reset revoked every token of the account, and a new one is
    made only on the account page, after the change."""
    if request.endpoint == "static" or request.endpoint in MUST_CHANGE_ALLOWED:
        return None
    if request.path.startswith("/api/") and "Authorization" in request.headers:
        return None
    user = request_scope.actor()
    if user is None or not user.password_must_change:
        return None
    if request.path.startswith("/api/"):
        raise Forbidden("choose your own password first: an administrator reset it")
    flash(_("Choose your own password to continue."), "error")
    return redirect(url_for("web.account.overview"))


def security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("X-Frame-Options", "DENY")  # the evidence preview allows its own page
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    if request.is_secure or request_scope.settings().https:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return response


def select_locale() -> str:
    settings = request_scope.settings()
    user = request_scope.actor()
    if user is not None and user.locale in settings.languages:
        return user.locale
    chosen = session.get("locale")
    if isinstance(chosen, str) and chosen in settings.languages:
        return chosen
    return request.accept_languages.best_match(settings.languages) or settings.default_language


def init_app(app: Flask) -> None:
    request_scope.init_app(app)
    app.session_interface = CookieSessions()
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "web.auth.login"
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(enforce_session)
    app.before_request(require_own_password)
    app.after_request(security_headers)
