"""Cases and their members."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases, members
from casefile.logic.cases.cases import CaseInput
from casefile.logic.cases.members import MemberInput
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.model import Role
from casefile.web.ern_editor import ern_editor
from casefile.web.forms import CaseForm, EmptyForm, MemberForm, ReasonForm, RoleForm
from casefile.web.helpers import show_errors, validate_all
from casefile.web.prg import refused

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
def new_case() -> Response | str | tuple[str, int]:
    authz.require_active(request_scope.actor())
    form = CaseForm()
    if not form.is_submitted():
        return _new_case_page(form)
    data = validate_all(
        form,
        lambda: CaseInput(
            title=form.title.data or "",
            forum=form.forum.data,
            court=form.court.data,
            reference=form.reference.data,
            ern_pattern=(form.ern_pattern.data or "").strip(),
            languages=(form.languages.data or "").replace(",", " ").split(),
            description=form.description.data,
        ),
    )
    if data is not None:
        try:
            case = cases.create_case(request_scope.db_session(), request_scope.actor(), data)
        except ValidationFailed as error:
            show_errors(form, error)
        else:
            flash(_("Case created."), "success")
            return redirect(url_for("web.cases.show_case", case_id=case.id))
    return refused(_new_case_page(form))


def _new_case_page(form: CaseForm) -> str:
    return render_template("case_new.html", form=form, ern=ern_editor(form.ern_pattern.data))


def case_page(
    case_id: uuid.UUID,
    member_form: MemberForm | None = None,
    hold_form: ReasonForm | None = None,
) -> str:
    """The case page; a refused form (add member, legal hold) shown with its errors."""
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
        hold_form=hold_form or ReasonForm(formdata=None),
    )


@bp.get("/cases/<uuid:case_id>")
def show_case(case_id: uuid.UUID) -> str:
    return case_page(case_id)


@bp.post("/cases/<uuid:case_id>/members")
def add_member(case_id: uuid.UUID) -> Response | tuple[str, int]:
    members.authorize_management(request_scope.db_session(), request_scope.actor(), case_id)
    form = MemberForm()
    data = validate_all(
        form, lambda: MemberInput.model_validate({"email": form.email.data, "role": form.role.data})
    )
    if data is not None:
        try:
            members.add_member(request_scope.db_session(), request_scope.actor(), case_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            form.form_errors.append(error.message)
        else:
            flash(_("Member added."), "success")
            return redirect(url_for("web.cases.show_case", case_id=case_id))
    return refused(case_page(case_id, member_form=form))


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
