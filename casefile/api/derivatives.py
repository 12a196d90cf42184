"""Derivatives of an item: an uploaded translation, a redacted version made on the server
(docs/derivatives.md)."""

from __future__ import annotations

import uuid

from flask import Response, jsonify

from casefile import request_scope, uploads
from casefile.api import requests, schemas
from casefile.api.blueprint import bp
from casefile.api.evidence import described
from casefile.api.openapi import multipart_schema, operation
from casefile.logic.evidence import derivatives
from casefile.logic.evidence.derivatives import RedactionInput, TranslationInput

TRANSLATION_FIELDS = frozenset(TranslationInput.model_fields)


@bp.post("/evidence/<uuid:evidence_id>/translations")
@operation(
    summary="Upload a translation of an item (multipart: file + language, translator, "
    "certification, title): a new item of the case linked to it",
    tag="evidence",
    response=schemas.EvidenceOut,
    status=201,
    errors=(401, 403, 404, 409, 413, 422),
    raw_body=("multipart/form-data", multipart_schema(TranslationInput)),
)
def upload_translation(evidence_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    # Authorize before reading a byte of the body (reading it streams it into the vault).
    derivatives.authorize(session, actor, evidence_id)
    # A refusal leaves the streamed file to uploads.abort_unfinished (teardown): no blob stays.
    fields, part = uploads.one_file_form(TRANSLATION_FIELDS)
    data = derivatives.parse_translation(fields)
    item = derivatives.translate(
        session,
        actor,
        evidence_id,
        uploads.streams()[0],
        data,
        filename=part.filename,
        declared_mime=part.mimetype or None,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    return jsonify(described(item)), 201


@bp.post("/evidence/<uuid:evidence_id>/redactions")
@operation(
    summary="Make a redacted version of a PDF or an image: boxes (fractions of the page as "
    "shown, top-left origin) whose content is removed from the file, and a reason code; a new "
    "item of the case linked to it",
    tag="evidence",
    body=RedactionInput,
    response=schemas.EvidenceOut,
    status=201,
    errors=(401, 403, 404, 409, 422),
)
def make_redaction(evidence_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    derivatives.authorize(session, actor, evidence_id)
    data = requests.body(RedactionInput)
    item = derivatives.redact(
        session,
        actor,
        evidence_id,
        data,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    return jsonify(described(item)), 201
