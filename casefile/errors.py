"""Domain exceptions and HTTP errors mapped to responses, in one place: the JSON envelope
under /api/, an HTML page elsewhere. Nothing here ever shows a stack trace to a client."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response as BaseResponse

from casefile import failures
from casefile.api.openapi import API_PREFIX
from casefile.logic import retry
from casefile.logic.errors import (
    Busy,
    DomainError,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)

log = logging.getLogger("casefile")

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


def handle_domain(
    error: DomainError,
) -> tuple[Response, int] | tuple[str, int] | tuple[str, int, dict[str, str]] | BaseResponse:
    _rollback()
    if isinstance(error, Busy):
        return _busy(error)
    if _is_api():
        extra = {"fields": error.fields} if isinstance(error, ValidationFailed) else {}
        response, status = json_error(error.status, error.code, error.message, **extra)
        if isinstance(error, TooManyAttempts):
            response.headers["Retry-After"] = str(error.retry_after)
        return response, status
    if isinstance(error, Unauthenticated):
        return redirect(url_for("web.auth.login", next=request.full_path))
    if isinstance(error, TooManyAttempts):
        page, status = _page(error.status, error.message)
        return page, status, {"Retry-After": str(error.retry_after)}
    return _page(error.status, error.message)


def _busy(error: Busy) -> BaseResponse:
    """503 with Retry-After: the client may send the same request again shortly."""
    if _is_api():
        response, _ = json_error(error.status, error.code, error.message)
    else:
        page, _ = _page(
            error.status, gettext("The database is busy. Please try again in a moment.")
        )
        response = Response(page, mimetype="text/html")
    response.status_code = error.status
    response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def _failure(failure: failures.Failure) -> BaseResponse:
    """503 `unavailable` (with Retry-After) or 507 `storage_full`, as failures.py decides."""
    if _is_api():
        response, _ = json_error(failure.status, failure.code, failure.message)
    else:
        if failure.status == 507:
            message = gettext("The evidence store is out of space. Nothing was stored.")
        else:
            message = gettext("A service Casefile needs is unavailable. Please try again later.")
        page, _ = _page(failure.status, message)
        response = Response(page, mimetype="text/html")
    response.status_code = failure.status
    if failure.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(failure.retry_after_seconds)
    return response


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
        return _busy(Busy())
    failure = failures.classify(error)
    if failure is not None:  # a dependency down or full: nothing was stored (see failures.py)
        log.warning(
            "%s on %s %s: %s", failure.code, request.method, request.path, error, exc_info=error
        )
        return _failure(failure)
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
