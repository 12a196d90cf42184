from __future__ import annotations

from flask import Blueprint

from casefile.api.auth import authenticate_request

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_request)
