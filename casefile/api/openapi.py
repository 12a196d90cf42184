"""The OpenAPI 3.1 document, generated from the registered routes and their pydantic models.

Each API view is decorated with @operation(...), which records its summary and models on the
function; `build_document` walks the app's URL map, so a route cannot exist without appearing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])
API_PREFIX = "/api/v1"
ERROR_STATUSES = {
    400: "Malformed request (or, for a signed-in browser session, a missing CSRF token)",
    401: "Not signed in, or the token is not valid",
    403: "Your role does not allow this",
    404: "Not found, or not visible to you",
    409: "Conflicts with the current state",
    412: "Tus-Resumable header missing or not 1.0.0",
    413: "Payload too large",
    415: "The body is not application/json",
    422: "Validation error, with per-field messages",
    429: "Too many failed authentication attempts from this client; wait Retry-After seconds",
    460: "Checksum mismatch (tus checksum extension)",
}


# Path converters → the schema of the value they accept (anything else is a 404 from routing).
CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {"uuid": {"type": "string", "format": "uuid"}}
MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Param:
    """A query or header parameter, with the constraints the view enforces."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    where: str = "query"  # or "header"


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    body_required: bool = True  # False: the body may be left out (its fields' defaults)
    response: type[BaseModel] | None = None
    status: int = 200
    # Other success statuses answered with the same shape, e.g. 200 for a duplicate upload.
    also: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = field(default=(401, 404))
    public: bool = False
    # A body that is not JSON: (media type, JSON schema), e.g. a multipart upload.
    raw_body: tuple[str, dict[str, Any]] | None = None
    # A success body that is not JSON: (media type, JSON schema), e.g. a signed note.
    raw_response: tuple[str, dict[str, Any]] | None = None
    # Other media types the same success body may come as (raw_response's schema), e.g. an
    # export's download: a zip, or an age file (application/octet-stream).
    raw_response_also: tuple[str, ...] = ()


def operation(**kwargs: Any) -> Callable[[F], F]:
    doc = Operation(**kwargs)

    def attach(view: F) -> F:
        view.__openapi__ = doc  # type: ignore[attr-defined]
        return view

    return attach


def _path(rule: str) -> tuple[str, list[tuple[str, str]]]:
    names: list[tuple[str, str]] = []

    def swap(match: re.Match[str]) -> str:
        names.append((match.group(2), match.group(1) or "string"))
        return "{" + match.group(2) + "}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", swap, rule), names


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, component in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        # Two models of one name would share one component, and one route would document
        # the other's shape: refuse at build time.
        if components.setdefault(name, component) != component:
            raise RuntimeError(f"two request or response models are named {name}")
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def declared_methods(methods: set[str]) -> set[str]:
    """A rule's own methods: without the HEAD Flask adds to every GET and the OPTIONS it adds
    to every rule, but with a HEAD or OPTIONS route declared for itself (as tus has)."""
    declared = set(methods)
    if "GET" in declared:
        declared.discard("HEAD")
    if declared - {"OPTIONS"}:
        declared.discard("OPTIONS")
    return declared


def multipart_schema(fields: type[BaseModel], file_field: str = "file") -> dict[str, Any]:
    """A multipart/form-data body: one binary file part plus the model's fields as parts."""
    schema = fields.model_json_schema()
    properties = {file_field: {"type": "string", "format": "binary"}}
    for name, field_schema in schema.get("properties", {}).items():
        properties[name] = {
            "type": "string",
            "description": field_schema.get("description") or field_schema.get("title", name),
        }
    return {"type": "object", "required": [file_field], "properties": properties}


def build_document(app: Flask) -> dict[str, Any]:
    components: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            },
        }
    }
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX):
            continue
        doc: Operation | None = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if doc is None:
            raise RuntimeError(f"API route {rule.rule} has no @operation documentation")
        path, names = _path(rule.rule)
        for method in sorted(declared_methods(rule.methods or set())):
            base = operation_id = rule.endpoint.rsplit(".", 1)[-1] + f"_{method.lower()}"
            while operation_id in used_ids:  # one view serves several rules
                operation_id = f"{base}{len(used_ids)}"
            used_ids.add(operation_id)
            paths.setdefault(path, {})[method.lower()] = _operation(
                doc, names, components, operation_id
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Casefile API",
            "version": "1",
            "description": "Evidence vault and case-building API. Errors are "
            '{"error": {"code", "message"}}; lists are cursor-paginated.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "casefile_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }


def _operation(
    doc: Operation, names: list[tuple[str, str]], components: dict[str, Any], operation_id: str
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(CONVERTER_SCHEMAS.get(converter, {"type": "string"})),
        }
        for name, converter in names
    ]
    parameters += [
        {
            "name": param.name,
            "in": param.where,
            "required": param.required,
            "schema": param.schema,
            "description": param.description,
        }
        for param in doc.params
    ]
    success: dict[str, Any] = {"description": doc.summary}
    if doc.response is not None:
        success["content"] = {"application/json": {"schema": _schema_ref(doc.response, components)}}
    elif doc.raw_response is not None:
        media_type, schema = doc.raw_response
        success["content"] = {
            kind: {"schema": schema} for kind in (media_type, *doc.raw_response_also)
        }
    responses: dict[str, Any] = {str(doc.status): success}
    for status in doc.also:
        responses[str(status)] = success
    statuses = set(doc.errors) | ({400, 415, 422} if doc.body else set())
    if 401 in statuses:  # bearer-token failures are throttled per client address
        statuses.add(429)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    result: dict[str, Any] = {
        "summary": doc.summary,
        "tags": [doc.tag],
        "operationId": operation_id,
        "parameters": parameters,
        "responses": responses,
    }
    if doc.body is not None:
        result["requestBody"] = {
            "required": doc.body_required,
            "content": {"application/json": {"schema": _schema_ref(doc.body, components)}},
        }
    elif doc.raw_body is not None:
        media_type, schema = doc.raw_body
        result["requestBody"] = {"required": True, "content": {media_type: {"schema": schema}}}
    if doc.public:
        result["security"] = []
    return result
