"""Account administration: instance administrators only; no case content here."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.logic.accounts import accounts, login_sessions
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.web.forms import AccountForm, EmptyForm
from casefile.web.helpers import show_errors, validate_all
from casefile.web.prg import refused

bp = Blueprint("admin", __name__, url_prefix="/admin")
BOTH_FACTORS = _l(
    "One administrator may not reset both the password and the two-factor sign-in of an "
    "account within 7 days: that would hand them the account. The operator can, on the "
    "server (casefile users)."
)


def _page(form: AccountForm | None = None) -> str:
    states = accounts.account_states(
        request_scope.db_session(), request_scope.actor(), throttle=request_scope.throttle()
    )
    return render_template(
        "admin_users.html",
        users=[state.user for state in states],
        locked_until={state.user.id: state.locked_until for state in states if state.locked_until},
        me=request_scope.actor(),
        form=form or AccountForm(formdata=None),
        action_form=EmptyForm(),
    )


@bp.get("/users")
def users() -> str:
    return _page()


@bp.post("/users")
def create_user() -> Response | tuple[str, int]:
    form = AccountForm()
    actor = request_scope.actor()
    accounts.list_accounts(request_scope.db_session(), actor)  # authorizes before anything else
    data = validate_all(
        form,
        lambda: accounts.parse_account_input(
            email=form.email.data or "",
            password=form.password.data or "",
            display_name=form.display_name.data or None,
            is_admin=bool(form.is_admin.data),
        ),
    )
    if data is not None:
        try:
            accounts.create_account(
                request_scope.db_session(),
                actor,
                data,
                min_password_length=request_scope.settings().password_min_length,
                client_address=request_scope.client_address(),
            )
        except ValidationFailed as error:
            show_errors(form, error)
        else:
            flash(_("Account created."), "success")
            return redirect(url_for("web.admin.users"))
    return refused(_page(form))


def _set_disabled(user_id: uuid.UUID, *, disabled: bool) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    user = accounts.get_account(session, actor, user_id)
    try:
        accounts.set_disabled(
            session, actor, user, disabled=disabled, client_address=request_scope.client_address()
        )
    except Conflict:
        if actor is not None and actor.id == user.id:
            flash(_("You cannot disable your own account."), "error")
        else:
            flash(_("This is the last active administrator: make another one first."), "error")
    else:
        flash(_("Account disabled.") if disabled else _("Account enabled."), "success")
    return redirect(url_for("web.admin.users"))


@bp.post("/users/<uuid:user_id>/disable")
def disable_user(user_id: uuid.UUID) -> Response:
    return _set_disabled(user_id, disabled=True)


@bp.post("/users/<uuid:user_id>/enable")
def enable_user(user_id: uuid.UUID) -> Response:
    return _set_disabled(user_id, disabled=False)


@bp.post("/users/<uuid:user_id>/reset-2fa")
def reset_totp(user_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    user = accounts.get_account(session, actor, user_id)
    try:
        accounts.reset_totp(session, actor, user, client_address=request_scope.client_address())
    except Conflict:
        flash(str(BOTH_FACTORS), "error")
    else:
        flash(_("Two-factor sign-in reset; the person can enrol again."), "success")
    return redirect(url_for("web.admin.users"))


@bp.post("/users/<uuid:user_id>/sign-out")
def sign_out_everywhere(user_id: uuid.UUID) -> Response:
    """End every browser session of the account (a lost device, a suspected compromise)."""
    session, actor = request_scope.db_session(), request_scope.actor()
    user = accounts.get_account(session, actor, user_id)
    ended = login_sessions.sign_out_everywhere(
        session, actor, user, client_address=request_scope.client_address()
    )
    flash(
        ngettext(
            "%(num)d session of %(email)s signed out.",
            "%(num)d sessions of %(email)s signed out.",
            ended,
            email=user.email,
        ),
        "success",
    )
    return redirect(url_for("web.admin.users"))


@bp.post("/users/<uuid:user_id>/unlock")
def unlock_user(user_id: uuid.UUID) -> Response:
    """Clear the account's failed sign-in counts (logged)."""
    session, actor = request_scope.db_session(), request_scope.actor()
    user = accounts.get_account(session, actor, user_id)
    accounts.unlock(
        session,
        actor,
        user,
        throttle=request_scope.throttle(),
        client_address=request_scope.client_address(),
    )
    flash(_("Sign-in unlocked for %(email)s.", email=user.email), "success")
    return redirect(url_for("web.admin.users"))


@bp.post("/users/<uuid:user_id>/reset-password")
def reset_password(user_id: uuid.UUID) -> Response | str:
    """A temporary password, shown once to the administrator; the person must choose their
    own at the next sign-in. Their sessions end and their API tokens are revoked."""
    session, actor = request_scope.db_session(), request_scope.actor()
    user = accounts.get_account(session, actor, user_id)
    try:
        temporary = accounts.reset_password(
            session, actor, user, client_address=request_scope.client_address()
        )
    except Conflict:
        if user.is_disabled:
            flash(_("The account is disabled: enable it first."), "error")
        else:
            flash(str(BOTH_FACTORS), "error")
        return redirect(url_for("web.admin.users"))
    return render_template("admin_password_reset.html", user=user, temporary=temporary)
