"""The custody log: checkpoints, the public key, consistency proofs, case activity."""

from __future__ import annotations

import uuid

from flask import Response, jsonify

from casefile import request_scope
from casefile.api import requests, schemas
from casefile.api.blueprint import bp
from casefile.api.openapi import MAX_INT64, Param, operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import reports as custody_reports
from casefile.logic.custody import transfers
from casefile.logic.custody.transfers import TransferInput
from casefile.logic.errors import NotFound

TREE_SIZE = {"type": "integer", "minimum": 0, "maximum": MAX_INT64}
SIGNED_NOTE = ("text/plain", {"type": "string"})


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})


@bp.get("/custody/checkpoint")
@operation(
    summary="The latest signed checkpoint (C2SP signed note)",
    tag="custody",
    raw_response=SIGNED_NOTE,
    errors=(401, 404),
)
def latest_checkpoint() -> Response:
    authz.require_active(request_scope.actor())
    checkpoint = custody_checkpoints.latest_checkpoint(request_scope.db_session())
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet")
    return _text(checkpoint.note)


@bp.get("/custody/public-key")
@operation(
    summary="The checkpoint verifier key (name+keyid+base64)",
    tag="custody",
    public=True,
    raw_response=SIGNED_NOTE,
    errors=(404,),
)
def public_key() -> Response:
    keys = request_scope.custody_keys()
    if keys is None:
        raise NotFound("this instance has no checkpoint signing key")
    return _text(keys.verifier_key + "\n")


@bp.get("/custody/checkpoints")
@operation(
    summary="Signed checkpoints from a tree size on",
    tag="custody",
    response=schemas.CheckpointList,
    params=(Param("from", TREE_SIZE, "smallest tree size to list (default 0)"),),
    errors=(401, 422),
)
def list_checkpoints() -> Response:
    authz.require_active(request_scope.actor())
    start = requests.int_arg("from", required=False)
    rows = custody_checkpoints.list_checkpoints(request_scope.db_session(), start=start)
    return jsonify(
        {
            "items": [
                {
                    "size": row.size,
                    "time": row.time.isoformat(),
                    "origin": row.origin,
                    "root": row.root.hex(),
                    "note": row.note,
                }
                for row in rows
            ]
        }
    )


@bp.get("/custody/consistency")
@operation(
    summary="Consistency proof between two signed checkpoints (RFC 9162 2.1.4)",
    tag="custody",
    response=schemas.ConsistencyProof,
    params=(
        Param("old", TREE_SIZE, "older checkpoint size", required=True),
        Param("new", TREE_SIZE, "newer checkpoint size", required=True),
    ),
    errors=(401, 404, 422),
)
def consistency() -> Response:
    authz.require_active(request_scope.actor())
    old, new = requests.int_arg("old"), requests.int_arg("new")
    proof = custody_checkpoints.consistency_proof(request_scope.db_session(), old, new)
    return jsonify({"old": old, "new": new, "hashes": [node.hex() for node in proof]})


@bp.get("/cases/<uuid:case_id>/custody")
@operation(
    summary="A case's custody entries, a page at a time, each with its inclusion proof",
    tag="custody",
    response=schemas.CustodyReportPage,
    params=requests.PAGING,
    errors=(401, 404, 422),
)
def case_custody(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW)  # before the paging
    report = custody_reports.case_report_page(
        session,
        actor,
        case_id,
        request_scope.custody_keys(),
        limit=requests.limit(),
        cursor=requests.cursor(),
    )
    return jsonify(report)


@bp.post("/cases/<uuid:case_id>/custody/transfers")
@operation(
    summary="Record a transfer of custody of physical media or an original",
    tag="custody",
    body=TransferInput,
    response=schemas.TransferRecorded,
    status=201,
    errors=(401, 403, 404),
)
def record_transfer(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    # Who may not record transfers in this case learns nothing from their body's errors.
    authz.authorize_case(session, actor, case_id, CaseAction.RECORD_TRANSFER)
    data = requests.body(TransferInput)
    written = [
        {**custody_entries.entry_json(entry), "leaf_hash": entry.leaf_hash.hex()}
        for entry in transfers.record_transfer(session, actor, case_id, data)
    ]
    # The first entry's fields at the top, as before transfers could name several items.
    return jsonify({**written[0], "entries": written}), 201
