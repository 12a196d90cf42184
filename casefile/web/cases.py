"""Cases and their members."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import ValidationError
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases, members
from casefile.logic.cases.cases import CaseInput
from casefile.logic.cases.members import MemberInput
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.model import Role
from casefile.web.forms import CaseForm, EmptyForm, MemberForm, ReasonForm, RoleForm
from casefile.web.helpers import show_errors

bp = Blueprint("cases", __name__)


@bp.get("/")
def index() -> Response:
    authz.require_active(request_scope.actor())
    return redirect(url_for("web.cases.list_cases"))


@bp.get("/cases")
def list_cases() -> str:
    page = cases.list_cases(
        request_scope.db_session(),
        request_scope.actor(),
        limit=50,
        cursor=request.args.get("cursor") or None,
    )
    return render_template("cases.html", page=page)


@bp.route("/cases/new", methods=["GET", "POST"])
def new_case() -> Response | str:
    authz.require_active(request_scope.actor())
    form = CaseForm()
    if form.validate_on_submit():
        try:
            data = CaseInput(
                title=form.title.data or "",
                forum=form.forum.data,
                court=form.court.data,
                reference=form.reference.data,
                ern_pattern=(form.ern_pattern.data or "").strip(),
                languages=(form.languages.data or "").replace(",", " ").split(),
                description=form.description.data,
            )
            case = cases.create_case(request_scope.db_session(), request_scope.actor(), data)
        except ValidationError as error:
            show_errors(form, ValidationFailed.from_pydantic(error))
        else:
            flash(_("Case created."), "success")
            return redirect(url_for("web.cases.show_case", case_id=case.id))
    return render_template("case_new.html", form=form)


def _case_page(case_id: uuid.UUID, member_form: MemberForm | None = None) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    return render_template(
        "case.html",
        case=case,
        my_role=role,
        can_manage=authz.can(role, CaseAction.MANAGE_MEMBERS),
        member_form=member_form or MemberForm(formdata=None, role=Role.VIEWER.value),
        role_form=RoleForm(formdata=None),
        action_form=EmptyForm(),
        hold_form=ReasonForm(formdata=None),
    )


@bp.get("/cases/<uuid:case_id>")
def show_case(case_id: uuid.UUID) -> str:
    return _case_page(case_id)


@bp.post("/cases/<uuid:case_id>/members")
def add_member(case_id: uuid.UUID) -> Response | str:
    members.authorize_management(request_scope.db_session(), request_scope.actor(), case_id)
    form = MemberForm()
    if form.validate_on_submit():
        try:
            data = MemberInput(email=form.email.data or "", role=Role(form.role.data))
            members.add_member(request_scope.db_session(), request_scope.actor(), case_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            form.form_errors.append(error.message)
        else:
            flash(_("Member added."), "success")
            return redirect(url_for("web.cases.show_case", case_id=case_id))
    return _case_page(case_id, member_form=form)


@bp.post("/cases/<uuid:case_id>/members/<uuid:user_id>/role")
def change_role(case_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    members.authorize_management(request_scope.db_session(), request_scope.actor(), case_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            members.change_role(
                request_scope.db_session(),
                request_scope.actor(),
                case_id,
                user_id,
                Role(form.role.data),
            )
            flash(_("Role changed."), "success")
        except Conflict:
            flash(_("A case must keep at least one lead; make someone else lead first."), "error")
    return redirect(url_for("web.cases.show_case", case_id=case_id))


@bp.post("/cases/<uuid:case_id>/members/<uuid:user_id>/remove")
def remove_member(case_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    try:
        members.remove_member(request_scope.db_session(), request_scope.actor(), case_id, user_id)
        flash(_("Member removed."), "success")
    except Conflict:
        flash(_("A case must keep at least one lead; make someone else lead first."), "error")
    return redirect(url_for("web.cases.show_case", case_id=case_id))
