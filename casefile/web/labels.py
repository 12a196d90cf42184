"""Words shown for stored values (custody actions), in the reader's language."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from casefile.model import CustodyAction

ACTION_LABELS: dict[CustodyAction, LazyString] = {
    CustodyAction.CASE_CREATED: _l("Case created"),
    CustodyAction.CASE_UPDATED: _l("Case details changed"),
    CustodyAction.MEMBER_ADDED: _l("Member added"),
    CustodyAction.MEMBER_REMOVED: _l("Member removed"),
    CustodyAction.MEMBER_ROLE_CHANGED: _l("Member's role changed"),
    CustodyAction.CUSTODY_TRANSFERRED: _l("Physical custody transferred"),
    CustodyAction.INTAKE: _l("Evidence received"),
    CustodyAction.SUBMITTED_AGAIN: _l("Same file submitted again"),
    CustodyAction.VIEWED: _l("Viewed"),
    CustodyAction.DOWNLOADED: _l("Downloaded"),
    CustodyAction.METADATA_EDITED: _l("Metadata edited"),
    CustodyAction.TAGGED: _l("Tagged"),
    CustodyAction.LINKED: _l("Linked"),
    CustodyAction.EXPORTED: _l("Exported"),
    CustodyAction.INTEGRITY_CHECKED: _l("Integrity checked"),
    CustodyAction.INTEGRITY_FAILURE: _l("Integrity failure"),
    CustodyAction.KEY_ROTATED: _l("Encryption key rotated"),
    CustodyAction.DELETED: _l("Deleted"),
    CustodyAction.LEGAL_HOLD_CHANGED: _l("Legal hold changed"),
    CustodyAction.ACCESS_GRANTED: _l("Access granted"),
    CustodyAction.ACCESS_REVOKED: _l("Access withdrawn"),
}


def action_label(action: CustodyAction | str) -> str:
    return str(ACTION_LABELS[CustodyAction(action)])
