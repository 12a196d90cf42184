"""Reading API requests: JSON bodies against the logic layer's models, paging parameters."""

from __future__ import annotations

import uuid
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from casefile.logic.errors import DomainError, ValidationFailed

M = TypeVar("M", bound=BaseModel)


class MalformedRequest(DomainError):
    code = "bad_request"
    status = 400


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


def body(model: type[M]) -> M:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.get_data(cache=False)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            raise MalformedRequest("the body is not valid JSON") from error
        problems = error.errors()
        if any(problem["type"] == "model_type" and not problem["loc"] for problem in problems):
            raise MalformedRequest("the body must be a JSON object") from error
        raise ValidationFailed.from_pydantic(error) from error


def limit(default: int = 50) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ValidationFailed({"limit": "must be a whole number"}) from error


def cursor() -> str | None:
    return request.args.get("cursor") or None


def uuid_arg(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise ValidationFailed({name: "not a valid id"}) from error
