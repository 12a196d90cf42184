"""Tags (a case's vocabulary, free tags, tags on items), bulk actions on a case's items, and
the evidence list as CSV."""

from __future__ import annotations

import uuid

from flask import Response, jsonify

from casefile import request_scope
from casefile.api import requests, schemas, serializers
from casefile.api.blueprint import bp
from casefile.api.openapi import operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import NotFound
from casefile.logic.incidents.incidents import get_incident
from casefile.logic.tags import bulk, export, incident_tags, tagging, vocabulary
from casefile.logic.tags.bulk import BulkInput
from casefile.logic.tags.tagging import TagItemInput
from casefile.logic.tags.vocabulary import TagChange, TagInput
from casefile.model import Tag


@bp.get("/cases/<uuid:case_id>/tags")
@operation(
    summary="The case's tags: its controlled vocabulary, and the free tags of items I see",
    tag="tags",
    response=schemas.TagList,
)
def list_tags(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    tags = tagging.visible_tags(session, actor, case_id)
    return jsonify({"items": [serializers.tag(tag) for tag in tags]})


@bp.post("/cases/<uuid:case_id>/tags")
@operation(
    summary="Add a tag to the case's controlled vocabulary (leads only)",
    tag="tags",
    body=TagInput,
    response=schemas.TagOut,
    status=201,
    errors=(401, 403, 404, 409, 422),
)
def create_tag(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    vocabulary.authorize_vocabulary(session, actor, case_id)
    data = requests.body(TagInput)
    tag = vocabulary.create_tag(session, actor, case_id, data)
    return jsonify(serializers.tag(tag)), 201


@bp.patch("/tags/<uuid:tag_id>")
@operation(
    summary="Rename, describe, retire or restore a tag, or take it into the vocabulary "
    "(leads only)",
    tag="tags",
    body=TagChange,
    response=schemas.TagOut,
    errors=(401, 403, 404, 409, 422),
)
def change_tag(tag_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    _visible_tag(tag_id, CaseAction.MANAGE_TAGS)
    data = requests.body(TagChange)
    tag = vocabulary.change_tag(session, actor, tag_id, data, keyring=request_scope.keyring())
    return jsonify(serializers.tag(tag))


def _visible_tag(tag_id: uuid.UUID, action: CaseAction) -> Tag:
    """A tag the caller may know of: the vocabulary's, or a free tag of an item they see."""
    session, actor = request_scope.db_session(), request_scope.actor()
    tag = vocabulary.get_tag(session, actor, tag_id, action)
    if tag not in tagging.visible_tags(session, actor, tag.case_id):
        raise NotFound("tag not found")
    return tag


@bp.post("/evidence/<uuid:evidence_id>/tags")
@operation(
    summary="Tag an item with a tag of the vocabulary, or a new name (a free tag)",
    tag="tags",
    body=TagItemInput,
    response=schemas.ItemTagsOut,
    errors=(401, 403, 404, 409, 422),
)
def tag_item(evidence_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_item(session, actor, evidence_id, CaseAction.ADD_EVIDENCE)
    data = requests.body(TagItemInput)
    tags = tagging.tag_item(session, actor, evidence_id, data, keyring=request_scope.keyring())
    return jsonify(_item_tags(evidence_id, tags))


@bp.delete("/evidence/<uuid:evidence_id>/tags/<uuid:tag_id>")
@operation(
    summary="Take a tag off an item",
    tag="tags",
    response=schemas.ItemTagsOut,
    errors=(401, 403, 404),
)
def untag_item(evidence_id: uuid.UUID, tag_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    tags = tagging.untag_item(
        session, actor, evidence_id, tag_id, keyring=request_scope.keyring()
    )
    return jsonify(_item_tags(evidence_id, tags))


def _item_tags(evidence_id: uuid.UUID, tags: list[Tag]) -> dict[str, object]:
    return schemas.ItemTagsOut(
        evidence_id=evidence_id,
        tags=[schemas.TagRef(id=tag.id, name=tag.name) for tag in tags],
    ).model_dump(mode="json")


@bp.post("/cases/<uuid:case_id>/evidence/bulk")
@operation(
    summary=f"One action on many items (`ids`, or all matching `filter`; at most "
    f"{bulk.MAX_ITEMS}): all or nothing, one custody entry per item changed",
    tag="evidence",
    body=BulkInput,
    response=schemas.BulkOut,
    errors=(401, 403, 404, 409, 422),
)
def bulk_action(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    data = requests.body(BulkInput)
    result = bulk.apply(session, actor, case_id, data, keyring=request_scope.keyring())
    return jsonify(
        schemas.BulkOut(
            action=result.action,
            bulk=uuid.UUID(result.bulk_id),
            changed=[item.id for item in result.changed],
            unchanged=[item.id for item in result.unchanged],
            derived=[item.id for item in result.derived],
        ).model_dump(mode="json")
    )


@bp.get("/cases/<uuid:case_id>/evidence.csv")
@operation(
    summary="The items I may see, filtered as the list, as CSV (UTF-8 with BOM; cells that "
    "a spreadsheet would read as formulas are prefixed with an apostrophe)",
    tag="evidence",
    params=requests.ITEM_FILTERS,
    raw_response=("text/csv", {"type": "string"}),
    errors=(401, 404, 422),
)
def evidence_csv(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    chunks = export.csv_chunks(
        session, actor, case_id, requests.item_filter(), keyring=request_scope.keyring()
    )
    return csv_response(chunks, f"evidence-{case_id}.csv")


def csv_response(chunks: list[bytes], filename: str) -> Response:
    response = Response(chunks, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/incidents/<uuid:incident_id>/tags")
@operation(
    summary="Tag an incident with a tag of the vocabulary, or a new name (a free tag)",
    tag="tags",
    body=TagItemInput,
    response=schemas.IncidentTagsOut,
    errors=(401, 403, 404, 409, 422),
)
def tag_incident(incident_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    data = requests.body(TagItemInput)
    tags = incident_tags.tag_incident(session, actor, incident_id, data)
    return jsonify(_incident_tags(incident_id, tags))


@bp.delete("/incidents/<uuid:incident_id>/tags/<uuid:tag_id>")
@operation(
    summary="Take a tag off an incident",
    tag="tags",
    response=schemas.IncidentTagsOut,
    errors=(401, 403, 404),
)
def untag_incident(incident_id: uuid.UUID, tag_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    tags = incident_tags.untag_incident(session, actor, incident_id, tag_id)
    return jsonify(_incident_tags(incident_id, tags))


def _incident_tags(incident_id: uuid.UUID, tags: list[Tag]) -> dict[str, object]:
    return schemas.IncidentTagsOut(
        incident_id=incident_id,
        tags=[schemas.TagRef(id=tag.id, name=tag.name) for tag in tags],
    ).model_dump(mode="json")
