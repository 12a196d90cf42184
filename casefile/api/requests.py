"""Reading API requests: JSON bodies against the logic layer's models, paging parameters."""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from casefile.api.openapi import MAX_INT64, Param
from casefile.logic.errors import DomainError, ValidationFailed
from casefile.logic.evidence.listing import ItemFilter
from casefile.logic.pagination import MAX_LIMIT
from casefile.logic.tags.bulk import ItemFilterInput
from casefile.logic.tags.names import PATTERN as TAG_PATTERN
from casefile.logic.tags.names import SENT_MAX

M = TypeVar("M", bound=BaseModel)
DIGITS = re.compile(r"[0-9]{1,19}")
PAGING = (
    Param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        f"page size, 1 to {MAX_LIMIT} (default 50)",
    ),
    Param("cursor", {"type": "string"}, "the `next` value of the previous page"),
)

# The evidence list's filters, as query parameters (the same as a bulk action's `filter`).
ITEM_FILTERS = (
    Param("kind", {"type": "string", "maxLength": 100}, "a MIME prefix, e.g. image/"),
    Param("sensitivity", {"type": "string", "enum": ["standard", "restricted"]}, "sensitivity"),
    Param("collector", {"type": "string", "maxLength": 2000}, "text within 'collected by'"),
    Param("since", {"type": "string", "format": "date"}, "received on or after (UTC day)"),
    Param("until", {"type": "string", "format": "date"}, "received on or before (UTC day)"),
    Param(
        "tag",
        {"type": "string", "minLength": 1, "maxLength": SENT_MAX, "pattern": TAG_PATTERN},
        "a tag's name (any case of its letters)",
    ),
)


class MalformedRequest(DomainError):
    """The request cannot be read (a body that is not JSON, a bad query parameter)."""


class UnsupportedMediaType(DomainError):
    """The body is not sent as JSON."""


def body(model: type[M]) -> M:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.get_data(cache=False)
    try:
        # Strict: JSON types are what the document says (no "5" for 5, no 0 for false, no
        # number of seconds for a date); the web forms and the CLI parse text themselves.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as error:
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            raise MalformedRequest("the body is not valid JSON") from error
        problems = error.errors()
        if any(problem["type"] == "model_type" and not problem["loc"] for problem in problems):
            raise MalformedRequest("the body must be a JSON object") from error
        raise ValidationFailed.from_pydantic(error) from error


def int_arg(name: str, *, required: bool = True, default: int = 0) -> int:
    """A whole number 0 to 2**63-1 in the query string, in plain digits (no sign, no spaces)."""
    raw = request.args.get(name)
    if raw is None:
        if required:
            raise ValidationFailed({name: "required"})
        return default
    if not DIGITS.fullmatch(raw) or int(raw) > MAX_INT64:
        raise ValidationFailed({name: "must be a whole number, 0 or more"})
    return int(raw)


def limit(default: int = 50) -> int:
    value = int_arg("limit", required=False, default=default)
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed({"limit": f"must be between 1 and {MAX_LIMIT}"})
    return value


def cursor() -> str | None:
    return request.args.get("cursor") or None


def uuid_arg(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise ValidationFailed({name: "not a valid id"}) from error


def item_filter() -> ItemFilter:
    """The evidence list's filters from the query string, each checked as the document
    states (an empty kind or collector filters nothing; an empty date is refused)."""
    fields = {
        param.name: request.args[param.name] for param in ITEM_FILTERS if param.name in request.args
    }
    try:
        return ItemFilterInput.model_validate(fields).item_filter()
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error
