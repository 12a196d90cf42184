"""Resumable uploads over tus 1.0.0: core, creation, checksum, termination, expiration.

POST   /cases/{case_id}/uploads   create (Upload-Length, Upload-Metadata) → 201 + Location
HEAD   /uploads/{upload_id}       Upload-Offset, Upload-Length (and the item once registered)
PATCH  /uploads/{upload_id}       append at Upload-Offset (409 if it is not the current offset;
                                  460 if Upload-Checksum does not match: nothing is kept)
DELETE /uploads/{upload_id}       terminate: the upload and its chunks are removed
OPTIONS either path               what this server supports (no sign-in needed)

A PATCH body may be of any size up to what the upload still needs (413 beyond it; the upload's
length is at most Tus-Max-Size, the largest item accepted): it streams into encrypted chunks,
never held whole in memory or spooled to disk. A PATCH cut off mid-body keeps its whole
chunks (casefile/logic/evidence/tus.py): HEAD says where to resume.

Upload-Metadata keys other than filename/name, filetype/type and the evidence upload's fields
(e.g. Uppy's relativePath) are kept with the upload and answered by HEAD, but do not reach the
item; like every value they must be UTF-8 text (at most 32 such keys, 1024 characters each).

The request that delivers the last byte registers the item; its response (and HEAD after it)
carries `X-Casefile-Evidence: <item id>`. Only the account that created an upload sees it.
"""

from __future__ import annotations

import re
import uuid

from flask import Response, request, url_for
from werkzeug.http import http_date

from casefile import request_scope
from casefile.api import tus_headers
from casefile.api.blueprint import bp
from casefile.api.openapi import MAX_INT64, Param, operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import DomainError
from casefile.logic.evidence import tus
from casefile.model.tus_upload import TusUpload

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
UPLOAD = "/uploads/<uuid:upload_id>"
CREATE = "/cases/<uuid:case_id>/uploads"
DIGITS = re.compile(r"[0-9]{1,19}")
ENDPOINTS = frozenset(
    {"api.create_upload", "api.upload_status", "api.append_upload", "api.terminate_upload",
     "api.tus_options"}
)  # fmt: skip


BASE64 = r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"  # padded, RFC 4648
METADATA_PAIR = rf"[!-+\--~]+( {BASE64})?"  # a printable key without ",", then base64
BYTES = {"type": "integer", "minimum": 0, "maximum": MAX_INT64}
TUS_RESUMABLE = Param(
    "Tus-Resumable",
    {"type": "string", "enum": [TUS_VERSION]},
    "the tus protocol version (412 without it)",
    required=True,
    where="header",
)
UPLOAD_LENGTH = Param(
    "Upload-Length", BYTES, "the item's size in bytes", required=True, where="header"
)
UPLOAD_METADATA = Param(
    "Upload-Metadata",
    {"type": "string", "pattern": f"^{METADATA_PAIR}(,{METADATA_PAIR})*$"},
    "comma-separated `key base64(value)` pairs: filename, filetype and the evidence upload's "
    "fields (title, description, sensitivity, ...); other keys (e.g. relativePath) are kept "
    "with the upload, not the item: UTF-8 text, at most 32 of 1024 characters",
    where="header",
)
UPLOAD_OFFSET = Param(
    "Upload-Offset",
    BYTES,
    "where this chunk starts: the upload's offset",
    required=True,
    where="header",
)
UPLOAD_CHECKSUM = Param(
    "Upload-Checksum",
    {"type": "string", "pattern": r"^(sha1|sha256) [A-Za-z0-9+/]+={0,2}$"},
    "`sha1|sha256 <base64 digest>` of this chunk (460 if it does not match)",
    where="header",
)


class UnsupportedTusVersion(DomainError):
    """No `Tus-Resumable: 1.0.0` header."""


class NotOffsetStream(DomainError):
    """A PATCH body not sent as application/offset+octet-stream."""


def _require_tus() -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise UnsupportedTusVersion(f"send 'Tus-Resumable: {TUS_VERSION}'")


def _number(name: str) -> int:
    value = request.headers.get(name, "").strip()
    if not DIGITS.fullmatch(value):
        raise tus_headers.MalformedUpload(f"{name} must be a whole number of bytes")
    return int(value)


def _max_size() -> int:
    return request_scope.settings().evidence_max_mb * 1024 * 1024


def _empty(status: int) -> Response:
    response = Response(status=status)
    del response.headers["Content-Type"]  # tus answers carry no body
    return response


def _state_headers(response: Response, upload: TusUpload) -> Response:
    response.headers["Upload-Offset"] = str(upload.received)
    response.headers["Upload-Expires"] = http_date(upload.expires_at)
    if upload.evidence_id is not None:
        response.headers["X-Casefile-Evidence"] = str(upload.evidence_id)
        if upload.duplicate:
            response.headers["X-Casefile-Duplicate"] = "true"
    return response


@bp.after_request
def add_protocol_headers(response: Response) -> Response:
    """Every tus response, errors included, names the protocol version; none is cached."""
    if request.endpoint not in ENDPOINTS:
        return response
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 412:
        response.headers["Tus-Version"] = TUS_VERSION
    if response.status_code == 413:  # too large for an item, or for what the upload needs
        response.headers["Tus-Max-Size"] = str(_max_size())
    if response.status_code == 460:
        response.status = "460 Checksum Mismatch"
    return response


@bp.route(CREATE, methods=["OPTIONS"])
@bp.route(UPLOAD, methods=["OPTIONS"])
@operation(
    summary="tus: what this server supports",
    tag="uploads",
    public=True,
    status=204,
    errors=(404,),  # only for a path that is not one (an id that is not a UUID)
)
def tus_options(**_ids: uuid.UUID) -> Response:
    response = _empty(204)
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = TUS_EXTENSIONS
    response.headers["Tus-Max-Size"] = str(_max_size())
    response.headers["Tus-Checksum-Algorithm"] = ",".join(tus.CHECKSUM_ALGORITHMS)
    return response


@bp.route(CREATE, methods=["POST"], provide_automatic_options=False)
@operation(
    summary="Start a resumable (tus) upload of an item: Upload-Length and Upload-Metadata "
    "(filename, filetype and the evidence upload's fields, base64) → 201 with Location",
    tag="uploads",
    status=201,
    params=(TUS_RESUMABLE, UPLOAD_LENGTH, UPLOAD_METADATA),
    errors=(400, 401, 403, 404, 412, 413, 422),
)
def create_upload(case_id: uuid.UUID) -> Response:
    _require_tus()
    # Who may not add evidence to this case learns nothing from their headers' errors.
    authz.authorize_case(
        request_scope.db_session(), request_scope.actor(), case_id, CaseAction.ADD_EVIDENCE
    )
    if "Upload-Defer-Length" in request.headers:
        raise tus_headers.MalformedUpload(
            "Upload-Defer-Length is not supported; send Upload-Length"
        )
    upload = tus.create(
        request_scope.db_session(),
        request_scope.actor(),
        case_id,
        length=_number("Upload-Length"),
        metadata=tus_headers.parse_metadata(request.headers.get("Upload-Metadata")),
        max_size=_max_size(),
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    response = _state_headers(_empty(201), upload)
    response.headers["Location"] = url_for("api.append_upload", upload_id=upload.id)
    return response


@bp.route(UPLOAD, methods=["HEAD"], provide_automatic_options=False)
@operation(
    summary="tus: an upload's offset and length",
    tag="uploads",
    params=(TUS_RESUMABLE,),
    errors=(401, 404, 412),
)
def upload_status(upload_id: uuid.UUID) -> Response:
    _require_tus()
    upload = tus.get(request_scope.db_session(), request_scope.actor(), upload_id)
    response = _state_headers(_empty(200), upload)
    response.headers["Upload-Length"] = str(upload.length)
    fields = tus.fields(upload, request_scope.keyring())
    if fields:
        response.headers["Upload-Metadata"] = tus_headers.encode_metadata(fields)
    return response


@bp.route(UPLOAD, methods=["PATCH"], provide_automatic_options=False)
@operation(
    summary="tus: append the body (application/offset+octet-stream) at Upload-Offset; "
    "Upload-Checksum 'sha1|sha256 <base64>' is verified first (460 on mismatch)",
    tag="uploads",
    raw_body=("application/offset+octet-stream", {"type": "string", "format": "binary"}),
    status=204,
    params=(TUS_RESUMABLE, UPLOAD_OFFSET, UPLOAD_CHECKSUM),
    errors=(400, 401, 403, 404, 409, 412, 413, 415, 460),
)
def append_upload(upload_id: uuid.UUID) -> Response:
    _require_tus()
    # Only the upload's creator gets past here; anyone else's malformed headers are a 404 too.
    tus.get(request_scope.db_session(), request_scope.actor(), upload_id)
    if request.mimetype != OFFSET_CONTENT_TYPE:
        raise NotOffsetStream(f"send the bytes as {OFFSET_CONTENT_TYPE}")
    offset = _number("Upload-Offset")
    checksum = tus_headers.parse_checksum(request.headers.get("Upload-Checksum"))
    # A body of any size streams into the upload's encrypted chunks (tus clients send a whole
    # file in one PATCH by default); the upload's own length, at most Tus-Max-Size, bounds it.
    # One byte more: a body without Content-Length is read one byte past what the upload
    # needs, to find its end (Werkzeug refuses any read past the limit, even at the end).
    request.max_content_length = _max_size() + 1
    upload = tus.receive(
        request_scope.db_session(),
        request_scope.actor(),
        upload_id,
        offset=offset,
        body=request.stream,  # read here, after authentication and the offset check
        content_length=request.content_length,
        checksum=checksum,
        store=request_scope.blobs(),
        keyring=request_scope.keyring(),
    )
    return _state_headers(_empty(204), upload)


@bp.route(UPLOAD, methods=["DELETE"], provide_automatic_options=False)
@operation(
    summary="tus termination: remove an unfinished upload and its stored chunks",
    tag="uploads",
    status=204,
    params=(TUS_RESUMABLE,),
    errors=(401, 404, 409, 412),
)
def terminate_upload(upload_id: uuid.UUID) -> Response:
    _require_tus()
    tus.terminate(
        request_scope.db_session(), request_scope.actor(), upload_id, request_scope.blobs()
    )
    return _empty(204)
