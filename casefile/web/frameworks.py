"""Charges, the proof matrix (page, CSV and PDF) and, for administrators, loading frameworks."""

from __future__ import annotations

import csv
import io
import threading
import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.documents import proof_matrix_pdf
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases
from casefile.logic.errors import Busy, Conflict, ValidationFailed
from casefile.logic.frameworks import charges, links, matrix, registry
from casefile.logic.frameworks.charges import ChargeInput
from casefile.logic.frameworks.document import FrameworkFileError
from casefile.logic.frameworks.links import ProofLinkChange, ProofLinkInput
from casefile.model import Evidence, Incident, Strength
from casefile.web.forms import (
    ChargeForm,
    EmptyForm,
    FrameworkUploadForm,
    ProofLinkChangeForm,
    ProofLinkForm,
    forum_choices,
)
from casefile.web.helpers import attachment, show_errors, validate_all
from casefile.web.labels import strength_label
from casefile.web.prg import refused

bp = Blueprint("frameworks", __name__)
admin_bp = Blueprint("admin_frameworks", __name__, url_prefix="/admin")


# --- charges ----------------------------------------------------------------------------------


def _crime_choices() -> dict[str, list[tuple[str, str]]]:
    """Every crime and mode of liability of the newest frameworks, grouped by framework and
    article (an <optgroup> each)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for framework in registry.latest_versions(request_scope.db_session()):
        for part, crimes in framework.grouped():
            label = f"{framework.title}: {part.title}"
            groups[label] = [(f"{framework.id}|{c.id}", f"{c.id} {c.title}") for c in crimes]
    return groups


def _charges_page(form: ChargeForm | None = None) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case_id: uuid.UUID = (request.view_args or {})["case_id"]
    case = cases.get_case(session, actor, case_id)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    rows = [
        (c, *charges.described(session, c)) for c in charges.list_charges(session, actor, case.id)
    ]
    form = form or ChargeForm(formdata=None)
    form.crime.choices = _crime_choices()
    return render_template(
        "charges.html",
        case=case,
        rows=rows,
        form=form,
        action_form=EmptyForm(),
        can_charge=authz.can(role, CaseAction.MANAGE_CHARGES),
    )


@bp.get("/cases/<uuid:case_id>/charges")
def list_charges(case_id: uuid.UUID) -> str:
    del case_id
    return _charges_page()


@bp.post("/cases/<uuid:case_id>/charges")
def add_charge(case_id: uuid.UUID) -> Response | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    charges.authorize_charging(session, actor, case_id)
    form = ChargeForm()
    framework, _sep, crime = (form.crime.data or "").partition("|")
    data = validate_all(form, lambda: ChargeInput(framework=framework, crime=crime))
    if data is not None:
        try:
            charges.add_charge(session, actor, case_id, data)
        except ValidationFailed as error:
            form.crime.errors = list(error.fields.values())
        except Conflict as error:
            form.crime.errors = [error.message]
        else:
            flash(_("Charge added."), "success")
            return redirect(url_for("web.frameworks.list_charges", case_id=case_id))
    return refused(_charges_page(form))


@bp.post("/cases/<uuid:case_id>/charges/<uuid:charge_id>/remove")
def remove_charge(case_id: uuid.UUID, charge_id: uuid.UUID) -> Response:
    form = EmptyForm()
    charges.authorize_charging(request_scope.db_session(), request_scope.actor(), case_id)
    if form.validate_on_submit():
        charges.remove_charge(request_scope.db_session(), request_scope.actor(), case_id, charge_id)
        flash(_("Charge removed, with its proof links."), "success")
    return redirect(url_for("web.frameworks.list_charges", case_id=case_id))


# --- the proof matrix -------------------------------------------------------------------------


def _element_choices(built: matrix.Matrix) -> dict[str, list[tuple[str, str]]]:
    return {
        f"{row.crime.id} {row.crime.title}": [
            (f"{row.charge.id}|{cell.element.id}", f"{cell.element.id}: {cell.element.text[:90]}")
            for cell in row.elements
        ]
        for row in built.rows
    }


PDF_AT_ONCE = threading.BoundedSemaphore(1)
PDF_WAIT_SECONDS = 10.0
# Links shown per element; the rest behind "Show all" (the CSV, PDF and API have them all).
SHOWN_LINKS = 25


def _matrix_page(case_id: uuid.UUID, form: ProofLinkForm | None = None) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    built = matrix.build(session, actor, case_id)
    role = authz.role_in_case(session, authz.require_active(actor), built.case.id)
    can_link = authz.can(role, CaseAction.LINK_PROOF)
    if form is None:
        form = ProofLinkForm(formdata=None, element=request.args.get("element", ""))
    form.element.choices = _element_choices(built)
    form.incident.choices = [("", _("None: the item above"))] + [
        (str(incident.id), incident.title)
        for incident in session.scalars(
            select(Incident).where(Incident.case_id == built.case.id).order_by(Incident.title)
        )
    ]
    # Each link has two addresses: built from their prefix, not with url_for per link (10,000
    # links would cost half a second in url_for alone).
    zero = uuid.UUID(int=0)
    return render_template(
        "proof_matrix.html",
        case=built.case,
        matrix=built,
        form=form,
        can_link=can_link,
        strengths={s.value: strength_label(s.value) for s in Strength},
        item_url=url_for("web.evidence.show", item_id=zero).removesuffix(str(zero)),
        incident_url=url_for("web.incidents.show", incident_id=zero).removesuffix(str(zero)),
        link_url=url_for("web.frameworks.show_link", case_id=built.case.id, link_id=zero)
        .removesuffix(str(zero)),
        here=url_for("web.frameworks.proof_matrix", case_id=built.case.id),
        shown_links=SHOWN_LINKS,
        expand=request.args.get("expand", ""),
    )


@bp.get("/cases/<uuid:case_id>/proof-matrix")
def proof_matrix(case_id: uuid.UUID) -> str:
    return _matrix_page(case_id)


def _item_by_ern(case_id: uuid.UUID, ern: str) -> uuid.UUID:
    """The id of the item of the case with this ERN that the actor may see."""
    session, actor = request_scope.db_session(), request_scope.actor()
    found: uuid.UUID | None = session.scalar(
        authz.visible_evidence(session, actor, case_id)
        .where(Evidence.ern == ern.strip())
        .with_only_columns(Evidence.id)
    )
    if found is None:
        raise ValidationFailed({"ern": _("No item of this case has this ERN.")})
    return found


@bp.post("/cases/<uuid:case_id>/proof-matrix/links")
def add_link(case_id: uuid.UUID) -> Response | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    links.authorize_linking(session, actor, case_id)
    form = ProofLinkForm()
    charge_id, _sep, element = (form.element.data or "").partition("|")

    def parse() -> ProofLinkInput:
        ern, incident = (form.ern.data or "").strip(), form.incident.data or None
        if bool(ern) == bool(incident):
            raise ValidationFailed({"ern": _("Give an item's ERN, or choose an incident.")})
        return ProofLinkInput.model_validate(
            {
                "charge_id": charge_id or None,
                "element": element,
                "evidence_id": _item_by_ern(case_id, ern) if ern else None,
                "incident_id": incident,
                "strength": form.strength.data,
                "note": form.note.data or "",
            }
        )

    data = validate_all(form, parse)
    if data is not None:
        try:
            links.add_link(session, actor, case_id, data)
        except ValidationFailed as error:
            show_errors(form, _web_fields(error))
        except Conflict as error:
            form.form_errors.append(error.message)
        else:
            flash(_("Link added."), "success")
            return redirect(url_for("web.frameworks.proof_matrix", case_id=case_id))
    return refused(_matrix_page(case_id, form))


def _web_fields(error: ValidationFailed) -> ValidationFailed:
    """The logic's field names as the form's (the form names the item by its ERN)."""
    names = {"evidence_id": "ern", "charge_id": "element", "incident_id": "incident"}
    return ValidationFailed({names.get(k, k): v for k, v in error.fields.items()})


def _link_page(case_id: uuid.UUID, link_id: uuid.UUID, form: ProofLinkChangeForm | None) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = links.authorize_linking(session, actor, case_id)
    link, target = links.visible_link(session, actor, case, link_id)
    charge = charges.charge_of_case(session, case.id, link.charge_id)
    framework, crime = charges.described(session, charge)
    if form is None:
        form = ProofLinkChangeForm(formdata=None, strength=link.strength.value, note=link.note)
    return render_template(
        "proof_link.html",
        case=case,
        link=link,
        target=target,
        framework=framework,
        crime=crime,
        element=crime.element(link.element_id),
        form=form,
        action_form=EmptyForm(),
    )


@bp.get("/cases/<uuid:case_id>/proof-matrix/links/<uuid:link_id>")
def show_link(case_id: uuid.UUID, link_id: uuid.UUID) -> str:
    return _link_page(case_id, link_id, None)


@bp.post("/cases/<uuid:case_id>/proof-matrix/links/<uuid:link_id>")
def change_link(case_id: uuid.UUID, link_id: uuid.UUID) -> Response | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    links.authorize_linking(session, actor, case_id)
    form = ProofLinkChangeForm()
    data = validate_all(
        form,
        lambda: ProofLinkChange.model_validate(
            {"strength": form.strength.data, "note": form.note.data or ""}
        ),
    )
    if data is not None:
        try:
            links.change_link(session, actor, case_id, link_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        else:
            flash(_("Link saved."), "success")
            return redirect(url_for("web.frameworks.proof_matrix", case_id=case_id))
    return refused(_link_page(case_id, link_id, form))


@bp.post("/cases/<uuid:case_id>/proof-matrix/links/<uuid:link_id>/remove")
def remove_link(case_id: uuid.UUID, link_id: uuid.UUID) -> Response:
    links.authorize_linking(request_scope.db_session(), request_scope.actor(), case_id)
    if EmptyForm().validate_on_submit():
        links.remove_link(request_scope.db_session(), request_scope.actor(), case_id, link_id)
        flash(_("Link removed."), "success")
    return redirect(url_for("web.frameworks.proof_matrix", case_id=case_id))


CSV_COLUMNS = (
    "framework",
    "version",
    "crime",
    "crime_title",
    "element",
    "element_kind",
    "element_text",
    "cites",
    "gap",
    "ern",
    "item_title",
    "strength",
    "note",
)


def _csv_cell(value: object) -> str:
    """A cell as text, never a formula a spreadsheet would run (=, +, -, @ first)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/cases/<uuid:case_id>/proof-matrix.csv")
def matrix_csv(case_id: uuid.UUID) -> Response:
    built = matrix.build(request_scope.db_session(), request_scope.actor(), case_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in built.rows:
        for cell in row.elements:
            base = [
                row.framework.id,
                row.framework.version,
                row.crime.id,
                row.crime.title,
                cell.element.id,
                cell.element.kind,
                cell.element.text,
                cell.element.cites,
                "yes" if cell.gap else "no",
            ]
            if not cell.links:
                writer.writerow([_csv_cell(v) for v in [*base, "", "", "", ""]])
            for link in cell.links:
                values = [*base, link.ern or "", link.title, link.strength.value, link.note]
                writer.writerow([_csv_cell(v) for v in values])
    # A byte order mark, so that a spreadsheet opens Burmese text as UTF-8.
    return attachment("\ufeff" + out.getvalue(), "text/csv", f"proof-matrix-{case_id}.csv")


@bp.get("/cases/<uuid:case_id>/proof-matrix.pdf")
def matrix_pdf(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    built = matrix.build(session, actor, case_id)
    case = built.case
    forum_value = case.forum.value
    session.commit()  # a read, ended: no transaction stays open while the PDF is laid out
    # A matrix of 10,000 links takes WeasyPrint tens of seconds (bench/README.md): one PDF
    # at a time per process; another request waits a moment, then is told to come back (503).
    if not PDF_AT_ONCE.acquire(timeout=PDF_WAIT_SECONDS):
        raise Busy("another proof matrix PDF is being made; ask again in a moment")
    try:
        with force_locale("en"):  # the court's working language; titles and notes as written
            forum = dict(forum_choices()).get(forum_value)
            pdf = proof_matrix_pdf.render(built, forum=forum)
    finally:
        PDF_AT_ONCE.release()
    return attachment(pdf, "application/pdf", f"proof-matrix-{case_id}.pdf")


# --- administrators: frameworks -----------------------------------------------------------------


def _frameworks_page(form: FrameworkUploadForm | None = None) -> str:
    authz.require_admin(request_scope.actor())
    return render_template(
        "admin_frameworks.html",
        versions=registry.versions(request_scope.db_session()),
        form=form or FrameworkUploadForm(formdata=None),
    )


@admin_bp.get("/frameworks")
def frameworks() -> str:
    return _frameworks_page()


@admin_bp.post("/frameworks")
def load() -> Response | tuple[str, int]:
    authz.require_admin(request_scope.actor())
    form = FrameworkUploadForm()
    if form.validate_on_submit():
        data = form.file.data.read()
        try:
            framework = registry.load(request_scope.db_session(), request_scope.actor(), data)
        except (FrameworkFileError, Conflict) as error:
            form.file.errors = [error.message]
        else:
            flash(
                _(
                    "Loaded %(title)s, version %(version)s.",
                    title=framework.title,
                    version=framework.version,
                ),
                "success",
            )
            return redirect(url_for("web.admin_frameworks.frameworks"))
    return refused(_frameworks_page(form))
