"""The caller's own account and API tokens."""

from __future__ import annotations

import uuid

from flask import Response, jsonify
from flask_login import login_user

from casefile import request_scope
from casefile.api import schemas, serializers
from casefile.api.blueprint import bp
from casefile.api.openapi import operation
from casefile.api.requests import body
from casefile.logic import authz
from casefile.logic.accounts import accounts, tokens


@bp.get("/me")
@operation(summary="The signed-in account", tag="me", response=schemas.UserOut, errors=(401,))
def get_me() -> Response:
    return jsonify(serializers.user(authz.require_active(request_scope.actor())))


@bp.get("/me/tokens")
@operation(summary="My API tokens", tag="me", response=schemas.TokenList, errors=(401,))
def list_my_tokens() -> Response:
    items = tokens.list_tokens(request_scope.db_session(), request_scope.actor())
    return jsonify({"items": [serializers.token(item) for item in items]})


@bp.post("/me/tokens")
@operation(
    summary="Create an API token (shown once)",
    tag="me",
    body=schemas.TokenIn,
    response=schemas.NewTokenOut,
    status=201,
    errors=(401,),
)
def create_my_token() -> tuple[Response, int]:
    data = body(schemas.TokenIn)
    token, plaintext = tokens.create_token(
        request_scope.db_session(),
        request_scope.actor(),
        name=data.name,
        days=request_scope.settings().api_token_days if data.days is None else data.days,
        client_address=request_scope.client_address(),
    )
    return jsonify(serializers.token(token, plaintext)), 201


@bp.delete("/me/tokens/<uuid:token_id>")
@operation(summary="Revoke one of my API tokens", tag="me", response=schemas.TokenOut)
def revoke_my_token(token_id: uuid.UUID) -> Response:
    token = tokens.revoke_token(
        request_scope.db_session(),
        request_scope.actor(),
        token_id,
        client_address=request_scope.client_address(),
    )
    return jsonify(serializers.token(token))


@bp.delete("/me/tokens")
@operation(
    summary="Revoke all my API tokens (including the one making this call)",
    tag="me",
    response=schemas.TokensRevokedOut,
    errors=(401,),
)
def revoke_all_my_tokens() -> Response:
    revoked = tokens.revoke_my_tokens(
        request_scope.db_session(),
        request_scope.actor(),
        client_address=request_scope.client_address(),
    )
    return jsonify({"revoked": revoked})


@bp.post("/me/password")
@operation(
    summary="Change my password; other sign-in sessions end, API tokens too if asked",
    tag="me",
    body=schemas.PasswordChangeIn,
    response=schemas.PasswordChangedOut,
    errors=(401,),
)
def change_my_password() -> Response:
    user = authz.require_active(request_scope.actor())
    data = body(schemas.PasswordChangeIn)
    current = request_scope.login_session()
    revoked = accounts.change_password(
        request_scope.db_session(),
        user,
        current_password=data.current,
        new_password=data.new,
        min_password_length=request_scope.settings().password_min_length,
        revoke_tokens=data.revoke_tokens,
        keep_session=current.id if current is not None else None,
        client_address=request_scope.client_address(),
        throttle=request_scope.throttle(),
    )
    if current is not None:
        login_user(user)  # a browser session asking keeps going under the new session version
    return jsonify({"tokens_revoked": revoked})
