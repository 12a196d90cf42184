"""Search over what the caller may see, in every case of theirs or one."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from casefile import request_scope
from casefile.api import requests, schemas
from casefile.api.blueprint import bp
from casefile.api.openapi import Param, operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.search import query
from casefile.logic.search.query import Result
from casefile.logic.tags.names import PATTERN as TAG_PATTERN
from casefile.logic.tags.names import SENT_MAX

TEXT = {"type": "string", "maxLength": 200}
DATE = {"type": "string", "format": "date"}
PARAMS = (
    Param(
        "q",
        {"type": "string", "minLength": 1, "maxLength": 500},
        "the words to find, in any order; Burmese is found inside words (by syllables), and "
        "punctuation and search operators are taken as plain text",
        required=True,
    ),
    Param("case_id", {"type": "string", "format": "uuid"}, "only this case (one of yours)"),
    Param("kind", {"type": "string", "enum": ["evidence", "incident"]}, "only this kind"),
    Param("type", TEXT, "items of this type, or whose type starts so (`image/`)"),
    Param("sensitivity", {"type": "string", "enum": ["standard", "restricted"]}, "items only"),
    Param("collector", TEXT, "items whose collector's name holds this text"),
    Param("location", TEXT, "items and incidents whose location holds this text"),
    Param("collected_from", DATE, "items collected on or after this date (as recorded)"),
    Param("collected_to", DATE, "items collected on or before this date (as recorded)"),
    Param("incident", {"type": "string", "format": "uuid"}, "items linked to this incident"),
    Param("incident_from", DATE, "incidents that ended (or began) on or after this date"),
    Param("incident_to", DATE, "incidents that began on or before this date"),
    Param(
        "tag",
        {"type": "string", "minLength": 1, "maxLength": SENT_MAX, "pattern": TAG_PATTERN},
        "items and incidents carrying the tag of this name (any case of its letters)",
    ),
    *requests.PAGING,
)
KNOWN = frozenset(param.name for param in PARAMS)


@bp.get("/search")
@operation(
    summary="Search the items (and incidents) I may see, in my cases",
    tag="search",
    response=schemas.SearchPage,
    params=PARAMS,
    errors=(401, 404, 422),
)
def search() -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    case_id = request.args.get("case_id")
    if case_id:  # authorization first: another case's id is 404 whatever else is asked
        authz.authorize_case(session, actor, requests.uuid_arg(case_id, "case_id"), CaseAction.VIEW)
    unknown = sorted(set(request.args) - KNOWN)
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "unknown parameter"))
    if request.args.get("tag") == "":  # as documented: a name, or no parameter at all
        raise ValidationFailed({"tag": "a tag's name (or leave the parameter out)"})
    asked = query.parse_search({name: request.args.get(name) for name in ("q", *query.FILTERS)})
    page = query.search(
        session,
        actor,
        asked.q,
        keyring=request_scope.keyring(),
        case_id=asked.case_id,
        where=asked.filter(),
        limit=requests.limit(20),
        cursor=requests.cursor(),
    )
    return jsonify(
        {"results": [result_json(result) for result in page.items], "next": page.next_cursor}
    )


def result_json(result: Result) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "id": str(result.id),
        "case_id": str(result.case_id),
        "title": result.title,
        "snippet": {
            "text": result.snippet.text,
            "highlights": [list(span) for span in result.snippet.highlights],
        },
    }
