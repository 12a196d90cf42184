"""Sign in (password, then TOTP if enrolled), sign out, language choice."""

from __future__ import annotations

import math
import time
import uuid

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.logic.accounts import accounts, login, login_sessions
from casefile.logic.errors import AccountLocked, CodeAlreadyUsed, LoginRefused, TooManyAttempts
from casefile.model import User
from casefile.web.forms import LanguageForm, LoginForm, TotpForm
from casefile.web.helpers import safe_next
from casefile.web.prg import refused
from casefile.web.sessions import SESSION_ID

bp = Blueprint("auth", __name__)
PENDING = "pending_totp"
PENDING_SECONDS = 300


Throttled = tuple[str, int, dict[str, str]]


def _too_many(error: TooManyAttempts, form: FlaskForm, template: str) -> Throttled:
    """429 with Retry-After, the form shown again with how long to wait."""
    minutes = math.ceil(error.retry_after / 60)
    flash(
        ngettext(
            "Too many attempts. Try again in %(num)d minute.",
            "Too many attempts. Try again in %(num)d minutes.",
            minutes,
        ),
        "error",
    )
    page = render_template(template, form=form)
    return page, 429, {"Retry-After": str(error.retry_after)}


def _locked(error: AccountLocked, form: FlaskForm) -> Throttled:
    """The right password while the account is locked: its owner is told until when."""
    flash(
        _(
            "This account is locked until %(time)s UTC after too many failed attempts.",
            time=error.until.strftime("%H:%M"),
        ),
        "error",
    )
    page = render_template("login.html", form=form)
    return page, 429, {"Retry-After": str(error.retry_after)}


def _finish(user_id: uuid.UUID) -> Response:
    user = request_scope.db_session().get(User, user_id)
    if user is None:
        return redirect(url_for("web.auth.login"))
    next_url = safe_next(session.pop("next", None), url_for("web.cases.index"))
    locale = session.get("locale")
    session.clear()
    if locale is not None:  # a language chosen before signing in stays chosen
        session["locale"] = locale
    login_user(user)
    started = login_sessions.start(
        request_scope.db_session(),
        user,
        client_address=request_scope.client_address(),
        user_agent=request.user_agent.string,
        replaces=request_scope.login_session(),
    )
    session[SESSION_ID] = started.token
    session["seen"] = int(time.time())
    return redirect(next_url)


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
def login_page() -> Response | str | tuple[str, int] | Throttled:
    form = LoginForm()
    if request.method == "GET" and request.args.get("next"):
        session["next"] = request.args["next"]
    if session.pop("expired", False):
        flash(_("You were signed out after a period of inactivity."), "info")
    if form.validate_on_submit():
        try:
            accepted = login.check_password(
                request_scope.db_session(),
                form.email.data or "",
                form.password.data or "",
                throttle=request_scope.throttle(),
                client_address=request_scope.client_address(),
            )
        except AccountLocked as error:
            return _locked(error, form)
        except TooManyAttempts as error:
            return _too_many(error, form, "login.html")
        except LoginRefused:
            flash(
                _(
                    "Sign-in refused: check your email and password. After repeated "
                    "failures, sign-in from your address is slowed down for a while."
                ),
                "error",
            )
        else:
            if not accepted.needs_totp:
                return _finish(accepted.user.id)
            session[PENDING] = {"user": str(accepted.user.id), "at": int(time.time())}
            return redirect(url_for("web.auth.totp"))
    page = render_template("login.html", form=form)
    return refused(page) if form.is_submitted() else page


@bp.route("/login/totp", methods=["GET", "POST"])
def totp() -> Response | str | tuple[str, int] | Throttled:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        return redirect(url_for("web.auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        try:
            accepted = login.check_totp(
                request_scope.db_session(),
                uuid.UUID(pending["user"]),
                form.code.data or "",
                throttle=request_scope.throttle(),
                keyring=request_scope.keyring(),
                client_address=request_scope.client_address(),
            )
        except TooManyAttempts as error:
            return _too_many(error, form, "totp.html")
        except CodeAlreadyUsed:
            flash(
                _("This code was already used. Wait for the next code (up to 30 s) and enter it."),
                "error",
            )
        except LoginRefused:
            flash(_("That code was not accepted."), "error")
        else:
            response = _finish(accepted.user.id)
            if accepted.recovery_codes_left is not None:
                flash(
                    ngettext(
                        "You signed in with a recovery code. %(num)d recovery code is left.",
                        "You signed in with a recovery code. %(num)d recovery codes are left.",
                        accepted.recovery_codes_left,
                    ),
                    "info" if accepted.recovery_codes_left else "error",
                )
            return response
    page = render_template("totp.html", form=form)
    return refused(page) if form.is_submitted() else page


@bp.post("/logout")
def logout() -> Response:
    user = request_scope.actor()
    record = request_scope.login_session()
    if user is not None and record is not None:
        login_sessions.end(
            request_scope.db_session(),
            record,
            user=user,
            client_address=request_scope.client_address(),
        )
    locale = (user.locale if user is not None else None) or session.get("locale")
    logout_user()
    session.clear()
    if locale is not None:  # the signed-out pages stay in the language the person uses
        session["locale"] = locale
    flash(_("You are signed out."), "info")
    return redirect(url_for("web.auth.login"))


@bp.post("/language")
def language() -> Response:
    form = LanguageForm()
    locale = form.locale.data or ""
    user = request_scope.actor()
    if locale not in accounts.SUPPORTED_LOCALES:
        flash(_("That language is not available."), "error")
    else:
        if user is not None:
            accounts.set_locale(request_scope.db_session(), user, locale)
        session["locale"] = locale
    # Referrer-Policy is no-referrer, so the form says where it was posted from.
    return redirect(safe_next(form.next.data, url_for("web.cases.index")))
