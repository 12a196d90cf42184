"""The case map's points as GeoJSON (logic/maps/points.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Response, jsonify, request

from casefile import request_scope
from casefile.api import schemas
from casefile.api.blueprint import bp
from casefile.api.openapi import Param, operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.maps import points
from casefile.logic.maps.points import MapFilter, Point

PARAMS = (
    Param(
        "show",
        {"type": "string", "enum": list(points.SHOW)},
        "incidents, evidence items, or both (all, the default)",
    ),
    Param("since", {"type": "string", "format": "date"}, "points dated on or after (YYYY-MM-DD)"),
    Param("until", {"type": "string", "format": "date"}, "points dated on or before (YYYY-MM-DD)"),
    Param(
        "kind",
        {"type": "string", "enum": list(points.KINDS)},
        "items of this type only (incidents are not filtered by it)",
    ),
    Param(
        "category",
        {"type": "string", "enum": list(points.CATEGORIES)},
        "incidents of this category only (items are not filtered by it)",
    ),
)


def _date(name: str) -> dt.date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    problem = ValidationFailed({name: "must be a date, YYYY-MM-DD"})
    if len(raw) != 10:  # fromisoformat also takes 20170830
        raise problem
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise problem from None


def map_filter() -> MapFilter:
    # As the document says: a parameter given is checked as given ("show=" is no choice).
    return MapFilter(
        show=request.args.get("show", "all"),
        since=_date("since"),
        until=_date("until"),
        kind=request.args.get("kind"),
        category=request.args.get("category"),
    )


def feature(point: Point) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "kind": point.kind,
        "id": str(point.id),
        "title": point.title,
        "date": point.date.isoformat() if point.date else None,
        "date_source": point.date_source,
        "position_source": point.position_source,
    }
    if point.kind == "evidence":
        properties["ern"] = point.ern
        properties["sensitivity"] = point.sensitivity.value if point.sensitivity else None
    else:
        properties["end_date"] = point.end_date.isoformat() if point.end_date else None
        properties["date_precision"] = point.date_precision
        properties["categories"] = list(point.categories)
        properties["place"] = point.place
    return {
        "type": "Feature",
        "id": f"{point.kind}/{point.id}",
        "geometry": {"type": "Point", "coordinates": [point.lon, point.lat]},
        "properties": properties,
    }


@bp.get("/cases/<uuid:case_id>/map")
@operation(
    summary="The case's map: incidents with a location and items with a position that I "
    "may see, as a GeoJSON FeatureCollection (no custody entry: no item content is read)",
    tag="map",
    response=schemas.MapOut,
    params=PARAMS,
    errors=(401, 404, 422),
)
def case_map(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)  # before the query
    where = map_filter()
    found = points.case_map(session, actor, case_id, where, request_scope.keyring())
    return jsonify(
        {
            "type": "FeatureCollection",
            "features": [feature(point) for point in found.points],
            "truncated": found.truncated,
        }
    )
