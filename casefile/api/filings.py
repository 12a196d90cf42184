"""Filings and their exhibits (logic/filings): create, read, change (a filed filing only as
a new version), add, remove and reorder exhibits, and the warnings before an export."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify

from casefile import request_scope
from casefile.api import requests, schemas
from casefile.api.blueprint import bp
from casefile.api.openapi import operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.evidence import metadata
from casefile.logic.filings import exhibits, filings, warnings
from casefile.logic.filings.exhibits import ExhibitInput, ExhibitOrder
from casefile.logic.filings.filings import FilingInput, FilingPatch
from casefile.model import Case, Filing


def filing_body(filing: Filing) -> dict[str, Any]:
    """A filing the caller was authorized to read, its exhibits numbered, in order."""
    session, keyring = request_scope.db_session(), request_scope.keyring()
    case = session.get_one(Case, filing.case_id)
    newer = filings.superseded_by(session, filing)
    return {
        "id": str(filing.id),
        "case_id": str(filing.case_id),
        "title": filing.title,
        "type": filing.type.value,
        "classification": filing.classification.value,
        "classification_basis": filing.classification_basis,
        "language": filing.language,
        "court_document_number": filing.court_document_number,
        "filing_date": filing.filing_date.isoformat() if filing.filing_date else None,
        "status": filing.status.value,
        "version": filing.version,
        "supersedes_id": str(filing.supersedes_id) if filing.supersedes_id else None,
        "superseded_by_id": str(newer.id) if newer is not None else None,
        "exhibit_prefix": exhibits.prefix(filing, case),
        "exhibit_start": filing.exhibit_start,
        "exhibits_version": filing.exhibits_version,
        "created_at": filing.created_at.isoformat(),
        "exhibits": [
            {
                "id": str(exhibit.id),
                "number": exhibits.number(filing, case, exhibit.position),
                "position": exhibit.position,
                "evidence_id": str(exhibit.evidence_id),
                "ern": exhibit.item.ern,
                "title": metadata.reveal(keyring, exhibit.item).title,
                "classification": exhibit.classification.value,
                "description": exhibits.description_of(keyring, exhibit),
            }
            for exhibit in filing.exhibits
        ],
    }


@bp.post("/cases/<uuid:case_id>/filings")
@operation(
    summary="Create a filing (status draft); its type must be one of the case's forum",
    tag="filings",
    body=FilingInput,
    response=schemas.FilingOut,
    status=201,
    errors=(401, 403, 404),
)
def create_filing(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.EDIT_FILINGS)
    data = requests.body(FilingInput)
    filing = filings.create_filing(session, actor, case_id, data)
    return jsonify(filing_body(filing)), 201


@bp.get("/cases/<uuid:case_id>/filings")
@operation(
    summary="The case's filings I may read (every version), oldest first",
    tag="filings",
    response=schemas.FilingList,
)
def list_filings(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    found = filings.list_filings(session, actor, case_id)
    return jsonify({"items": [filing_body(filing) for filing in found]})


@bp.get("/filings/<uuid:filing_id>")
@operation(
    summary="One filing and its exhibits, numbered", tag="filings", response=schemas.FilingOut
)
def get_filing(filing_id: uuid.UUID) -> Response:
    filing = filings.get_filing(request_scope.db_session(), request_scope.actor(), filing_id)
    return jsonify(filing_body(filing))


@bp.patch("/filings/<uuid:filing_id>")
@operation(
    summary="Change a filing or its status (draft → final → filed). A filed filing is frozen: "
    "409 filing_filed, unless `new_version: true`, which makes a new version (201)",
    tag="filings",
    body=FilingPatch,
    response=schemas.FilingOut,
    also=(201,),
    errors=(401, 403, 404, 409),
)
def update_filing(filing_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    data = requests.body(FilingPatch)
    updated = filings.update_filing(session, actor, filing_id, data)
    return jsonify(filing_body(updated.filing)), 201 if updated.new_version else 200


@bp.post("/filings/<uuid:filing_id>/exhibits")
@operation(
    summary="Add an item of the filing's case as its last exhibit",
    tag="filings",
    body=ExhibitInput,
    response=schemas.FilingOut,
    status=201,
    errors=(401, 403, 404, 409),
)
def add_exhibit(filing_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    data = requests.body(ExhibitInput)
    exhibits.add_exhibit(session, actor, filing_id, data, keyring=request_scope.keyring())
    return jsonify(filing_body(filings.get_filing(session, actor, filing_id))), 201


@bp.delete("/filings/<uuid:filing_id>/exhibits/<uuid:exhibit_id>")
@operation(
    summary="Remove an exhibit; those after it move up a number",
    tag="filings",
    response=schemas.FilingOut,
    errors=(401, 403, 404, 409),
)
def remove_exhibit(filing_id: uuid.UUID, exhibit_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    filing = exhibits.remove_exhibit(session, actor, filing_id, exhibit_id)
    return jsonify(filing_body(filing))


@bp.put("/filings/<uuid:filing_id>/exhibits/order")
@operation(
    summary="Put the exhibits in a new order: every exhibit's id once, with the "
    "`exhibits_version` read (409 stale_version if the list changed since)",
    tag="filings",
    body=ExhibitOrder,
    response=schemas.FilingOut,
    errors=(401, 403, 404, 409),
)
def reorder_exhibits(filing_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    data = requests.body(ExhibitOrder)
    filing = exhibits.reorder_exhibits(session, actor, filing_id, data)
    return jsonify(filing_body(filing))


@bp.get("/filings/<uuid:filing_id>/warnings")
@operation(
    summary="What a registry would object to, before an export (ICJ annex pages, missing "
    "translations, restricted items in a public filing, integrity and type problems)",
    tag="filings",
    response=schemas.FilingWarnings,
)
def filing_warnings(filing_id: uuid.UUID) -> Response:
    found = warnings.filing_warnings(
        request_scope.db_session(),
        request_scope.actor(),
        filing_id,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    return jsonify(
        {
            "items": [
                {
                    "code": warning.code,
                    "message": warning.message,
                    "exhibits": warning.exhibits,
                    "total_pages": warning.total_pages,
                }
                for warning in found
            ]
        }
    )
