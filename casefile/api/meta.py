from __future__ import annotations

from flask import Response, current_app, jsonify

from casefile.api.blueprint import bp
from casefile.api.openapi import build_document, operation


@bp.get("/openapi.json")
@operation(summary="This API's OpenAPI document", tag="meta", public=True, errors=())
def openapi_document() -> Response:
    return jsonify(build_document(current_app))
