"""A case's custody log in the browser: activity with filters, verification, reports,
transfers of physical custody."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope
from casefile.documents import custody_report_pdf
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import reports as custody_reports
from casefile.logic.custody import transfers
from casefile.logic.custody.redaction import RedactedEntry
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import listing
from casefile.model import CustodyAction
from casefile.web.forms import ActivityFilterForm, EmptyForm, TransferForm
from casefile.web.helpers import attachment, day_bound, show_errors

bp = Blueprint("custody", __name__)


def _page(
    case_id: uuid.UUID, transfer_form: TransferForm | None = None, verdict: object = None
) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    filters = ActivityFilterForm(request.args)
    filters.actor.choices = [("", _("Everyone"))] + [
        (str(member.user_id), member.user.display_name) for member in case.members
    ]
    filters.validate()
    actor_id = None
    if filters.actor.data:
        try:
            actor_id = uuid.UUID(filters.actor.data)
        except ValueError:
            actor_id = None
    action = (
        CustodyAction(filters.action.data) if filters.action.data in set(CustodyAction) else None
    )
    entries = custody_reports.case_activity(
        session,
        actor,
        case.id,
        actor_id=actor_id,
        action=action,
        since=day_bound(filters.since.data),
        until=day_bound(filters.until.data, end=True),
    )
    return render_template(
        "case_activity.html",
        case=case,
        entries=entries,
        details={
            entry.seq: json.loads(entry.details)
            for entry in entries
            if not isinstance(entry, RedactedEntry)
        },
        filters=filters,
        checkpoint=custody_checkpoints.latest_checkpoint(session),
        can_transfer=authz.can(role, CaseAction.RECORD_TRANSFER),
        transfer_form=transfer_form or TransferForm(formdata=None),
        verify_form=EmptyForm(),
        verdict=verdict,
    )


@bp.get("/cases/<uuid:case_id>/activity")
def activity(case_id: uuid.UUID) -> str:
    return _page(case_id)


@bp.post("/cases/<uuid:case_id>/activity/verify")
def verify(case_id: uuid.UUID) -> str:
    verdict = custody_reports.verify_case(
        request_scope.db_session(),
        request_scope.actor(),
        case_id,
        request_scope.custody_keys(),
    )
    return _page(case_id, verdict=verdict)


@bp.post("/cases/<uuid:case_id>/transfers")
def record_transfer(case_id: uuid.UUID) -> BaseResponse | str:
    # Authorize before reading the form: a viewer's invalid transfer is 403, not field errors.
    authz.authorize_case(
        request_scope.db_session(), request_scope.actor(), case_id, CaseAction.RECORD_TRANSFER
    )
    form = TransferForm()
    if form.validate_on_submit():
        try:
            when = form.when.data.replace(tzinfo=dt.UTC) if form.when.data else None
            receipt = (
                listing.find_by_ern(
                    request_scope.db_session(), request_scope.actor(), case_id, form.receipt.data
                ).id
                if form.receipt.data
                else None
            )
            data = transfers.parse_transfer(
                {
                    "from": form.from_party.data or "",
                    "to": form.to_party.data or "",
                    "when": when,
                    "where": form.where.data or None,
                    "media": form.media.data or None,
                    "reason": form.reason.data or "",
                    "condition": form.condition.data or None,
                    "seal_number": form.seal_number.data or None,
                    "receipt_evidence_id": receipt,
                }
            )
            transfers.record_transfer(
                request_scope.db_session(), request_scope.actor(), case_id, data
            )
        except ValidationFailed as error:
            show_errors(form, _rename(error))
        else:
            flash(_("Transfer of custody recorded."), "success")
            return redirect(url_for("web.custody.activity", case_id=case_id))
    return _page(case_id, transfer_form=form)


def _rename(error: ValidationFailed) -> ValidationFailed:
    names = {"from": "from_party", "to": "to_party", "receipt_evidence_id": "receipt"}
    return ValidationFailed({names.get(k, k): v for k, v in error.fields.items()})


def _report(case_id: uuid.UUID) -> dict[str, object]:
    return custody_reports.case_report(
        request_scope.db_session(),
        request_scope.actor(),
        case_id,
        request_scope.custody_keys(),
    )


@bp.get("/cases/<uuid:case_id>/custody.json")
def report_json(case_id: uuid.UUID) -> Response:
    body = json.dumps(_report(case_id), ensure_ascii=False, indent=2)
    return attachment(body, "application/json", f"custody-{case_id}.json")


@bp.get("/cases/<uuid:case_id>/custody.pdf")
def report_pdf(case_id: uuid.UUID) -> Response:
    report = _report(case_id)
    case = cases.get_case(request_scope.db_session(), request_scope.actor(), case_id)
    pdf = custody_report_pdf.render(report, f"Custody report: {case.title}")
    return attachment(pdf, "application/pdf", f"custody-{case_id}.pdf")
