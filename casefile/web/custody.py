"""A case's custody log in the browser: activity with filters, verification, reports,
transfers of physical custody."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope
from casefile.documents import custody_report_pdf
from casefile.logic import authz, pagination
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import reports as custody_reports
from casefile.logic.custody import transfers
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import listing, metadata
from casefile.model import Case, CustodyAction, Evidence
from casefile.verifier.custody_verifier import Verdict
from casefile.web.forms import ActivityFilterForm, EmptyForm, TransferForm, forum_choices
from casefile.web.helpers import attachment, day_bound, show_errors, validate_all
from casefile.web.labels import entry_sentence
from casefile.web.prg import refused

bp = Blueprint("custody", __name__)
_SUBMITTED = object()  # read the form from the request


PAGE_SIZE = 100
VERDICT_PROBLEMS_SHOWN = 10  # the flash travels in the session cookie: keep it small


def _page(case_id: uuid.UUID) -> str:
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
    cursor = request.args.get("cursor") or None
    entries = custody_reports.case_activity(
        session,
        actor,
        case.id,
        actor_id=actor_id,
        action=action,
        since=day_bound(filters.since.data),
        until=day_bound(filters.until.data, end=True),
        after_seq=pagination.decode_seq(cursor) if cursor else None,
        limit=PAGE_SIZE + 1,
    )
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    kept: dict[str, Any] = {
        key: value for key, value in request.args.items() if key != "cursor" and value
    }
    return render_template(
        "case_activity.html",
        case=case,
        entries=entries,
        filters=filters,
        checkpoint=custody_checkpoints.latest_checkpoint(session),
        can_transfer=authz.can(role, CaseAction.RECORD_TRANSFER),
        verify_form=EmptyForm(),
        paged=cursor is not None,
        first_page=url_for("web.custody.activity", case_id=case.id, **kept),
        next_page=url_for(
            "web.custody.activity",
            case_id=case.id,
            cursor=pagination.encode_seq(entries[-1].seq),
            **kept,
        )
        if more
        else None,
    )


@bp.get("/cases/<uuid:case_id>/activity")
def activity(case_id: uuid.UUID) -> str:
    return _page(case_id)


@bp.post("/cases/<uuid:case_id>/activity/verify")
def verify(case_id: uuid.UUID) -> BaseResponse:
    verdict = custody_reports.verify_case(
        request_scope.db_session(),
        request_scope.actor(),
        case_id,
        request_scope.custody_keys(),
    )
    flash_verdict(verdict, scope="case")
    return redirect(url_for("web.custody.activity", case_id=case_id))


@bp.get("/cases/<uuid:case_id>/activity/verify")
def verify_reloaded(case_id: uuid.UUID) -> BaseResponse:
    """Reloading the verdict asks the browser to GET this URL: back to the log, not a 405."""
    authz.authorize_case(
        request_scope.db_session(), request_scope.actor(), case_id, CaseAction.VIEW
    )
    return redirect(url_for("web.custody.activity", case_id=case_id), 303)


def flash_verdict(verdict: Verdict, *, scope: str) -> None:
    """The result of a verification, shown at the top of the page the browser is sent to."""
    if verdict.valid and verdict.checkpoint is not None:
        message = (
            ngettext(
                "Verified: every entry of this case is in the signed log, unchanged "
                "(%(num)d entry checked against checkpoint %(size)s).",
                "Verified: every entry of this case is in the signed log, unchanged "
                "(%(num)d entries checked against checkpoint %(size)s).",
                verdict.entries_checked,
                size=verdict.checkpoint.size,
            )
            if scope == "case"
            else ngettext(
                "Verified: every entry of this item is in the signed log, unchanged "
                "(%(num)d entry checked against checkpoint %(size)s).",
                "Verified: every entry of this item is in the signed log, unchanged "
                "(%(num)d entries checked against checkpoint %(size)s).",
                verdict.entries_checked,
                size=verdict.checkpoint.size,
            )
        )
        flash(message, "success")
        return
    flash(_("Verification FAILED. Do not rely on this log until it is explained."), "error")
    shown = verdict.problems[:VERDICT_PROBLEMS_SHOWN]
    for problem in shown:
        flash(problem, "error")
    if len(verdict.problems) > len(shown):
        more = len(verdict.problems) - len(shown)
        flash(
            ngettext(
                "%(num)d more problem: download the custody report for all of them.",
                "%(num)d more problems: download the custody report for all of them.",
                more,
            ),
            "error",
        )


def _transfer_page(case_id: uuid.UUID, form: TransferForm) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    return render_template("custody_transfer.html", case=case, form=form)


def _transfer_form(case_id: uuid.UUID, formdata: object = _SUBMITTED) -> TransferForm:
    items = transfers.items_to_name(request_scope.db_session(), request_scope.actor(), case_id)
    form = TransferForm() if formdata is _SUBMITTED else TransferForm(formdata=None)
    form.items.choices = [(str(item.id), _item_choice(item)) for item in items]
    return form


def _item_choice(item: Evidence) -> str:
    name = item.original_filename or item.title
    if item.sealed_metadata is not None or name == metadata.PLACEHOLDER_TITLE:
        # A restricted item's name is sealed: its column holds a placeholder, in English.
        name = _("Restricted item")
    return f"{item.ern} · {name}" if name else item.ern


@bp.get("/cases/<uuid:case_id>/transfers")
def transfer_form(case_id: uuid.UUID) -> str:
    # Authorize before anything is shown: a viewer gets 403, an outsider 404.
    authz.authorize_case(
        request_scope.db_session(), request_scope.actor(), case_id, CaseAction.RECORD_TRANSFER
    )
    form = _transfer_form(case_id, formdata=None)
    form.items.data = [value for value in request.args.getlist("item") if value]
    return _transfer_page(case_id, form)


@bp.post("/cases/<uuid:case_id>/transfers")
def record_transfer(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    # Authorize before reading the form: a viewer's invalid transfer is 403, not field errors.
    authz.authorize_case(
        request_scope.db_session(), request_scope.actor(), case_id, CaseAction.RECORD_TRANSFER
    )
    form = _transfer_form(case_id)
    data = validate_all(form, lambda: _parse_transfer(case_id, form))
    if data is not None:
        try:
            written = transfers.record_transfer(
                request_scope.db_session(), request_scope.actor(), case_id, data
            )
        except ValidationFailed as error:
            show_errors(form, _rename(error))
        else:
            named = sum(1 for entry in written if entry.item_id is not None)
            if named:
                flash(
                    ngettext(
                        "Transfer of custody recorded for %(num)d item.",
                        "Transfer of custody recorded for %(num)d items.",
                        named,
                    ),
                    "success",
                )
            else:
                flash(_("Transfer of custody recorded."), "success")
            return redirect(url_for("web.custody.activity", case_id=case_id))
    return refused(_transfer_page(case_id, form))


def _parse_transfer(case_id: uuid.UUID, form: TransferForm) -> transfers.TransferInput:
    """The transfer as logic reads it; every problem at once (the receipt and the rest)."""
    when = form.when.data.replace(tzinfo=dt.UTC) if form.when.data else None
    problems: dict[str, str] = {}
    receipt = None
    if form.receipt.data:
        try:
            receipt = listing.find_by_ern(
                request_scope.db_session(), request_scope.actor(), case_id, form.receipt.data
            ).id
        except ValidationFailed as error:
            problems.update(error.fields)
    try:
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
                "item_ids": form.items.data or [],
            }
        )
    except ValidationFailed as error:
        problems = {**error.fields, **problems}
    if problems:
        raise _rename(ValidationFailed(problems))
    return data


def _rename(error: ValidationFailed) -> ValidationFailed:
    names = {
        "from": "from_party",
        "to": "to_party",
        "receipt_evidence_id": "receipt",
        "item_ids": "items",
    }
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
    pdf = custody_pdf(report, case, items=[], scope="case")
    return attachment(pdf, "application/pdf", f"custody-{case_id}.pdf")


def custody_pdf(report: dict[str, Any], case: Case, items: Sequence[Evidence], scope: str) -> bytes:
    """A custody report (case or item) as the PDF a registry reads. In English whatever the
    reader's language, as the court's working language; names and titles as written."""
    with force_locale("en"):
        subject = custody_report_pdf.Subject(
            case_title=case.title,
            forum=dict(forum_choices()).get(case.forum.value),
            court=case.court,
            reference=case.reference,
            items=[
                custody_report_pdf.ItemLine(
                    id=str(item.id),
                    ern=item.ern,
                    name=item.original_filename or item.title,
                    sha256=item.sha256,
                )
                for item in items
            ],
            scope=scope,
        )
        about = items[0].ern if scope == "item" and items else case.title
        return custody_report_pdf.render(
            report,
            f"Custody report: {about}",
            subject,
            lambda entry: entry_sentence(
                entry["action"], entry["actor"]["label"], entry["details"]
            ),
        )
