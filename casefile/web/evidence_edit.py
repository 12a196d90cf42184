"""Editing an item's collector metadata in the browser ("Edit details" on the item page)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.logic.evidence import editing, metadata
from casefile.model import Evidence
from casefile.web.forms import MetadataEditForm
from casefile.web.helpers import show_errors

bp = Blueprint("evidence_edit", __name__)


def _shown(value: object) -> str:
    return "" if value is None else str(value)


def _prefill(form: MetadataEditForm, values: dict[str, Any], version: str) -> None:
    form.version.data = version
    for name in editing.EDITABLE:
        getattr(form, name).data = _shown(values[name])


def _current(item: Evidence) -> tuple[dict[str, Any], str]:
    described = metadata.reveal(request_scope.keyring(), item)
    return editing.current_values(described), editing.metadata_version(item.id, described)


@bp.get("/evidence/<uuid:item_id>/edit")
def edit_form(item_id: uuid.UUID) -> BaseResponse | str:
    session, actor = request_scope.db_session(), request_scope.actor()
    item = authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    if item.status.value != "active" or item.case.legal_hold:
        flash(_l("This item's details cannot be changed: it was deleted, or its case is under "
                 "legal hold."), "error")
        return redirect(url_for("web.evidence.show", item_id=item_id))
    form = MetadataEditForm(formdata=None)
    values, version = _current(item)
    _prefill(form, values, version)
    return render_template("evidence_edit.html", item=item, form=form, current=None)


@bp.post("/evidence/<uuid:item_id>/edit")
def save(item_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    item = authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    form = MetadataEditForm()  # CSRF was checked before the view (CSRFProtect)
    sent: dict[str, object] = {"version": form.version.data or ""}
    sent.update((name, getattr(form, name).data or None) for name in editing.EDITABLE)
    sent["title"] = (form.title.data or "").strip()  # blank: "at least 1 character"
    try:
        edited = editing.edit_metadata(
            session, actor, item_id, editing.parse_edit(sent), keyring=request_scope.keyring()
        )
    except ValidationFailed as error:
        show_errors(form, error)
        return render_template("evidence_edit.html", item=item, form=form, current=None), 422
    except editing.StaleVersion as error:
        # Someone else's change came first: keep what this person typed, show what is there
        # now, and take the current version, so saving again is a decision made seeing both.
        session.rollback()
        item = authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
        values, version = _current(item)
        form.version.data = version
        form.form_errors.append(error.message)
        current = [
            (getattr(form, name).label.text, _shown(values[name]))
            for name in editing.EDITABLE
            if _shown(values[name]) != (getattr(form, name).data or "")
        ]
        return render_template("evidence_edit.html", item=item, form=form, current=current), 409
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("web.evidence.show", item_id=item_id))
    if edited.changed:
        count = len(edited.changed)
        flash(
            ngettext(
                "Details saved: %(num)d field changed, recorded in the chain of custody.",
                "Details saved: %(num)d fields changed, recorded in the chain of custody.",
                count,
            ),
            "success",
        )
    else:
        flash(_l("Nothing was changed, so nothing was recorded."), "success")
    return redirect(url_for("web.evidence.show", item_id=item_id))
