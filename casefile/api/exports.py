"""Exports of a filing as a court bundle, run as background jobs (logic/export/jobs.py):
ask for one (202), watch it, list a filing's, download the finished zip."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request, url_for

from casefile import downloads, jobs, request_scope
from casefile.api import schemas
from casefile.api.blueprint import bp
from casefile.api.openapi import operation
from casefile.api.requests import body as json_body
from casefile.logic.export import jobs as export_jobs
from casefile.model import Export, ExportStatus


def export_body(export: Export) -> dict[str, Any]:
    done = export.status == ExportStatus.DONE
    return {
        "id": str(export.id),
        "filing_id": str(export.filing_id),
        "status": export.status.value,
        "progress": {"done": export.progress_done, "total": export.progress_total,
                     "stage": export.stage},
        "error": export.error,
        "warnings": export_jobs.warnings_of(export),
        "created_at": export.created_at.isoformat(),
        "started_at": export.started_at.isoformat() if export.started_at else None,
        "finished_at": export.finished_at.isoformat() if export.finished_at else None,
        "size": export.size,
        "sha256": export.sha256,
        "tagmanifest_sha256": export.tagmanifest_sha256,
        "age_recipients": export_jobs.recipients_of(export),
        "download_url": url_for("api.download_export", export_id=export.id) if done else None,
    }


@bp.post("/filings/<uuid:filing_id>/exports")
@operation(
    summary="Export the filing as a court bundle (a BagIt zip), as a background job: 202 with "
    "the export queued. The body is optional: `age_recipients` (age public keys) encrypts "
    "the zip to them (downloaded as .zip.age). Refused (422) for a filing with no exhibits "
    "or a bad age key, nothing queued; 409 if an exhibit was deleted",
    tag="exports",
    body=schemas.ExportIn,
    body_required=False,
    response=schemas.ExportOut,
    status=202,
    errors=(401, 403, 404, 409, 422),
)
def create_export(filing_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    # The body is optional: none (or an empty one) is a plain zip, as before it existed.
    asked = json_body(schemas.ExportIn) if request.get_data(cache=True) else schemas.ExportIn()
    export = export_jobs.request_export(
        session, actor, filing_id, store=request_scope.blobs(), keyring=request_scope.keyring(),
        age_recipients=asked.age_recipients,
    )
    body = export_body(export)
    session.commit()
    jobs.jobs().enqueue_export(export.id)
    response = jsonify(body)
    response.headers["Location"] = url_for("api.get_export", export_id=export.id)
    return response, 202


@bp.get("/filings/<uuid:filing_id>/exports")
@operation(
    summary="The filing's exports, newest first", tag="exports", response=schemas.ExportList,
    errors=(401, 403, 404),
)
def list_exports(filing_id: uuid.UUID) -> Response:
    found = export_jobs.list_exports(request_scope.db_session(), request_scope.actor(), filing_id)
    return jsonify({"items": [export_body(export) for export in found]})


@bp.get("/exports/<uuid:export_id>")
@operation(
    summary="An export: its status (queued, running, done, failed; purged: its bundle "
    "destroyed because an item it held was deleted, `error` says which), progress, error, the "
    "filing's warnings when it was asked for, and the result's size and digests",
    tag="exports",
    response=schemas.ExportOut,
    errors=(401, 403, 404),
)
def get_export(export_id: uuid.UUID) -> Response:
    export = export_jobs.get_export(request_scope.db_session(), request_scope.actor(), export_id)
    return jsonify(export_body(export))


@bp.get("/exports/<uuid:export_id>/download")
@operation(
    summary="The finished bundle (a zip; application/octet-stream, a .zip.age, when it was "
    "encrypted with age), decrypted from storage as it streams; 409 until the export is "
    "done, and once it was purged. Each exhibit gets a `downloaded` custody entry naming the "
    "export",
    tag="exports",
    raw_response=("application/zip", {"type": "string", "format": "binary"}),
    raw_response_also=("application/octet-stream",),  # export_jobs.media_type: an age file
    errors=(401, 403, 404, 409),
)
def download_export(export_id: uuid.UUID) -> Response:
    export, chunks = export_jobs.open_download(
        request_scope.db_session(),
        request_scope.actor(),
        export_id,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
        record=request.method == "GET",
    )
    return downloads.export_response(export, chunks)
