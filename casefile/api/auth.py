"""Who is calling the API: a bearer token, or the browser session (which then needs CSRF)."""

from __future__ import annotations

from flask import current_app, g, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from casefile import request_scope
from casefile.logic.accounts import tokens
from casefile.logic.errors import Unauthenticated

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _is_public() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    doc = getattr(view, "__openapi__", None)
    return bool(getattr(doc, "public", False))


def authenticate_request() -> None:
    if _is_public():
        # Public routes (the OpenAPI document, the verifier key, tus OPTIONS) answer everyone
        # alike and do not look at credentials: a stale token does not make them fail.
        return
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'")
        g.api_user = tokens.user_for_token(
            request_scope.db_session(),
            value.strip(),
            throttle=request_scope.throttle(),
            client_address=request_scope.client_address(),
        )
        return
    if request_scope.actor() is None:
        # Before the body is read: an anonymous caller learns nothing about its request.
        raise Unauthenticated("sign in first")
    if request.method not in SAFE_METHODS:
        # A browser session is a cookie the browser sends on its own: demand the CSRF token,
        # from the header only (reading a form field would parse an upload before authz).
        token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
        try:
            validate_csrf(token)
        except ValidationError as error:
            raise CSRFError(str(error)) from None
