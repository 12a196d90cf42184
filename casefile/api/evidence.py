"""Evidence: streamed upload, metadata, verified content, the item's custody."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, stream_with_context

from casefile import downloads, request_scope, uploads
from casefile.api import requests, schemas, serializers
from casefile.api.blueprint import bp
from casefile.api.openapi import multipart_schema, operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.custody import reports as custody_reports
from casefile.logic.evidence import (
    deletion,
    derivatives,
    editing,
    grants,
    listing,
    metadata,
    reading,
    registration,
    submission,
)
from casefile.logic.evidence.deletion import DeletionInput, LegalHoldInput
from casefile.logic.evidence.editing import MetadataEdit
from casefile.logic.evidence.grants import GrantInput
from casefile.logic.evidence.submission import EvidenceInput
from casefile.logic.tags import tagging
from casefile.model import Evidence

UPLOAD_FIELDS = frozenset(EvidenceInput.model_fields)


@bp.post("/cases/<uuid:case_id>/evidence")
@operation(
    summary="Upload an item (multipart: file + metadata fields), streamed and encrypted",
    tag="evidence",
    response=schemas.EvidenceOut,
    status=201,
    also=(200,),  # the case holds these bytes already: the existing item, flagged "duplicate"
    errors=(401, 403, 404, 413, 422),
    raw_body=("multipart/form-data", multipart_schema(EvidenceInput)),
)
def upload_evidence(case_id: uuid.UUID) -> tuple[Response, int]:
    # Authorize before reading a byte of the body (reading it streams it into the vault).
    authz.authorize_case(
        request_scope.db_session(), request_scope.actor(), case_id, CaseAction.ADD_EVIDENCE
    )
    fields, part = uploads.one_file_form(UPLOAD_FIELDS)
    data = submission.parse_input(fields)
    result = registration.register_upload(
        request_scope.db_session(),
        request_scope.actor(),
        case_id,
        uploads.streams()[0],
        data,
        filename=part.filename,
        declared_mime=part.mimetype or None,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    body = described(result.item)
    if result.duplicate:
        body["flags"] = [*body["flags"], "duplicate"]
    return jsonify(body), 200 if result.duplicate else 201


@bp.get("/cases/<uuid:case_id>/evidence")
@operation(
    summary="Items of a case that I may see, filtered by the evidence list's filters",
    tag="evidence",
    response=schemas.EvidencePage,
    params=requests.PAGING + requests.ITEM_FILTERS,
    errors=(401, 404, 422),
)
def list_evidence(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)  # before the paging
    page = listing.list_items(
        session,
        actor,
        case_id,
        limit=requests.limit(),
        cursor=requests.cursor(),
        where=requests.item_filter(),
        keyring=request_scope.keyring(),
    )
    hidden = listing.hidden_count(session, actor, case_id)
    names = tagging.tag_names(session, [item.id for item in page.items])
    return jsonify(
        {
            "items": [described(item, names[item.id]) for item in page.items],
            "next": page.next_cursor,
            "hidden_count": hidden,
        }
    )


@bp.get("/evidence/<uuid:evidence_id>")
@operation(summary="An item's metadata", tag="evidence", response=schemas.EvidenceOut)
def get_evidence(evidence_id: uuid.UUID) -> Response:
    item = listing.get_item(request_scope.db_session(), request_scope.actor(), evidence_id)
    return jsonify(described(item))


@bp.patch("/evidence/<uuid:evidence_id>")
@operation(
    summary="Edit an item's collector metadata (title, description, collector fields); "
    "send the `metadata_version` you read as `version`: 409 stale_version if it changed since",
    tag="evidence",
    body=MetadataEdit,
    response=schemas.EvidenceOut,
    errors=(401, 403, 404, 409, 422),
)
def edit_evidence(evidence_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_item(session, actor, evidence_id, CaseAction.ADD_EVIDENCE)
    data = requests.body(MetadataEdit)
    edited = editing.edit_metadata(
        session, actor, evidence_id, data, keyring=request_scope.keyring()
    )
    return jsonify(described(edited.item))


def described(item: Evidence, tags: list[str] | None = None) -> dict[str, Any]:
    """An item the caller was authorized to see, its sealed metadata opened, with its tags
    (read here unless given) and the item it was made from if the caller may see that."""
    session = request_scope.db_session()
    if tags is None:
        tags = tagging.tag_names(session, [item.id])[item.id]
    original = derivatives.original_of(session, request_scope.actor(), item)
    return serializers.evidence(
        item,
        metadata.reveal(request_scope.keyring(), item),
        tags,
        derived_from=original.id if original is not None else None,
    )


@bp.get("/evidence/<uuid:evidence_id>/content")
@operation(
    summary=(
        "The item's bytes, decrypted and verified as they stream (always an attachment, "
        "named ERN_original-name.ext)"
    ),
    tag="evidence",
    raw_response=("application/octet-stream", {"type": "string", "format": "binary"}),
    errors=(401, 404, 409),
)
def evidence_content(evidence_id: uuid.UUID) -> Response:
    item, chunks = reading.read_content(
        request_scope.db_session(),
        request_scope.actor(),
        evidence_id,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    response = Response(stream_with_context(chunks), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(item.size)
    original = metadata.reveal(request_scope.keyring(), item).original_filename
    response.headers["Content-Disposition"] = downloads.attachment(item, original)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Casefile-SHA256"] = item.sha256
    return response


@bp.get("/evidence/<uuid:evidence_id>/custody")
@operation(
    summary="The item's custody entries, a page at a time, each with an inclusion proof",
    tag="custody",
    response=schemas.CustodyReportPage,
    params=requests.PAGING,
    errors=(401, 404, 422),
)
def evidence_custody(evidence_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_item(session, actor, evidence_id, CaseAction.VIEW_EVIDENCE)  # before paging
    return jsonify(
        custody_reports.item_report_page(
            session,
            actor,
            evidence_id,
            request_scope.custody_keys(),
            limit=requests.limit(),
            cursor=requests.cursor(),
        )
    )


@bp.delete("/evidence/<uuid:evidence_id>")
@operation(
    summary="Delete an item (leads only; refused under legal hold): destroys its data key. "
    "The items made from it (translations, redacted versions, recursively) are deleted with "
    "it, and the stored exports holding any of them are purged (their bundles destroyed); "
    "409 naming a derivative the caller does not see, nothing deleted",
    tag="evidence",
    body=DeletionInput,
    response=schemas.EvidenceOut,
    errors=(401, 403, 404, 409),
)
def delete_evidence(evidence_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_item(session, actor, evidence_id, CaseAction.DELETE_EVIDENCE)
    data = requests.body(DeletionInput)
    item = deletion.delete_item(session, actor, evidence_id, data, store=request_scope.blobs())
    return jsonify(described(item))


@bp.put("/cases/<uuid:case_id>/legal-hold")
@operation(
    summary="Put a case under legal hold, or lift it (leads only)",
    tag="cases",
    body=LegalHoldInput,
    response=schemas.CaseOut,
    errors=(401, 403, 404),
)
def set_legal_hold(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.SET_LEGAL_HOLD)
    data = requests.body(LegalHoldInput)
    case = deletion.set_legal_hold(session, actor, case_id, data)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    return jsonify(serializers.case(case, role))


@bp.post("/evidence/<uuid:evidence_id>/grants")
@operation(
    summary="Give a member access to a restricted item (leads only)",
    tag="evidence",
    body=GrantInput,
    response=schemas.GrantOut,
    status=201,
    errors=(401, 403, 404, 409),
)
def grant_access(evidence_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    grants.authorize_management(session, actor, evidence_id)
    data = requests.body(GrantInput)
    row = grants.grant(session, actor, evidence_id, data)
    return jsonify({"evidence_id": str(row.evidence_id), "user_id": str(row.user_id)}), 201


@bp.delete("/evidence/<uuid:evidence_id>/grants/<uuid:user_id>")
@operation(
    summary="Withdraw a member's access to a restricted item (leads only), and their access "
    "to every item made from it (translations, redacted versions), one custody entry each",
    tag="evidence",
    status=204,
    errors=(401, 403, 404, 409),
)
def revoke_access(evidence_id: uuid.UUID, user_id: uuid.UUID) -> tuple[str, int]:
    grants.revoke(request_scope.db_session(), request_scope.actor(), evidence_id, user_id)
    return "", 204
