"""Evidence in the browser: a case's items, uploading, an item's page, download."""

from __future__ import annotations

import json
import uuid

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_number, get_translations, ngettext
from flask_babel import gettext as _
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from casefile import downloads, request_scope, uploads
from casefile.logic import authz, pagination
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import reports as custody_reports
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.evidence import (
    deletion,
    derivatives,
    grants,
    listing,
    metadata,
    reading,
    registration,
    submission,
)
from casefile.logic.evidence.deletion import DeletionInput, LegalHoldInput
from casefile.logic.evidence.grants import GrantInput
from casefile.logic.frameworks import matrix
from casefile.logic.incidents import listing as incident_listing
from casefile.logic.tags import bulk, tagging
from casefile.model import CustodyAction, Evidence, Sensitivity
from casefile.web import embedded, type_flags
from casefile.web.cases import case_page
from casefile.web.custody import custody_pdf, flash_verdict
from casefile.web.forms import (
    DECLARED_HASH_FIELDS,
    BulkForm,
    EmptyForm,
    EvidenceFilterForm,
    EvidenceUploadForm,
    GrantForm,
    ItemTagForm,
    ReasonForm,
)
from casefile.web.helpers import attachment, day_bound, show_errors
from casefile.web.prg import refused

bp = Blueprint("evidence", __name__)


@bp.get("/cases/<uuid:case_id>/evidence")
def list_items(case_id: uuid.UUID) -> str:
    return _list_page(case_id, EvidenceUploadForm(formdata=None), fresh=True)


def list_filters(
    args: MultiDict[str, str],
) -> tuple[EvidenceFilterForm, listing.ItemFilter]:
    """The evidence list's filters as the page shows them, and as the logic applies them."""
    filters = EvidenceFilterForm(args)
    filters.validate()
    where = listing.ItemFilter(
        kind=filters.kind.data or None,
        sensitivity=Sensitivity(filters.sensitivity.data)
        if filters.sensitivity.data in {s.value for s in Sensitivity}
        else None,
        collector=filters.collector.data or None,
        since=day_bound(filters.since.data),
        until=day_bound(filters.until.data, end=True),
        tag=(filters.tag.data or "").strip() or None,
    )
    return filters, where


def _list_page(
    case_id: uuid.UUID,
    form: EvidenceUploadForm,
    *,
    fresh: bool = False,
    file_error: str | None = None,
    bulk_form: BulkForm | None = None,
    args: MultiDict[str, str] | None = None,
) -> str:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    filters, where = list_filters(request.args if args is None else args)
    sort = filters.sort.data if filters.sort.data in listing.SORTS else "ern"
    case_tags = tagging.visible_tags(session, actor, case.id)
    filters.tag.choices = [("", str(_("Any"))), *((tag.name, tag.name) for tag in case_tags)]
    keyring = request_scope.keyring()
    items = listing.sorted_items(session, actor, case.id, sort=sort, where=where, keyring=keyring)
    can_tag = authz.can(role, CaseAction.ADD_EVIDENCE)
    if bulk_form is None:
        bulk_form = BulkForm(formdata=None)
        for name, value in (
            ("kind", filters.kind.data), ("sensitivity", filters.sensitivity.data),
            ("collector", filters.collector.data), ("since", filters.since.raw_data),
            ("until", filters.until.raw_data), ("by_tag", filters.tag.data),
        ):  # fmt: skip
            getattr(bulk_form, name).data = (
                value[0] if isinstance(value, list) and value else value or ""
            )
    can_link = authz.can(role, CaseAction.EDIT_INCIDENTS)
    if can_link:
        case_incidents = incident_listing.list_incidents(session, actor, case.id, limit=200)
        bulk_form.incident.choices = [
            (str(incident.id), incident.title) for incident in case_incidents.items
        ]
    return render_template(
        "evidence_list.html",
        can_link=can_link and bool(bulk_form.incident.choices),
        case=case,
        items=items,
        described=metadata.reveal_all(keyring, items),
        item_tags=tagging.tag_names(session, [item.id for item in items]),
        vocabulary=[tag for tag in case_tags if tag.controlled and tag.retired_at is None],
        matching=bulk.matching_count(session, actor, case.id, where, keyring)
        if can_tag
        else len(items),
        can_tag=can_tag,
        is_lead=authz.can(role, CaseAction.MANAGE_TAGS),
        bulk_form=bulk_form,
        bulk_max=bulk.MAX_ITEMS,
        csv_query=request.query_string.decode("ascii", "replace") if args is None else "",
        filters=filters,
        hidden_count=listing.hidden_count(session, actor, case.id),
        can_upload=authz.can(role, CaseAction.ADD_EVIDENCE),
        tus_threshold=request_scope.settings().tus_threshold_mb * 1024 * 1024,
        form=form,
        fresh_form=fresh,
        file_error=file_error,
        upload_plurals=upload_plurals(),
    )


@bp.post("/cases/<uuid:case_id>/evidence")
def upload(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE)
    form = EvidenceUploadForm()  # CSRF was checked before the view (CSRFProtect)
    parts = uploads.read_form()[1].getlist("file")
    streams = uploads.streams()
    chosen = [(part, stream) for part, stream in zip(parts, streams, strict=True) if part.filename]
    file_error = None if chosen else _("Choose at least one file.")
    try:
        data = submission.parse_input(upload_fields(form))
    except ValidationFailed as error:
        show_upload_errors(form, error)
        data = None
    if data is None or file_error:
        for stream in streams:
            stream.abort()
        # The input kept, each error by its field; a browser cannot keep the chosen files.
        return refused(_list_page(case_id, form, file_error=file_error))
    for part, stream in zip(parts, streams, strict=True):
        if not part.filename:  # an empty file input still sends an empty part
            stream.abort()
    store = request_scope.blobs()
    added, repeated = 0, 0
    for part, stream in chosen:
        result = registration.register_upload(
            session,
            actor,
            case_id,
            stream,
            data,
            filename=part.filename,
            declared_mime=part.mimetype or None,
            store=store,
            keyring=request_scope.keyring(),
        )
        repeated += result.duplicate
        added += not result.duplicate
    flash(upload_summary(added, repeated), "success")
    return redirect(url_for("web.evidence.list_items", case_id=case_id))


def upload_fields(form: EvidenceUploadForm) -> dict[str, object]:
    """The form's fields as the upload model (the API's) takes them: the time collected with
    the offset chosen beside it, the declared digests as one mapping."""
    collected_at = (form.collected_at.data or "").strip()
    return {
        "title": form.title.data or None,
        "description": form.description.data or None,
        "collected_at": collected_at + (form.collected_offset.data or "") if collected_at else None,
        "collected_by": form.collected_by.data or None,
        "location": form.location.data or None,
        "source": form.source.data or None,
        "language": form.language.data or None,
        "declared_hashes": {
            algorithm: "".join((getattr(form, name).data or "").split()).lower()
            for name, algorithm in DECLARED_HASH_FIELDS
            if (getattr(form, name).data or "").strip()
        },
        "sensitivity": form.sensitivity.data or Sensitivity.STANDARD.value,
    }


def show_upload_errors(form: EvidenceUploadForm, error: ValidationFailed) -> None:
    """The logic's refusals next to the fields they concern: a declared digest's next to its
    own field, a value over its limit in the page's language, saying nothing was cut."""
    fields: dict[str, str] = {}
    for name, message in error.fields.items():
        target = name
        if name == "declared_hashes":
            target = next(
                (field for field, algorithm in DECLARED_HASH_FIELDS
                 if message.startswith(algorithm + " ")),
                DECLARED_HASH_FIELDS[0][0],
            )  # fmt: skip
        field = getattr(form, target, None)
        limit = field.flags.maxlength if field is not None else None
        count = len((field.data or "").replace("\r\n", "\n")) if field is not None else 0
        fields[target] = message
        if limit and count > limit:
            fields[target] = _(
                "Too long: %(count)s characters, at most %(limit)s. Nothing was cut: shorten "
                "it and send the form again.",
                count=format_number(count),
                limit=format_number(limit),
            )
    show_errors(form, ValidationFailed(fields))


def upload_plurals() -> dict[str, list[str]]:
    """The summary's counted messages for the page's script, in the page's language: the
    form for one and the form for more, with {num} for the number (the catalogue's plural
    rule, for the two languages served: English has these two forms, Burmese one)."""
    translations = get_translations()
    forms = {
        "added": [
            translations.ungettext("%(num)d file added.", "%(num)d files added.", n)
            for n in (1, 2)
        ],
        "repeated": [
            translations.ungettext(
                "%(num)d was already in the case:", "%(num)d were already in the case:", n
            )
            for n in (1, 2)
        ],
        "refused": [
            translations.ungettext("%(num)d was refused:", "%(num)d were refused:", n)
            for n in (1, 2)
        ],
    }
    return {key: [form.replace("%(num)d", "{num}") for form in pair] for key, pair in forms.items()}


def upload_summary(added: int, repeated: int) -> str:
    text: str = ngettext("%(num)d file added.", "%(num)d files added.", added)
    if repeated:
        text += " " + ngettext(
            "%(num)d was already in the case.", "%(num)d were already in the case.", repeated
        )
    return text


TIMELINE_PAGE_SIZE = 50


@bp.get("/evidence/<uuid:item_id>")
def show(item_id: uuid.UUID) -> str:
    return _item_page(item_id)


def _item_page(
    item_id: uuid.UUID,
    delete_form: ReasonForm | None = None,
    grant_form: GrantForm | None = None,
    tag_form: ItemTagForm | None = None,
) -> str:
    """The item page; a refused deletion, grant or tag shown with its error and the input
    kept."""
    session, actor = request_scope.db_session(), request_scope.actor()
    item = listing.get_item(session, actor, item_id)
    manages = grants.may_manage(session, actor, item)
    access = grants.access(session, actor, item.id) if manages else None
    if access is not None:
        grant_form = grant_form or GrantForm(formdata=None)
        grant_form.person.choices = [
            (user.email, f"{user.display_name} ({user.email})" if user.display_name else user.email)
            for user in access.candidates
        ]
    role = authz.role_in_case(session, authz.require_active(actor), item.case_id)
    # The chain of custody in pages, oldest first, with the case activity page's cursors.
    cursor = request.args.get("cursor") or None
    _, entries = custody_reports.item_activity(
        session,
        actor,
        item.id,
        after_seq=pagination.decode_seq(cursor) if cursor else None,
        limit=TIMELINE_PAGE_SIZE + 1,
    )
    more = len(entries) > TIMELINE_PAGE_SIZE
    entries = entries[:TIMELINE_PAGE_SIZE]
    described = metadata.reveal(request_scope.keyring(), item)
    original = derivatives.original_of(session, actor, item)
    may_derive = (
        authz.can(role, CaseAction.ADD_EVIDENCE)
        and item.status.value == "active"
        and described.available
    )
    too_large = reading.preview_refusal(
        item, request_scope.settings().preview_max_megapixels, described.extracted
    )
    can_delete = authz.can(role, CaseAction.DELETE_EVIDENCE) and not item.case.legal_hold
    return render_template(
        "evidence_item.html",
        item=item,
        described=described,
        entries=entries,
        verify_form=EmptyForm(),
        delete_form=delete_form or ReasonForm(formdata=None),
        can_delete=can_delete,
        deletion_plan=(
            deletion.plan(session, actor, item)
            if can_delete and item.status.value == "active"
            else None
        ),
        can_preview=previewable(item.mime) and item.status.value == "active" and not too_large,
        preview_refused=too_large,
        pdf_paging=_pdf_paging(item, described.extracted),
        also_types=[flag.split(":", 1)[1] for flag in item.flags if flag.startswith("polyglot:")],
        type_flags=type_flags.explain(item, described.original_filename),
        checkpoint=custody_checkpoints.latest_checkpoint(session),
        access=access,
        grant_form=grant_form,
        withdraw_form=EmptyForm(),
        incident_links=incident_listing.links_of_item(session, actor, item.id),
        element_links=matrix.elements_of_item(session, actor, item.id),
        timeline_paged=cursor is not None,
        timeline_first=url_for("web.evidence.show", item_id=item.id, _anchor="custody-h"),
        timeline_next=url_for(
            "web.evidence.show",
            item_id=item.id,
            cursor=pagination.encode_seq(entries[-1].seq),
            _anchor="custody-h",
        )
        if more
        else None,
        embedded_sections=embedded.sections(described.extracted),
        embedded_json=embedded.raw_json(described.extracted),
        can_edit=authz.can(role, CaseAction.ADD_EVIDENCE)
        and item.status.value == "active"
        and not item.case.legal_hold
        and described.available,
        tags=tagging.tags_by_item(session, [item.id])[item.id],
        can_tag=authz.can(role, CaseAction.ADD_EVIDENCE),
        original=original,
        original_title=metadata.reveal(request_scope.keyring(), original).title
        if original is not None
        else None,
        derived=derivatives.derivatives_of(session, actor, item),
        can_translate=may_derive,
        can_redact=may_derive and derivatives.redactable(item),
        tag_form=tag_form or ItemTagForm(formdata=None),
        untag_form=EmptyForm(),
        vocabulary=[
            tag
            for tag in tagging.visible_tags(session, actor, item.case_id)
            if tag.controlled and tag.retired_at is None
        ],
    )


@bp.post("/evidence/<uuid:item_id>/access")
def grant_access(item_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    """Give a member access to a restricted item (the item page's "who can see this item")."""
    session, actor = request_scope.db_session(), request_scope.actor()
    grants.authorize_management(session, actor, item_id)
    form = GrantForm()
    if form.validate_on_submit():
        try:
            data = GrantInput(email=form.person.data)
            grants.grant(session, actor, item_id, data)
        except (ValidationError, ValidationFailed):
            form.form_errors.append(_("Only a member of this case can be given access."))
        except Conflict:
            form.form_errors.append(_("This person already has access."))
        else:
            flash(_("Access given to %(email)s.", email=data.email), "success")
            return redirect(url_for("web.evidence.show", item_id=item_id))
    else:
        form.form_errors.append(_("Choose the person to give access to."))
    return refused(_item_page(item_id, grant_form=form))


@bp.post("/evidence/<uuid:item_id>/access/<uuid:user_id>/withdraw")
def withdraw_access(item_id: uuid.UUID, user_id: uuid.UUID) -> BaseResponse:
    """Withdraw a member's access (CSRF was checked before the view, by CSRFProtect)."""
    session, actor = request_scope.db_session(), request_scope.actor()
    item = grants.authorize_management(session, actor, item_id)
    try:
        withdrawn = grants.revoke(session, actor, item_id, user_id)
    except NotFound:  # the item was found above: it is the grant that is gone
        flash(_("This person no longer has access."), "error")
    else:
        flash(_("Access withdrawn."), "success")
        if withdrawn:
            flash(
                ngettext(
                    "Their access to %(num)d item made from it was withdrawn too.",
                    "Their access to %(num)d items made from it was withdrawn too.",
                    len(withdrawn),
                ),
                "success",
            )
    if actor is not None and user_id == actor.id:  # their own: the item is hidden from them now
        return redirect(url_for("web.evidence.list_items", case_id=item.case_id))
    return redirect(url_for("web.evidence.show", item_id=item_id))


def _pdf_paging(item: Evidence, extracted: dict[str, object]) -> dict[str, int | None] | None:
    """Which page of a PDF the item page shows (`?page=`), and how many it has if known
    (counted at intake; a restricted item's count is sealed metadata, revealed to this viewer)."""
    if item.mime != "application/pdf" or item.status.value != "active":
        return None
    found = extracted.get("pdf")
    pages = found.get("pages") if isinstance(found, dict) else None
    count = pages if isinstance(pages, int) and pages > 0 else None
    page = request.args.get("page", type=int) or 1
    page = max(1, min(page, count or page))
    return {"page": page, "pages": count, "opened": "page" in request.args}


@bp.post("/evidence/<uuid:item_id>/verify")
def verify(item_id: uuid.UUID) -> BaseResponse:
    session, actor = request_scope.db_session(), request_scope.actor()
    verdict = custody_reports.verify_item(session, actor, item_id, request_scope.custody_keys())
    flash_verdict(verdict, scope="item")
    return redirect(url_for("web.evidence.show", item_id=item_id))


@bp.get("/evidence/<uuid:item_id>/download")
def download(item_id: uuid.UUID) -> Response:
    item, chunks = reading.read_content(
        request_scope.db_session(),
        request_scope.actor(),
        item_id,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    response = Response(stream_with_context(chunks), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(item.size)
    original = metadata.reveal(request_scope.keyring(), item).original_filename
    response.headers["Content-Disposition"] = downloads.attachment(item, original)
    return response


def _report(item_id: uuid.UUID) -> dict[str, object]:
    return custody_reports.item_report(
        request_scope.db_session(), request_scope.actor(), item_id, request_scope.custody_keys()
    )


@bp.get("/evidence/<uuid:item_id>/custody.json")
def report_json(item_id: uuid.UUID) -> Response:
    body = json.dumps(_report(item_id), ensure_ascii=False, indent=2)
    return attachment(body, "application/json", f"custody-{item_id}.json")


@bp.get("/evidence/<uuid:item_id>/custody.pdf")
def report_pdf(item_id: uuid.UUID) -> Response:
    report = _report(item_id)
    session, actor = request_scope.db_session(), request_scope.actor()
    item = listing.get_item(session, actor, item_id)
    case = cases.get_case(session, actor, item.case_id)
    pdf = custody_pdf(report, case, [item], scope="item")
    return attachment(pdf, "application/pdf", f"custody-{report['ern']}.pdf")


@bp.post("/evidence/<uuid:item_id>/delete")
def delete(item_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    form = ReasonForm()
    session, actor = request_scope.db_session(), request_scope.actor()
    item = authz.authorize_item(session, actor, item_id, CaseAction.DELETE_EVIDENCE)
    if not form.validate_on_submit():
        return refused(_item_page(item_id, delete_form=form))
    try:
        done = deletion.delete_with_derivatives(
            session,
            actor,
            item_id,
            DeletionInput(reason=form.reason.data or ""),
            store=request_scope.blobs(),
        )
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("web.evidence.show", item_id=item_id))
    flash(
        _("Item deleted: its data key was destroyed; a tombstone and the custody record remain."),
        "success",
    )
    if done.derivatives:
        flash(
            ngettext(
                "%(num)d item made from it was deleted with it.",
                "%(num)d items made from it were deleted with it.",
                len(done.derivatives),
            ),
            "success",
        )
    if done.purged or done.stopped:
        flash(
            ngettext(
                "%(num)d stored export holding it was destroyed.",
                "%(num)d stored exports holding it were destroyed.",
                len(done.purged) + len(done.stopped),
            ),
            "success",
        )
    return redirect(url_for("web.evidence.list_items", case_id=item.case_id))


@bp.post("/cases/<uuid:case_id>/legal-hold")
def legal_hold(case_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    form = ReasonForm()
    session, actor = request_scope.db_session(), request_scope.actor()
    case = authz.authorize_case(session, actor, case_id, CaseAction.SET_LEGAL_HOLD)
    if not form.validate_on_submit():
        return refused(case_page(case_id, hold_form=form))
    deletion.set_legal_hold(
        session,
        actor,
        case_id,
        LegalHoldInput(on=not case.legal_hold, reason=form.reason.data or ""),
    )
    flash(_("Legal hold is on.") if case.legal_hold else _("Legal hold is off."), "success")
    return redirect(url_for("web.cases.show_case", case_id=case_id))


PREVIEWABLE = ("image/", "audio/", "video/", "text/plain")  # a PDF: page images (pdf_page)
PREVIEW_CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "sandbox; frame-ancestors 'self'"
)


def previewable(mime: str) -> bool:
    return mime.startswith(PREVIEWABLE) and mime != "image/svg+xml"  # SVG can carry scripts


@bp.get("/evidence/<uuid:item_id>/preview")
def preview(item_id: uuid.UUID) -> Response:
    """Inline, in a sandboxed frame of the item page, for types a browser shows safely.
    Every preview is a custody entry ("viewed")."""
    session, actor = request_scope.db_session(), request_scope.actor()
    item = listing.get_item(session, actor, item_id)
    if not previewable(item.mime):
        raise ValidationFailed({"item": "this type is not shown inline; download it instead"})
    refusal = reading.preview_refusal(
        item,
        request_scope.settings().preview_max_megapixels,
        metadata.reveal(request_scope.keyring(), item).extracted,
    )
    if refusal is not None:
        raise ValidationFailed({"item": f"not shown inline: {refusal}; download it instead"})
    item, chunks = reading.read_content(
        session,
        actor,
        item_id,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
        action=CustodyAction.VIEWED,
    )
    mimetype = "text/plain; charset=utf-8" if item.mime == "text/plain" else item.mime
    response = Response(stream_with_context(chunks), content_type=mimetype)
    response.headers["Content-Length"] = str(item.size)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/evidence/<uuid:item_id>/pages/<int:number>.png")
def pdf_page(item_id: uuid.UUID, number: int) -> Response:
    """Page `number` of a PDF item as a PNG rendered on the server (the browser's PDF viewer
    is blocked by the site's CSP). Each page served is a custody entry ("viewed"); a page
    that fails to render is refused (422) and not recorded."""
    _, page = reading.pdf_page(
        request_scope.db_session(),
        request_scope.actor(),
        item_id,
        number,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    response = Response(page.png, mimetype="image/png")
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Casefile-Pages"] = str(page.pages)
    return response
