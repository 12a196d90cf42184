"""Server-rendered HTML UI."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_babel import get_locale

from casefile import request_scope
from casefile.documents.custody_report_pdf import breakable
from casefile.vault import bidi
from casefile.web import (
    account,
    admin,
    auth,
    cases,
    custody,
    derivatives,
    evidence,
    evidence_edit,
    filings,
    frameworks,
    incidents,
    maps,
    prg,
    search,
    sessions,
    tags,
)
from casefile.web.labels import (
    action_label,
    category_label,
    classification_name,
    collector_label,
    collector_value,
    describe,
    details_json,
    entry_details,
    exact_size,
    export_stage_name,
    export_status_name,
    file_size,
    filing_status_name,
    filing_type_name,
    flag_label,
    incident_status_label,
    language_name,
    perpetrator_kind_label,
    place_name,
    precision_label,
    redaction_reason,
    relation_label,
    strength_label,
    warning_sentence,
)

bp = Blueprint("web", __name__)
for child in (
    auth.bp,
    account.bp,
    cases.bp,
    custody.bp,
    evidence.bp,
    evidence_edit.bp,
    derivatives.bp,
    incidents.bp,
    maps.bp,
    tags.bp,
    admin.bp,
    frameworks.bp,
    frameworks.admin_bp,
    search.bp,
):
    bp.register_blueprint(child)
bp.register_blueprint(filings.bp)
bp.after_request(prg.see_other)


def template_helpers() -> dict[str, object]:
    return {
        "current_locale": lambda: str(get_locale() or "en"),
        "config_min_password": lambda: request_scope.settings().password_min_length,
        "action_label": action_label,
        "describe_entry": describe,
        "entry_details": entry_details,
        "details_json": details_json,
        "keep_identifiers": lambda text: breakable(text, emails=False),
        "reveal_bidi": bidi.reveal,
        "collector_label": collector_label,
        "collector_value": collector_value,
        "flag_label": flag_label,
        "file_size": file_size,
        "export_status_name": export_status_name,
        "export_stage_name": export_stage_name,
        "exact_size": exact_size,
        "category_label": category_label,
        "incident_status_label": incident_status_label,
        "relation_label": relation_label,
        "precision_label": precision_label,
        "perpetrator_kind_label": perpetrator_kind_label,
        "place_name": place_name,
        "filing_type_name": filing_type_name,
        "classification_name": classification_name,
        "filing_status_name": filing_status_name,
        "warning_sentence": warning_sentence,
        "strength_label": strength_label,
        "language_name": language_name,
        "redaction_reason": redaction_reason,
    }


def init_app(app: Flask) -> None:
    sessions.init_app(app)
    app.context_processor(template_helpers)
    prg.init_app(app)
    app.register_blueprint(bp)
