"""My account: password, sessions, two-factor sign-in, API tokens."""

from __future__ import annotations

import base64
import io
import uuid

import qrcode
import qrcode.image.svg
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_user
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.accounts import accounts, login_sessions, tokens
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.model import User
from casefile.web.forms import (
    EmptyForm,
    PasswordChangeForm,
    RecoveryCodesForm,
    TokenForm,
    TotpDisableForm,
    TotpEnableForm,
)
from casefile.web.helpers import show_errors
from casefile.web.prg import refused

bp = Blueprint("account", __name__, url_prefix="/account")


def _me() -> User:
    return authz.require_active(request_scope.actor())


def _page(**forms: object) -> str:
    user = _me()
    defaults: dict[str, object] = {
        "password_form": PasswordChangeForm(prefix="pw"),
        "totp_disable_form": TotpDisableForm(prefix="totp"),
        "token_form": TokenForm(prefix="token"),
        "revoke_form": EmptyForm(),
        "recovery_form": RecoveryCodesForm(prefix="recovery"),
    }
    defaults.update(forms)
    db = request_scope.db_session()
    token_list = tokens.list_tokens(db, user)
    current = request_scope.login_session()
    return render_template(
        "account.html",
        user=user,
        tokens=token_list,
        sessions=login_sessions.active_sessions(db, user),
        current_session_id=current.id if current is not None else None,
        recovery_codes_left=accounts.recovery_codes_left(db, user) if user.totp_enabled else None,
        **defaults,
    )


@bp.get("")
def overview() -> str:
    return _page()


@bp.post("/password")
def change_password() -> Response | tuple[str, int]:
    user = _me()
    form = PasswordChangeForm(prefix="pw")
    if not form.validate_on_submit():
        return refused(_page(password_form=form))
    try:
        accounts.change_password(
            request_scope.db_session(),
            user,
            current_password=form.current_password.data or "",
            new_password=form.new_password.data or "",
            min_password_length=request_scope.settings().password_min_length,
            revoke_tokens=bool(form.revoke_tokens.data),
            keep_session=current.id if (current := request_scope.login_session()) else None,
            client_address=request_scope.client_address(),
            throttle=request_scope.throttle(),
        )
    except ValidationFailed as error:
        show_errors(form, error)
        return refused(_page(password_form=form))
    login_user(user)  # the session version changed: keep this session, end the others
    flash(_("Password changed. Other sessions have been signed out."), "success")
    if form.revoke_tokens.data:
        flash(_("Your API tokens have been revoked."), "success")
    return redirect(url_for("web.account.overview"))


@bp.post("/sessions/end-others")
def end_other_sessions() -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.account.overview"))
    current = request_scope.login_session()
    ended = login_sessions.sign_out_others(
        request_scope.db_session(),
        _me(),
        current.id if current is not None else None,
        client_address=request_scope.client_address(),
    )
    flash(
        ngettext(
            "%(num)d other session signed out.", "%(num)d other sessions signed out.", ended
        ),
        "success",
    )
    return redirect(url_for("web.account.overview"))


def _qr_data_uri(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@bp.route("/totp", methods=["GET", "POST"])
def enrol_totp() -> Response | str | tuple[str, int]:
    """The secret being enrolled is kept sealed on this sign-in's server-side session record
    (not in the cookie, which is signed but readable): the same on every reload until
    enrolment completes or is cancelled."""
    user = _me()
    record = request_scope.login_session()
    if user.totp_enabled or record is None:
        return redirect(url_for("web.account.overview"))
    form = TotpEnableForm()
    db = request_scope.db_session()
    secret = accounts.pending_totp_secret(db, user, record, keyring=request_scope.keyring())
    if form.validate_on_submit():
        try:
            codes = accounts.enable_totp(
                db,
                user,
                secret=secret,
                code=form.code.data or "",
                keyring=request_scope.keyring(),
                client_address=request_scope.client_address(),
                pending=record,
            )
        except ValidationFailed as error:
            show_errors(form, error)
        else:
            flash(_("Two-factor sign-in is on."), "success")
            return render_template("recovery_codes.html", codes=codes)
    uri = accounts.totp_uri(user, secret)
    page = render_template(
        "totp_enrol.html",
        form=form,
        secret=secret,
        qr=_qr_data_uri(uri),
        uri=uri,
        cancel_form=EmptyForm(),
    )
    return refused(page) if form.is_submitted() else page


@bp.post("/totp/cancel")
def cancel_totp_enrolment() -> Response:
    user = _me()
    form = EmptyForm()
    record = request_scope.login_session()
    if form.validate_on_submit() and record is not None:
        accounts.cancel_totp_enrolment(request_scope.db_session(), user, record)
        flash(_("Two-factor enrolment cancelled."), "info")
    return redirect(url_for("web.account.overview"))


@bp.post("/totp/recovery-codes")
def regenerate_recovery_codes() -> Response | str | tuple[str, int]:
    user = _me()
    form = RecoveryCodesForm(prefix="recovery")
    if not form.validate_on_submit():
        return refused(_page(recovery_form=form))
    try:
        codes = accounts.regenerate_recovery_codes(
            request_scope.db_session(),
            user,
            password=form.password.data or "",
            client_address=request_scope.client_address(),
            throttle=request_scope.throttle(),
        )
    except ValidationFailed as error:
        show_errors(form, error)
        return refused(_page(recovery_form=form))
    except Conflict:
        return redirect(url_for("web.account.overview"))
    flash(_("New recovery codes made; the old ones no longer work."), "success")
    return render_template("recovery_codes.html", codes=codes)


@bp.post("/totp/disable")
def disable_totp() -> Response | tuple[str, int]:
    user = _me()
    form = TotpDisableForm(prefix="totp")
    if not form.validate_on_submit():
        return refused(_page(totp_disable_form=form))
    try:
        accounts.disable_totp(
            request_scope.db_session(),
            user,
            password=form.password.data or "",
            client_address=request_scope.client_address(),
            throttle=request_scope.throttle(),
        )
    except ValidationFailed as error:
        show_errors(form, error)
        return refused(_page(totp_disable_form=form))
    flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("web.account.overview"))


@bp.post("/tokens")
def create_token() -> str | tuple[str, int]:
    user = _me()
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        return refused(_page(token_form=form))
    try:
        token, plaintext = tokens.create_token(
            request_scope.db_session(),
            user,
            name=form.name.data or "",
            days=form.days.data or request_scope.settings().api_token_days,
            client_address=request_scope.client_address(),
        )
    except ValidationFailed as error:
        show_errors(form, error)
        return refused(_page(token_form=form))
    return render_template("token_created.html", token=token, plaintext=plaintext)


@bp.post("/tokens/<uuid:token_id>/revoke")
def revoke_token(token_id: uuid.UUID) -> Response:
    tokens.revoke_token(
        request_scope.db_session(),
        _me(),
        token_id,
        client_address=request_scope.client_address(),
    )
    flash(_("Token revoked."), "success")
    return redirect(url_for("web.account.overview"))
