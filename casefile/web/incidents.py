"""Incidents in the browser: a case's list (filters, the alleged perpetrators), recording
and editing an incident, its page with the items linked to it, linking and unlinking."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.logic.evidence import metadata
from casefile.logic.evidence.editing import StaleVersion
from casefile.logic.frameworks import matrix
from casefile.logic.incidents import incidents, links, listing, perpetrators, places
from casefile.logic.tags import incident_tags, tagging
from casefile.model import Case, Incident
from casefile.web.forms import (
    EmptyForm,
    IncidentFilterForm,
    IncidentForm,
    ItemTagForm,
    LinkForm,
    PerpetratorForm,
)
from casefile.web.helpers import show_errors
from casefile.web.prg import refused

bp = Blueprint("incidents", __name__)

PAGE_SIZE = 50
LOCATION_FIELDS = (*incidents.LOCATION_FIELDS, "lat", "lon")


# --- the form and the logic's input ---------------------------------------------------------


def _text(value: str | None) -> str | None:
    return value if value and value.strip() else None


def form_fields(form: IncidentForm) -> dict[str, Any]:
    """The form's input as the logic layer reads it (it checks and converts the text)."""
    return {
        "title": (form.title.data or "").strip(),
        "narrative": form.narrative.data or None,
        "start_date": _text(form.start_date.data),
        "end_date": _text(form.end_date.data),
        "date_precision": form.date_precision.data,
        "status": form.status.data,
        "categories": list(form.categories.data or []),
        "location": {name: _text(getattr(form, name).data) for name in LOCATION_FIELDS},
        "victims": {
            "count": _text(form.victims_count.data),
            "group": _text(form.victims_group.data),
        },
        "perpetrators": list(form.perpetrators.data or []),
    }


def _on_form(error: ValidationFailed) -> ValidationFailed:
    """The logic's field names ("location.lat", "victims.count", "categories.2") as the
    form's fields; a model-level refusal of the dates goes on the end date."""
    fields: dict[str, str] = {}
    for name, message in error.fields.items():
        parts = name.split(".")
        if parts[0] == "location":
            target = parts[1] if len(parts) > 1 and parts[1] in LOCATION_FIELDS else "lat"
        elif parts[0] == "victims":
            target = f"victims_{parts[1]}" if len(parts) > 1 else "victims_count"
        elif parts[0] == "body":
            target = "end_date"
        else:
            target = parts[0]
        fields.setdefault(target, message)
    return ValidationFailed(fields)


def _prefill(form: IncidentForm, incident: Incident) -> None:
    form.version.data = str(incident.version)
    form.title.data = incident.title
    form.narrative.data = incident.narrative or ""
    form.start_date.data = incident.start_date.isoformat() if incident.start_date else ""
    form.end_date.data = incident.end_date.isoformat() if incident.end_date else ""
    form.date_precision.data = incident.date_precision.value
    form.status.data = incident.status.value
    form.categories.data = [category.value for category in incident.categories]
    for name in LOCATION_FIELDS:
        value = getattr(incident, name)
        getattr(form, name).data = "" if value is None else str(value)
    form.victims_count.data = "" if incident.victims_count is None else str(incident.victims_count)
    form.victims_group.data = incident.victims_group or ""
    form.perpetrators.data = [str(person.id) for person in incident.perpetrators]


def _with_perpetrators(form: IncidentForm, case_id: uuid.UUID) -> IncidentForm:
    named = perpetrators.list_perpetrators(
        request_scope.db_session(), request_scope.actor(), case_id
    )
    form.perpetrators.choices = [(str(person.id), person.name) for person in named]
    return form


def _form_page(case: Case, form: IncidentForm, incident: Incident | None = None) -> str:
    return render_template(
        "incident_form.html",
        case=case,
        form=form,
        incident=incident,
        states=list(places.gazetteer().of_level("state_region")),
    )


# --- the list --------------------------------------------------------------------------------


@bp.get("/cases/<uuid:case_id>/incidents")
def list_incidents(case_id: uuid.UUID) -> str:
    return _list_page(case_id)


def _list_page(case_id: uuid.UUID, perpetrator_form: PerpetratorForm | None = None) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_INCIDENTS)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    filters = IncidentFilterForm(request.args)
    filters.tag.choices = [
        ("", str(_("Any"))),
        *((tag.name, tag.name) for tag in tagging.visible_tags(session, actor, case.id)),
    ]
    filters.validate()
    fields = {
        name: value
        for name, value in (
            ("category", filters.category.data),
            ("status", filters.status.data),
            ("date_from", filters.date_from.data),
            ("date_to", filters.date_to.data),
            ("place", filters.place.data),
            ("tag", filters.tag.data),
        )
        if value
    }
    try:
        where = listing.parse_filters(fields)
    except ValidationFailed as error:
        show_errors(filters, error)
        where = listing.IncidentFilters()
    cursor = request.args.get("cursor") or None
    try:
        page = listing.list_incidents(
            session, actor, case.id, where, limit=PAGE_SIZE, cursor=cursor
        )
    except ValidationFailed:  # a cursor this server did not issue: the first page
        page = listing.list_incidents(session, actor, case.id, where, limit=PAGE_SIZE)
    args: dict[str, Any] = {key: value for key, value in request.args.items() if key != "cursor"}
    here = url_for("web.incidents.list_incidents", case_id=case.id)
    return render_template(
        "incidents_list.html",
        case=case,
        incidents=page.items,
        filters=filters,
        next_url=_with_query(here, {**args, "cursor": page.next_cursor})
        if page.next_cursor
        else None,
        first_url=_with_query(here, args) if cursor else None,
        perpetrators=perpetrators.list_perpetrators(session, actor, case.id),
        perpetrator_form=perpetrator_form or PerpetratorForm(formdata=None),
        can_edit=authz.can(role, CaseAction.EDIT_INCIDENTS),
    )


def _with_query(path: str, args: dict[str, Any]) -> str:
    return f"{path}?{urlencode(args)}" if args else path


@bp.post("/cases/<uuid:case_id>/incidents/perpetrators")
def name_perpetrator(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS)
    form = PerpetratorForm()
    try:
        data = perpetrators.parse_perpetrator(
            {
                "name": (form.name.data or "").strip(),
                "kind": form.kind.data,
                "affiliation": form.affiliation.data or None,
                "description": form.description.data or None,
            }
        )
    except ValidationFailed as error:
        show_errors(form, error)
        return refused(_list_page(case_id, perpetrator_form=form))
    named = perpetrators.name_perpetrator(session, actor, case_id, data)
    if named.created:
        flash(_("%(name)s was added to the alleged perpetrators.", name=data.name), "success")
    else:
        flash(_("%(name)s was already named in this case.", name=named.perpetrator.name),
              "success")
    return redirect(url_for("web.incidents.list_incidents", case_id=case_id,
                            _anchor="perpetrators-h"))


# --- recording and editing -------------------------------------------------------------------


@bp.get("/cases/<uuid:case_id>/incidents/new")
def new_form(case_id: uuid.UUID) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS)
    form = _with_perpetrators(IncidentForm(formdata=None), case.id)
    form.country.data = places.MYANMAR
    return _form_page(case, form)


@bp.post("/cases/<uuid:case_id>/incidents/new")
def create(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS)
    form = _with_perpetrators(IncidentForm(), case.id)
    try:
        incident = incidents.create_incident(
            session, actor, case_id, incidents.parse_input(form_fields(form))
        )
    except ValidationFailed as error:
        session.rollback()
        case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS)
        show_errors(form, _on_form(error))
        return refused(_form_page(case, form))
    flash(_("Incident recorded, and recorded in the chain of custody."), "success")
    return redirect(url_for("web.incidents.show", incident_id=incident.id))


@bp.get("/incidents/<uuid:incident_id>/edit")
def edit_form(incident_id: uuid.UUID) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    incident = incidents.get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    case = cases.get_case(session, actor, incident.case_id)
    form = _with_perpetrators(IncidentForm(formdata=None), case.id)
    _prefill(form, incident)
    return _form_page(case, form, incident)


@bp.post("/incidents/<uuid:incident_id>/edit")
def save(incident_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    incident = incidents.get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    case_id = incident.case_id
    form = _with_perpetrators(IncidentForm(), case_id)
    sent = {**form_fields(form), "version": form.version.data or ""}
    try:
        version = incident.version
        changed = incidents.update_incident(
            session, actor, incident_id, incidents.parse_update(sent)
        )
    except ValidationFailed as error:
        session.rollback()
        show_errors(form, _on_form(error))
        status = 422
    except StaleVersion as error:
        # Someone else's change came first: keep this person's input, take the current
        # version, so that saving again is a decision made knowing it.
        session.rollback()
        form.form_errors.append(error.message)
        status = 409
    else:
        if changed.version == version:
            flash(_("Nothing was changed, so nothing was recorded."), "success")
        else:
            flash(_("Incident saved, and the change recorded in the chain of custody."),
                  "success")
        return redirect(url_for("web.incidents.show", incident_id=incident_id))
    incident = incidents.get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    if status == 409:
        form.version.data = str(incident.version)
    case = cases.get_case(session, actor, case_id)
    return _form_page(case, form, incident), status


# --- the incident's page and its links -------------------------------------------------------


@bp.get("/incidents/<uuid:incident_id>")
def show(incident_id: uuid.UUID) -> str:
    return _incident_page(incident_id)


def _incident_page(
    incident_id: uuid.UUID,
    link_form: LinkForm | None = None,
    tag_form: ItemTagForm | None = None,
) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    incident, shown = listing.read_incident(session, actor, incident_id)
    case = cases.get_case(session, actor, incident.case_id)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    keyring = request_scope.keyring()
    return render_template(
        "incident.html",
        case=case,
        incident=incident,
        links=[(row.link, row.item, metadata.reveal(keyring, row.item)) for row in shown],
        element_links=matrix.elements_of_incident(session, actor, incident.id),
        link_form=link_form or LinkForm(formdata=None),
        unlink_form=EmptyForm(),
        can_edit=authz.can(role, CaseAction.EDIT_INCIDENTS),
        tags=incident_tags.tags_by_incident(session, [incident.id])[incident.id],
        tag_form=tag_form or ItemTagForm(formdata=None),
        untag_form=EmptyForm(),
        vocabulary=[
            tag
            for tag in tagging.visible_tags(session, actor, case.id)
            if tag.controlled and tag.retired_at is None
        ],
    )


@bp.post("/incidents/<uuid:incident_id>/evidence")
def link(incident_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    incidents.get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    form = LinkForm()
    reference = (form.evidence.data or "").strip()
    if not reference:
        form.evidence.errors = [_("Give the ERN of an item of this case.")]
        return refused(_incident_page(incident_id, link_form=form))
    try:
        item_id = links.find_item(session, actor, incident_id, reference)
        data = links.parse_link(
            {"evidence_id": str(item_id), "relation": form.relation.data,
             "note": form.note.data or None}
        )
        links.link_item(session, actor, incident_id, data)
    except ValidationFailed as error:
        session.rollback()
        renamed = {("evidence" if name == "evidence_id" else name): message
                   for name, message in error.fields.items()}
        if renamed.get("evidence") == links.NOT_IN_CASE:
            renamed["evidence"] = _("No item of this case that you may see has this ERN.")
        show_errors(form, ValidationFailed(renamed))
        return refused(_incident_page(incident_id, link_form=form))
    except Conflict as error:
        session.rollback()
        form.form_errors.append(error.message)
        return _incident_page(incident_id, link_form=form), 409
    flash(_("Item linked, and the link recorded in its chain of custody."), "success")
    return redirect(url_for("web.incidents.show", incident_id=incident_id, _anchor="links-h"))


@bp.post("/incidents/<uuid:incident_id>/evidence/<uuid:link_id>/remove")
def unlink(incident_id: uuid.UUID, link_id: uuid.UUID) -> BaseResponse:
    links.unlink_item(request_scope.db_session(), request_scope.actor(), incident_id, link_id)
    flash(_("Link removed, and the removal recorded in the item's chain of custody."), "success")
    return redirect(url_for("web.incidents.show", incident_id=incident_id, _anchor="links-h"))
