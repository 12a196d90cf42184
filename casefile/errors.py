"""Domain exceptions and HTTP errors mapped to responses, in one place: the JSON envelope
under /api/, an HTML page elsewhere. Nothing here ever shows a stack trace to a client.

`ANSWERS` is the one table from a domain error's class to its HTTP answer (status, the `code`
of the JSON error body, and Retry-After where sending the request again later can work); the
API, the web pages and the tus endpoints all answer through it. `FAILURE_ANSWERS` does the
same for a dependency that failed (casefile/failures.py). The logic layer knows none of it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response as BaseResponse

from casefile import failures
from casefile.api.openapi import API_PREFIX
from casefile.api.requests import MalformedRequest, UnsupportedMediaType
from casefile.api.tus import NotOffsetStream, UnsupportedTusVersion
from casefile.api.tus_headers import MalformedUpload
from casefile.logic import retry
from casefile.logic.backup import BackupError
from casefile.logic.errors import (
    AccountLocked,
    Busy,
    CodeAlreadyUsed,
    Conflict,
    DomainError,
    Forbidden,
    LoginRefused,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from casefile.logic.evidence.editing import StaleVersion
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.logic.evidence.tus import ChecksumMismatch, OffsetMismatch, UploadTooLarge
from casefile.logic.filings.filings import FilingFrozen
from casefile.logic.frameworks.document import FrameworkFileError
from casefile.uploads import MalformedBody

log = logging.getLogger("casefile")

RetryAfter = Callable[[BaseException], int]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer to an error: its status, the `code` of the JSON error body, and how many
    seconds the client should wait before sending the same request again (Retry-After), if
    that can help."""

    status: int
    code: str
    retry_after: RetryAfter | None = None


def _after(seconds: int) -> RetryAfter:
    return lambda _error: seconds


def _throttle_wait(error: BaseException) -> int:
    return cast(TooManyAttempts, error).retry_after  # how long the throttle holds the client


ANSWERS: dict[type[DomainError], Answer] = {
    DomainError: Answer(400, "error"),
    # casefile/logic/errors.py
    NotFound: Answer(404, "not_found"),
    Forbidden: Answer(403, "forbidden"),
    Unauthenticated: Answer(401, "unauthenticated"),
    Conflict: Answer(409, "conflict"),
    ValidationFailed: Answer(422, "validation_error"),
    LoginRefused: Answer(401, "login_refused"),
    CodeAlreadyUsed: Answer(401, "code_already_used"),
    TooManyAttempts: Answer(429, "too_many_requests", retry_after=_throttle_wait),
    AccountLocked: Answer(429, "account_locked", retry_after=_throttle_wait),
    Busy: Answer(503, "busy", retry_after=_after(2)),
    # the domains'
    IntegrityFailure: Answer(500, "integrity_failure"),
    BackupError: Answer(400, "backup_error"),
    UploadTooLarge: Answer(413, "payload_too_large"),
    OffsetMismatch: Answer(409, "offset_mismatch"),
    StaleVersion: Answer(409, "stale_version"),
    ChecksumMismatch: Answer(460, "checksum_mismatch"),  # tus checksum extension
    FrameworkFileError: Answer(422, "invalid_framework"),
    FilingFrozen: Answer(409, "filing_filed"),
    # the request layer's own (casefile/api/requests.py, api/tus.py, api/tus_headers.py,
    # uploads.py)
    MalformedRequest: Answer(400, "bad_request"),
    MalformedUpload: Answer(400, "bad_request"),
    UnsupportedMediaType: Answer(415, "unsupported_media_type"),
    UnsupportedTusVersion: Answer(412, "unsupported_tus_version"),
    NotOffsetStream: Answer(415, "unsupported_media_type"),
    MalformedBody: Answer(400, "bad_request"),
}

FAILURE_ANSWERS: dict[failures.Failure, Answer] = {
    failures.DATABASE_UNAVAILABLE: Answer(503, "unavailable", retry_after=_after(5)),
    failures.STORAGE_UNAVAILABLE: Answer(503, "unavailable", retry_after=_after(30)),
    failures.THROTTLE_UNAVAILABLE: Answer(503, "unavailable", retry_after=_after(10)),
    failures.STORAGE_FULL: Answer(507, "storage_full"),  # sending it again will not help
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "busy",
    507: "storage_full",
}


def answer_for(error: DomainError) -> Answer:
    """The error's answer: its class's row, or its nearest ancestor's for a class the table
    does not name (a test keeps every class in the code base named)."""
    for cls in type(error).__mro__:
        if cls in ANSWERS:
            return ANSWERS[cls]
    return ANSWERS[DomainError]


def _is_api() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _rollback() -> None:
    from casefile import request_scope  # noqa: PLC0415 - avoids an import cycle at start-up

    request_scope.close_db_session()


def json_error(status: int, code: str, message: str, **extra: object) -> tuple[Response, int]:
    body: dict[str, object] = {"code": code, "message": message, **extra}
    return jsonify({"error": body}), status


def _page(status: int, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, message=message), status


def _respond(
    answer: Answer,
    error: BaseException,
    message: str,
    page_message: Callable[[], str],
    **extra: object,
) -> BaseResponse:
    """The JSON envelope under /api/ (with `message`), an HTML page in the UI's language
    elsewhere; Retry-After if the answer has one."""
    if _is_api():
        response, _ = json_error(answer.status, answer.code, message, **extra)
    else:
        page, _ = _page(answer.status, page_message())
        response = Response(page, mimetype="text/html")
    response.status_code = answer.status
    if answer.retry_after is not None:
        response.headers["Retry-After"] = str(answer.retry_after(error))
    return response


def handle_domain(error: DomainError) -> BaseResponse:
    _rollback()
    return _domain_response(error)


def _domain_response(error: DomainError) -> BaseResponse:
    answer = answer_for(error)
    if isinstance(error, Unauthenticated) and not _is_api():
        return redirect(url_for("web.auth.login", next=request.full_path))

    def page_message() -> str:
        if isinstance(error, Busy):
            return str(gettext("The database is busy. Please try again in a moment."))
        return error.message

    extra = {"fields": error.fields} if isinstance(error, ValidationFailed) else {}
    return _respond(answer, error, error.message, page_message, **extra)


def _failure(failure: failures.Failure, error: BaseException) -> BaseResponse:
    """503 `unavailable` (with Retry-After) or 507 `storage_full`, as FAILURE_ANSWERS says."""

    def page_message() -> str:
        if failure is failures.STORAGE_FULL:
            return str(gettext("The evidence store is out of space. Nothing was stored."))
        return str(gettext("A service Casefile needs is unavailable. Please try again later."))

    return _respond(FAILURE_ANSWERS[failure], error, failure.message, page_message)


def handle_csrf(error: CSRFError) -> tuple[Response, int] | tuple[str, int]:
    del error  # its text is Flask-WTF's, in English only; the page says it in the UI language
    _rollback()
    message = "the form's security token is missing or expired; reload the page and retry"
    if _is_api():
        return json_error(400, "csrf_failed", message)
    return _page(
        400,
        gettext("The form expired or was not sent from this site. Reload the page and try again."),
    )


def handle_http(
    error: HTTPException,
) -> tuple[Response, int] | tuple[str, int] | tuple[str, int, list[tuple[str, str]]] | BaseResponse:
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    _rollback()
    # Keep what the status itself requires, e.g. Allow on a 405 (RFC 9110 §15.5.6).
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    if _is_api():
        message = error.description or error.name
        if status == 404:
            message = "not found"
        response, _ = json_error(status, HTTP_CODES.get(status, "error"), message)
        response.headers.extend(headers)
        return response, status
    page, _ = _page(status, error.name)
    return page, status, headers


def handle_unexpected(error: Exception) -> tuple[Response, int] | tuple[str, int] | BaseResponse:
    _rollback()
    if retry.is_busy(error):  # a lock held elsewhere, a deadlock outside a retried transaction
        log.warning("database busy on %s %s: %s", request.method, request.path, error)
        return _domain_response(Busy())
    failure = failures.classify(error)
    if failure is not None:  # a dependency down or full: nothing was stored (see failures.py)
        log.warning(
            "%s on %s %s: %s", failure.name, request.method, request.path, error, exc_info=error
        )
        return _failure(failure, error)
    log.error(  # called from Flask's handler, with the exception in hand
        "unexpected error on %s %s", request.method, request.path, exc_info=error
    )
    if _is_api():
        return json_error(500, "internal_error", "an internal error occurred; it has been logged")
    return _page(500, InternalServerError.description or "Internal Server Error")


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain)
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
