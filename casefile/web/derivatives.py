"""Derivatives in the browser: adding a translation of an item, and redacting a PDF or an
image by drawing boxes on its pages (docs/derivatives.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope, uploads
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import derivatives, metadata
from casefile.logic.filings import warnings as filing_warnings
from casefile.model import Evidence
from casefile.vault import redaction
from casefile.web.forms import RedactionForm, TranslationForm
from casefile.web.helpers import show_errors
from casefile.web.prg import refused

bp = Blueprint("derivatives", __name__)


# --- translations ---------------------------------------------------------------------------


def _translation_page(item: Evidence, form: TranslationForm, file_error: str | None = None) -> str:
    return render_template(
        "evidence_translation.html",
        item=item,
        described=metadata.reveal(request_scope.keyring(), item),
        form=form,
        file_error=file_error,
    )


@bp.get("/evidence/<uuid:item_id>/translations")
def translation_form(item_id: uuid.UUID) -> str:
    item = derivatives.authorize(request_scope.db_session(), request_scope.actor(), item_id)
    return _translation_page(item, TranslationForm(formdata=None))


@bp.post("/evidence/<uuid:item_id>/translations")
def add_translation(item_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    item = derivatives.authorize(session, actor, item_id)  # before the body is read
    form = TranslationForm()  # CSRF was checked before the view (CSRFProtect)
    parts = uploads.read_form()[1].getlist("file")
    streams = uploads.streams()
    chosen = [(part, stream) for part, stream in zip(parts, streams, strict=True) if part.filename]
    file_error = None if len(chosen) == 1 else _("Choose the file of the translation.")
    data = None
    try:
        data = derivatives.parse_translation(
            {
                "language": form.language.data,
                "translator": form.translator.data,
                "certification": form.certification.data,
                "title": form.title.data,
            }
        )
    except ValidationFailed as error:
        show_errors(form, error)
    if data is None or file_error:
        for stream in streams:
            stream.abort()  # the browser cannot keep the chosen file; the fields are kept
        return refused(_translation_page(item, form, file_error))
    for part, stream in zip(parts, streams, strict=True):
        if not part.filename:
            stream.abort()
    part, stream = chosen[0]
    try:
        made = derivatives.translate(
            session,
            actor,
            item_id,
            stream,
            data,
            filename=part.filename,
            declared_mime=part.mimetype or None,
            store=request_scope.blobs(),
            keyring=request_scope.keyring(),
        )
    except ValidationFailed as error:  # the file itself (e.g. this case holds it already)
        show_errors(form, error)
        return refused(_translation_page(item, form))
    flash(_("Translation added as %(ern)s.", ern=made.ern), "success")
    return redirect(url_for("web.evidence.show", item_id=made.id))


# --- redactions -----------------------------------------------------------------------------


def _pages(item: Evidence) -> int:
    """The number of pages the redaction page offers (an image: one), as PDFium counts them:
    the count that intake's metadata may lack (a large PDF) is made and kept on the item;
    the redaction is refused if the document turns out to have another number."""
    if redaction.kind_of(item.mime) != redaction.PDF:
        return 1
    if item.page_count is None:
        session = request_scope.db_session()
        filing_warnings.count_pages(session, request_scope.actor(), [item.id],
                                    store=request_scope.blobs(), keyring=request_scope.keyring())
        session.refresh(item)
    return item.page_count or 1


def _redaction_page(item: Evidence, form: RedactionForm) -> str:
    pages = _pages(item)
    page = max(1, min(request.args.get("page", type=int) or 1, pages))
    if form.page.data is None:
        form.page.data = page  # the typed box's page, without script
    form.pages.data = str(pages)  # what the reader was shown, checked when redacting
    return render_template(
        "evidence_redact.html",
        item=item,
        described=metadata.reveal(request_scope.keyring(), item),
        form=form,
        pages=pages,
        page=page,
        is_pdf=redaction.kind_of(item.mime) == redaction.PDF,
    )


@bp.get("/evidence/<uuid:item_id>/redact")
def redaction_form(item_id: uuid.UUID) -> str:
    item = derivatives.authorize(request_scope.db_session(), request_scope.actor(), item_id)
    if not derivatives.redactable(item):
        raise ValidationFailed({"item": "only PDFs and images can be redacted"})
    form = RedactionForm(formdata=None)
    form.sensitivity.data = "standard"
    return _redaction_page(item, form)


def _percent(form: RedactionForm, name: str) -> float | None:
    raw = (getattr(form, name).data or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw) / 100
    except ValueError:
        getattr(form, name).errors = [_("Enter a number from 0 to 100.")]
        return None


def _boxes(form: RedactionForm) -> list[Any]:
    """The boxes drawn (JSON from redact.js), else the one typed in (without script)."""
    if (form.boxes.data or "").strip():
        try:
            drawn = json.loads(form.boxes.data)
        except ValueError:
            form.boxes.errors = [_("The boxes drawn could not be read; draw them again.")]
            return []
        return drawn if isinstance(drawn, list) else []
    typed = [_percent(form, name) for name in ("left", "top", "width", "height")]
    if all(value is None for value in typed):
        return []  # the page number alone (filled in for the reader) is not a box
    x, y, width, height = typed
    return [{"page": form.page.data or 1, "x": x, "y": y, "width": width, "height": height}]


@bp.post("/evidence/<uuid:item_id>/redact")
def redact(item_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    item = derivatives.authorize(session, actor, item_id)
    form = RedactionForm()
    boxes = _boxes(form)
    try:
        data = derivatives.parse_redaction(
            {
                "boxes": boxes,
                "reason": form.reason.data or None,
                "title": (form.title.data or "").strip() or None,
                "sensitivity": form.sensitivity.data or "standard",
                "pages": form.pages.data or None,
            }
        )
        made = derivatives.redact(
            session,
            actor,
            item_id,
            data,
            store=request_scope.blobs(),
            keyring=request_scope.keyring(),
        )
    except ValidationFailed as error:
        fields = dict(error.fields)
        if not boxes:
            fields["boxes"] = _("Draw at least one box over what is to be removed.")
        show_errors(form, ValidationFailed({_field(name): text for name, text in fields.items()}))
        form.form_errors.extend(form.boxes.errors)  # hidden fields: said in the summary
        form.form_errors.extend(form.pages.errors)
        session.rollback()
        return refused(_redaction_page(item, form))
    flash(_("Redacted version made: %(ern)s.", ern=made.ern), "success")
    return redirect(url_for("web.evidence.show", item_id=made.id))


def _field(name: str) -> str:
    """A logic field name ("boxes.0.x") as the form's field that shows it."""
    return "boxes" if name.startswith("boxes") else name
