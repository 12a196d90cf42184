"""Filings in the browser: a case's filings, the new and edit forms, a filing's page with its
exhibits (add, remove, reorder by drag or by the up and down buttons), its warnings and its
status buttons. The same logic functions as the API (logic/filings)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from casefile import downloads, jobs, request_scope
from casefile.bundle import age
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.logic.evidence import metadata
from casefile.logic.export import jobs as export_jobs
from casefile.logic.filings import exhibits, filings, warnings
from casefile.logic.filings.exhibits import ExhibitInput, ExhibitOrder
from casefile.logic.filings.filings import FilingInput, FilingPatch
from casefile.model import Case, Exhibit, ExportStatus, Filing, FilingStatus
from casefile.web.forms import (
    ExhibitForm,
    ExhibitOrderForm,
    ExportForm,
    FilingForm,
    MoveForm,
    StatusForm,
    classification_choices,
    filing_type_choices,
)
from casefile.web.helpers import show_errors, validate_all
from casefile.web.prg import refused

bp = Blueprint("filings", __name__)
EXPORTS_SHOWN = 20


def _may_edit(case: Case) -> bool:
    user = authz.require_active(request_scope.actor())
    role = authz.role_in_case(request_scope.db_session(), user, case.id)
    return authz.can(role, CaseAction.EDIT_FILINGS)


@bp.get("/cases/<uuid:case_id>/filings")
def list_filings(case_id: uuid.UUID) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    found = filings.list_filings(session, actor, case_id)
    return render_template(
        "filings.html", case=case, filings=found, may_edit=_may_edit(case)
    )


def _choices(form: FilingForm, case: Case) -> None:
    form.type.choices = filing_type_choices(case.forum)
    form.classification.choices = classification_choices()


def _fields(form: FilingForm) -> dict[str, Any]:
    def text(value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    fields: dict[str, Any] = {
        "title": (form.title.data or "").strip(),
        "type": form.type.data,
        "classification": form.classification.data,
        "classification_basis": text(form.classification_basis.data),
        "language": (form.language.data or "").strip(),
        "court_document_number": text(form.court_document_number.data),
        "filing_date": text(form.filing_date.data),
        "exhibit_prefix": text(form.exhibit_prefix.data),
    }
    start = (form.exhibit_start.data or "").strip()
    fields["exhibit_start"] = int(start) if start.isdigit() else start or 1
    return fields


@bp.route("/cases/<uuid:case_id>/filings/new", methods=["GET", "POST"])
def new_filing(case_id: uuid.UUID) -> Response | str | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_FILINGS)
    form = FilingForm()
    _choices(form, case)
    if not form.is_submitted():
        return render_template("filing_form.html", case=case, form=form, filing=None)
    data = validate_all(form, lambda: filings.parse(FilingInput, _fields(form)))
    if data is not None:
        try:
            filing = filings.create_filing(session, actor, case_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        else:
            flash(_("Filing created, as a draft."), "success")
            return redirect(url_for("web.filings.show", filing_id=filing.id))
    return refused(render_template("filing_form.html", case=case, form=form, filing=None))


def _prefill(form: FilingForm, filing: Filing) -> None:
    form.title.data = filing.title
    form.type.data = filing.type.value
    form.classification.data = filing.classification.value
    form.classification_basis.data = filing.classification_basis or ""
    form.language.data = filing.language
    form.court_document_number.data = filing.court_document_number or ""
    form.filing_date.data = filing.filing_date.isoformat() if filing.filing_date else ""
    form.exhibit_prefix.data = filing.exhibit_prefix or ""
    form.exhibit_start.data = str(filing.exhibit_start)


@bp.route("/filings/<uuid:filing_id>/edit", methods=["GET", "POST"])
def edit_filing(filing_id: uuid.UUID) -> Response | str | tuple[str, int]:
    """A draft or final filing is changed; a filed one is saved as its new version."""
    session, actor = request_scope.db_session(), request_scope.actor()
    filing = authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    case = session.get_one(Case, filing.case_id)
    form = FilingForm()
    _choices(form, case)
    if not form.is_submitted():
        _prefill(form, filing)
        return render_template("filing_form.html", case=case, form=form, filing=filing)
    new_version = filing.status == FilingStatus.FILED
    data = validate_all(
        form,
        lambda: filings.parse(FilingPatch, {**_fields(form), "new_version": new_version}),
    )
    if data is not None:
        try:
            updated = filings.update_filing(session, actor, filing_id, data)
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            flash(error.message, "error")
            return redirect(url_for("web.filings.show", filing_id=filing_id))
        else:
            if updated.new_version:
                flash(_("Saved as version %(n)d, a draft.", n=updated.filing.version), "success")
            else:
                flash(_("Filing saved."), "success")
            return redirect(url_for("web.filings.show", filing_id=updated.filing.id))
    return refused(render_template("filing_form.html", case=case, form=form, filing=filing))


def _candidates(case: Case, filing: Filing) -> list[tuple[str, str]]:
    """The case's items the reader may see and the filing does not hold yet: ERN — title."""
    session, keyring = request_scope.db_session(), request_scope.keyring()
    held = {exhibit.evidence_id for exhibit in filing.exhibits}
    query = authz.visible_evidence(session, request_scope.actor(), case.id)
    items = session.scalars(query.order_by("seq"))
    return [
        (str(item.id), f"{item.ern} — {metadata.reveal(keyring, item).title}")
        for item in items
        if item.id not in held and item.status.value == "active"
    ]


def _filing_page(
    filing: Filing,
    exhibit_form: ExhibitForm | None = None,
    export_form: ExportForm | None = None,
) -> str:
    session, keyring = request_scope.db_session(), request_scope.keyring()
    case = session.get_one(Case, filing.case_id)
    may_edit = _may_edit(case) and filing.status != FilingStatus.FILED
    if exhibit_form is None:
        exhibit_form = ExhibitForm(formdata=None)
        exhibit_form.classification.data = filing.classification.value
    exhibit_form.evidence_id.choices = _candidates(case, filing) if may_edit else []
    exhibit_form.classification.choices = classification_choices()
    rows: list[dict[str, Any]] = [
        {
            "exhibit": exhibit,
            "number": exhibits.number(filing, case, exhibit.position),
            "title": metadata.reveal(keyring, exhibit.item).title,
            "description": exhibits.description_of(keyring, exhibit),
        }
        for exhibit in filing.exhibits
    ]
    found = warnings.filing_warnings(
        session, request_scope.actor(), filing.id, store=request_scope.blobs(), keyring=keyring
    )
    filing = authz.authorize_filing(
        session, request_scope.actor(), filing.id, CaseAction.VIEW_EVIDENCE
    )
    exports = (
        export_jobs.list_exports(session, request_scope.actor(), filing.id)[:EXPORTS_SHOWN]
        if _may_edit(case)
        else []
    )
    order_form = ExhibitOrderForm(formdata=None)
    order_form.exhibits_version.data = str(filing.exhibits_version)
    order_form.exhibit_ids.data = ",".join(str(row["exhibit"].id) for row in rows)
    return render_template(
        "filing.html",
        case=case,
        filing=filing,
        rows=rows,
        warnings=found,
        may_edit=may_edit,
        may_change_status=_may_edit(case),
        next_status=sorted(filings.NEXT_STATUS[filing.status]),
        newer=filings.superseded_by(session, filing),
        exhibit_form=exhibit_form,
        order_form=order_form,
        move_form=MoveForm(formdata=None),
        status_form=StatusForm(formdata=None),
        export_form=export_form or ExportForm(formdata=None),
        exports=exports,
        exports_active=any(
            export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) for export in exports
        ),
        export_warnings=export_jobs.warnings_of,
        export_recipients=export_jobs.recipients_of,
    )


@bp.get("/filings/<uuid:filing_id>")
def show(filing_id: uuid.UUID) -> str:
    filing = filings.get_filing(request_scope.db_session(), request_scope.actor(), filing_id)
    return _filing_page(filing)


@bp.post("/filings/<uuid:filing_id>/exhibits")
def add_exhibit(filing_id: uuid.UUID) -> Response | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    filing = authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    form = ExhibitForm()
    case = session.get_one(Case, filing.case_id)
    form.evidence_id.choices = _candidates(case, filing)
    form.classification.choices = classification_choices()

    def parse() -> Any:
        try:
            evidence_id = uuid.UUID(form.evidence_id.data or "")
        except ValueError:
            raise ValidationFailed({"evidence_id": _("Choose an item.")}) from None
        return filings.parse(
            ExhibitInput,
            {
                "evidence_id": evidence_id,
                "classification": form.classification.data or None,
                "description": (form.description.data or "").strip() or None,
            },
        )

    data = validate_all(form, parse)
    if data is not None:
        try:
            exhibit = exhibits.add_exhibit(
                session, actor, filing_id, data, keyring=request_scope.keyring()
            )
        except ValidationFailed as error:
            show_errors(form, error)
        except Conflict as error:
            form.evidence_id.errors = [error.message]
        else:
            flash(_("Exhibit added: %(number)s.", number=_number(exhibit)), "success")
            return redirect(url_for("web.filings.show", filing_id=filing_id))
    filing = filings.get_filing(session, actor, filing_id)
    return refused(_filing_page(filing, form))


def _number(exhibit: Exhibit) -> str:
    session = request_scope.db_session()
    filing = session.get_one(Filing, exhibit.filing_id)
    return exhibits.number(filing, session.get_one(Case, filing.case_id), exhibit.position)


def _back(filing_id: uuid.UUID, action: Any) -> Response:
    """Run a change; its refusal is flashed (these are buttons, with nothing to re-type)."""
    try:
        action()
    except (Conflict, ValidationFailed) as error:
        flash(error.message, "error")
    return redirect(url_for("web.filings.show", filing_id=filing_id))


@bp.post("/filings/<uuid:filing_id>/exhibits/<uuid:exhibit_id>/remove")
def remove_exhibit(filing_id: uuid.UUID, exhibit_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)

    def remove() -> None:
        exhibits.remove_exhibit(session, actor, filing_id, exhibit_id)
        flash(_("Exhibit removed; those after it moved up a number."), "success")

    return _back(filing_id, remove)


@bp.post("/filings/<uuid:filing_id>/exhibits/<uuid:exhibit_id>/move")
def move_exhibit(filing_id: uuid.UUID, exhibit_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    step = -1 if MoveForm().step.data == "-1" else 1

    def move() -> None:
        exhibits.move_exhibit(session, actor, filing_id, exhibit_id, step)
        flash(_("Exhibits renumbered."), "success")

    return _back(filing_id, move)


@bp.post("/filings/<uuid:filing_id>/exhibits/order")
def reorder(filing_id: uuid.UUID) -> Response:
    """The order a drag made (static/filings.js), sent as the whole list of ids."""
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    form = ExhibitOrderForm()

    def put_in_order() -> None:
        try:
            ids = [uuid.UUID(part) for part in (form.exhibit_ids.data or "").split(",") if part]
            version = int(form.exhibits_version.data or "")
        except ValueError:
            raise ValidationFailed({"exhibit_ids": _("The new order could not be read.")}) from None
        order = ExhibitOrder(exhibits_version=version, exhibit_ids=ids)
        exhibits.reorder_exhibits(session, actor, filing_id, order)
        flash(_("Exhibits renumbered."), "success")

    return _back(filing_id, put_in_order)


@bp.post("/filings/<uuid:filing_id>/status")
def change_status(filing_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    wanted = StatusForm().status.data or ""

    def change() -> None:
        patch = filings.parse(FilingPatch, {"status": wanted})
        filings.update_filing(session, actor, filing_id, patch)
        flash(_("Status changed."), "success")

    return _back(filing_id, change)


@bp.post("/filings/<uuid:filing_id>/exports")
def export_filing(filing_id: uuid.UUID) -> Response | tuple[str, int]:
    """The export button: a job queued (the warnings were shown above the button and are
    kept with the export); the page shows its progress."""
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    form = ExportForm()
    if not form.validate():  # the CSRF token, the field's length: the input kept
        return refused(_filing_page(filings.get_filing(session, actor, filing_id),
                                    export_form=form))
    recipients = [line.strip() for line in (form.age_recipients.data or "").splitlines()
                  if line.strip()]

    def start() -> None:
        export = export_jobs.request_export(
            session, actor, filing_id, store=request_scope.blobs(),
            keyring=request_scope.keyring(), age_recipients=recipients,
        )
        session.commit()
        jobs.jobs().enqueue_export(export.id)
        flash(_("Export started. This page shows its progress."), "success")

    try:
        start()
    except ValidationFailed as error:
        if "age_recipients" not in error.fields:
            flash("; ".join(error.fields.values()), "error")
        else:  # a bad key: shown at the field, what was typed kept
            form.age_recipients.errors = [
                _("Each line must be an age public key (age1…, 62 characters), at most "
                  "%(n)d.", n=age.MAX_RECIPIENTS)
            ]
            return refused(_filing_page(filings.get_filing(session, actor, filing_id),
                                        export_form=form))
    except Conflict as error:
        flash(error.message, "error")
    return redirect(url_for("web.filings.show", filing_id=filing_id, _anchor="exports"))


@bp.get("/exports/<uuid:export_id>/download")
def download_export(export_id: uuid.UUID) -> Response:
    """The finished bundle (a zip), decrypted as it streams; a custody entry per exhibit."""
    export, chunks = export_jobs.open_download(
        request_scope.db_session(),
        request_scope.actor(),
        export_id,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
        record=request.method == "GET",
    )
    return downloads.export_response(export, chunks)
