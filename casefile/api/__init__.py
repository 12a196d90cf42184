"""JSON API under /api/v1."""

from __future__ import annotations

from flask import Flask

from casefile.api import (
    cases,
    custody,
    derivatives,
    evidence,
    exports,
    filings,
    frameworks,
    incidents,
    maps,
    me,
    meta,
    search,
    tags,
    tus,
)
from casefile.api.blueprint import bp
from casefile.extensions import csrf

# Importing registers their routes on bp.
ROUTE_MODULES = (
    cases, custody, derivatives, evidence, exports, filings, frameworks, incidents, maps, me, meta,
    search, tags, tus,
)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)  # auth.authenticate_request enforces CSRF for cookie-authenticated calls
    app.register_blueprint(bp)
