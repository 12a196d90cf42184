"""Server-rendered HTML UI."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_babel import get_locale

from casefile import request_scope
from casefile.documents.custody_report_pdf import breakable
from casefile.vault import bidi
from casefile.web import account, admin, auth, cases, custody, evidence, evidence_edit, sessions
from casefile.web.labels import action_label, describe, details_json, entry_details

bp = Blueprint("web", __name__)
for child in (auth.bp, account.bp, cases.bp, custody.bp, evidence.bp, evidence_edit.bp, admin.bp):
    bp.register_blueprint(child)


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
    }


def init_app(app: Flask) -> None:
    sessions.init_app(app)
    app.context_processor(template_helpers)
    app.register_blueprint(bp)
