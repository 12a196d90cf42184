"""Tags in the browser: the case's tags page (leads manage the vocabulary), tagging an item
from its page, bulk actions from the evidence list, and the list as CSV."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope
from casefile.api.tags import csv_response
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.incidents.incidents import get_incident
from casefile.logic.tags import bulk, export, incident_tags, tagging, vocabulary
from casefile.logic.tags.vocabulary import TagChange, TagInput
from casefile.model import Sensitivity, Tag
from casefile.web.evidence import _item_page, _list_page, list_filters
from casefile.web.forms import BulkForm, EvidenceUploadForm, ItemTagForm, TagEditForm, TagForm
from casefile.web.helpers import show_errors
from casefile.web.incidents import _incident_page
from casefile.web.prg import refused

bp = Blueprint("tags", __name__)


# --- the case's tags ---------------------------------------------------------------------------


@bp.get("/cases/<uuid:case_id>/tags")
def tags_page(case_id: uuid.UUID) -> str:
    return _tags_page(case_id)


def _tags_page(
    case_id: uuid.UUID,
    new_form: TagForm | None = None,
    edited: tuple[uuid.UUID, TagEditForm] | None = None,
) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    authz.authorize_case(session, actor, case.id, CaseAction.VIEW_EVIDENCE)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    tags = tagging.visible_tags(session, actor, case.id)
    edit_forms = {tag.id: _edit_form(tag) for tag in tags}
    if edited is not None:
        edit_forms[edited[0]] = edited[1]
    return render_template(
        "tags.html",
        case=case,
        tags=tags,
        is_lead=authz.can(role, CaseAction.MANAGE_TAGS),
        new_form=new_form or TagForm(formdata=None),
        edit_forms=edit_forms,
    )


def _edit_form(tag: Tag) -> TagEditForm:
    form = TagEditForm(formdata=None, prefix=f"tag-{tag.id.hex}")
    form.name.data = tag.name
    form.description.data = tag.description or ""
    form.controlled.data = tag.controlled
    form.retired.data = tag.retired_at is not None
    return form


@bp.post("/cases/<uuid:case_id>/tags")
def create_tag(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    vocabulary.authorize_vocabulary(session, actor, case_id)
    form = TagForm()
    if form.validate_on_submit():
        try:
            data = vocabulary.parse(
                TagInput, {"name": form.name.data, "description": form.description.data}
            )
            tag = vocabulary.create_tag(session, actor, case_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            show_errors(form, ValidationFailed({"name": error.message}))
        else:
            flash(_("Tag “%(name)s” added to the case's vocabulary.", name=tag.name), "success")
            return redirect(url_for("web.tags.tags_page", case_id=case_id))
    return refused(_tags_page(case_id, new_form=form))


@bp.post("/cases/<uuid:case_id>/tags/<uuid:tag_id>")
def change_tag(case_id: uuid.UUID, tag_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    tag = vocabulary.get_tag(session, actor, tag_id, CaseAction.MANAGE_TAGS)
    if tag.case_id != case_id or tag not in tagging.visible_tags(session, actor, case_id):
        raise NotFound("tag not found")
    form = TagEditForm(prefix=f"tag-{tag.id.hex}")
    if form.validate_on_submit():
        try:
            data = vocabulary.parse(
                TagChange,
                {
                    "name": form.name.data,
                    "description": form.description.data or None,
                    "controlled": bool(form.controlled.data),
                    "retired": bool(form.retired.data),
                },
            )
            changed = vocabulary.change_tag(
                session, actor, tag_id, data, keyring=request_scope.keyring()
            )
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            show_errors(form, ValidationFailed({"name": error.message}))
        else:
            flash(_("Tag “%(name)s” saved.", name=changed.name), "success")
            return redirect(url_for("web.tags.tags_page", case_id=case_id))
    return refused(_tags_page(case_id, edited=(tag.id, form)))


# --- one item ----------------------------------------------------------------------------------


@bp.post("/evidence/<uuid:item_id>/tags")
def tag_item(item_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    form = ItemTagForm()
    if form.validate_on_submit():
        try:
            data = tagging.parse_tag_item({"tag": form.tag.data})
            tagging.tag_item(session, actor, item_id, data, keyring=request_scope.keyring())
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            show_errors(form, ValidationFailed({"tag": error.message}))
        else:
            flash(_("Tagged “%(name)s”.", name=data.tag), "success")
            return redirect(url_for("web.evidence.show", item_id=item_id, _anchor="tags-h"))
    return refused(_item_page(item_id, tag_form=form))


@bp.post("/evidence/<uuid:item_id>/tags/<uuid:tag_id>/remove")
def untag_item(item_id: uuid.UUID, tag_id: uuid.UUID) -> BaseResponse:
    """CSRF was checked before the view (CSRFProtect)."""
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    tagging.untag_item(session, actor, item_id, tag_id, keyring=request_scope.keyring())
    flash(_("Tag removed."), "success")
    return redirect(url_for("web.evidence.show", item_id=item_id, _anchor="tags-h"))


# --- one incident -------------------------------------------------------------------------------


@bp.post("/incidents/<uuid:incident_id>/tags")
def tag_incident(incident_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    form = ItemTagForm()
    if form.validate_on_submit():
        try:
            data = tagging.parse_tag_item({"tag": form.tag.data})
            incident_tags.tag_incident(session, actor, incident_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            show_errors(form, ValidationFailed({"tag": error.message}))
        else:
            flash(_("Tagged “%(name)s”.", name=data.tag), "success")
            target = url_for("web.incidents.show", incident_id=incident_id, _anchor="tags-h")
            return redirect(target)
    return refused(_incident_page(incident_id, tag_form=form))


@bp.post("/incidents/<uuid:incident_id>/tags/<uuid:tag_id>/remove")
def untag_incident(incident_id: uuid.UUID, tag_id: uuid.UUID) -> BaseResponse:
    """CSRF was checked before the view (CSRFProtect)."""
    session, actor = request_scope.db_session(), request_scope.actor()
    incident_tags.untag_incident(session, actor, incident_id, tag_id)
    flash(_("Tag removed."), "success")
    return redirect(url_for("web.incidents.show", incident_id=incident_id, _anchor="tags-h"))


# --- bulk actions and CSV from the evidence list ---------------------------------------------

ACTIONS = {
    "tag": {"action": "tag"},
    "untag": {"action": "untag"},
    "restrict": {"action": "set_sensitivity", "sensitivity": Sensitivity.RESTRICTED.value},
    "unrestrict": {"action": "set_sensitivity", "sensitivity": Sensitivity.STANDARD.value},
    "grant": {"action": "grant"},
    "link": {"action": "link_incident"},
}
FILTER_FIELDS = ("kind", "sensitivity", "collector", "since", "until")
# The logic's field → the bulk form's.
BULK_FIELDS = {
    "tag": "tag",
    "email": "person",
    "incident_id": "incident",
    "relation": "relation",
    "note": "note",
}


@bp.post("/cases/<uuid:case_id>/evidence/bulk")
def bulk_action(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    form = BulkForm()
    filters = {name: getattr(form, name).data or "" for name in FILTER_FIELDS}
    filters["tag"] = form.by_tag.data or ""
    if form.validate_on_submit():
        fields = _bulk_fields(form, filters)
        try:
            data = bulk.parse(fields)
            bulk.authorize(session, actor, case_id, bulk.required_action(data))
            result = bulk.apply(session, actor, case_id, data, keyring=request_scope.keyring())
        except ValidationFailed as error:
            _show_bulk_errors(form, error)
        except Conflict as error:
            form.form_errors.append(error.message)
        else:
            changed, unchanged = len(result.changed), len(result.unchanged)
            message = ngettext("%(num)d item changed.", "%(num)d items changed.", changed)
            if unchanged:
                message += " " + ngettext(
                    "%(num)d was already so.", "%(num)d were already so.", unchanged
                )
            if result.derived:
                message += " " + ngettext(
                    "%(num)d item made from them (a translation or a redacted version) was "
                    "restricted with them.",
                    "%(num)d items made from them (translations and redacted versions) were "
                    "restricted with them.",
                    len(result.derived),
                )
            flash(message, "success")
            query = urlencode({name: value for name, value in filters.items() if value})
            target = url_for("web.evidence.list_items", case_id=case_id)
            return redirect(f"{target}?{query}" if query else target)
    args = MultiDict({name: value for name, value in filters.items() if value})
    return refused(
        _list_page(case_id, EvidenceUploadForm(formdata=None), bulk_form=form, args=args)
    )


def _bulk_fields(form: BulkForm, filters: dict[str, str]) -> dict[str, object]:
    fields: dict[str, object] = dict(ACTIONS.get(form.action.data or "", {"action": "?"}))
    if fields["action"] in ("tag", "untag"):
        fields["tag"] = form.tag.data or ""
    if fields["action"] == "grant":
        fields["email"] = form.person.data or ""
    if fields["action"] == "link_incident":
        fields["incident_id"] = form.incident.data or ""
        fields["relation"] = form.relation.data or ""
        if (form.note.data or "").strip():
            fields["note"] = form.note.data
    if form.scope.data == "matching":
        fields["filter"] = {name: value for name, value in filters.items() if value.strip()}
    else:
        fields["ids"] = list(form.ids.data or [])
    return fields


def _show_bulk_errors(form: BulkForm, error: ValidationFailed) -> None:
    on_fields: dict[str, str] = {}
    for name, message in error.fields.items():
        if name in BULK_FIELDS:
            on_fields[BULK_FIELDS[name]] = message
        elif name in ("ids", "body") and not form.ids.data and form.scope.data != "matching":
            form.form_errors.append(_("Select at least one item, or apply to every item that "
                                      "matches the filters."))
        else:
            form.form_errors.append(error.message if name != "body" else message)
    if on_fields:
        show_errors(form, ValidationFailed(on_fields))


@bp.get("/cases/<uuid:case_id>/evidence.csv")
def evidence_csv(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    _, where = list_filters(request.args)
    chunks = export.csv_chunks(session, actor, case_id, where, keyring=request_scope.keyring())
    return csv_response(chunks, f"evidence-{case_id}.csv")
