"""The case map: the case's incidents and GPS-tagged items on a Leaflet map (vendored under
static/vendor/leaflet/), with the same points as a list, which is also what the page shows
without scripts. The tile server is a setting; the page's Content-Security-Policy admits its
host, and only when one is configured."""

from __future__ import annotations

import datetime as dt
import uuid

from flask import Blueprint, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from casefile import request_scope
from casefile.logic.cases import cases
from casefile.logic.errors import ValidationFailed
from casefile.logic.maps import points
from casefile.logic.maps.points import CaseMap, MapFilter, Point
from casefile.web.forms import MapFilterForm
from casefile.web.helpers import has_errors, show_errors
from casefile.web.labels import CATEGORY_LABELS, category_label
from casefile.web.prg import UNPROCESSABLE
from casefile.web.sessions import CSP

bp = Blueprint("maps", __name__)

DATE_SOURCES = {
    "taken": _l("taken, from the photo's EXIF"),
    "collected": _l("collected, as the collector says"),
    "received": _l("received"),
    "incident": _l("of the incident"),
}
POSITION_SOURCES = {
    "exif": _l("GPS in the file"),
    "collector": _l("given by the collector"),
    "incident": _l("recorded for the incident"),
}


def map_csp(tile_origin: str | None) -> str:
    """The site's policy, its images widened to the tile server when one is configured."""
    if tile_origin is None:
        return CSP
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {tile_origin}")


def point_url(point: Point) -> str:
    """The page of a point's item or incident."""
    if point.kind == "evidence":
        return url_for("web.evidence.show", item_id=point.id)
    return url_for("web.incidents.show", incident_id=point.id)


def shown_date(day: dt.date, precision: str | None) -> str:
    """A point's date as precisely as it is known: 2017-08-30, 2017-08, 2017, about …."""
    if precision == "month":
        return day.isoformat()[:7]
    if precision == "year":
        return day.isoformat()[:4]
    if precision == "approximate":
        return str(_("about %(date)s", date=day.isoformat()))
    return day.isoformat()


def _filter(form: MapFilterForm) -> MapFilter:
    return MapFilter(
        show=form.show.data or "all",
        since=form.since.data,
        until=form.until.data,
        kind=form.kind.data or None,
        category=form.category.data or None,
    )


@bp.get("/cases/<uuid:case_id>/map")
def case_map(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    settings = request_scope.settings()
    form = MapFilterForm(request.args)
    form.category.choices = [
        ("", str(_l("All categories"))),
        *((code, str(label)) for code, label in CATEGORY_LABELS.items()),
    ]
    if request.args:
        form.validate()
    keyring = request_scope.keyring()
    where = _filter(form) if not has_errors(form) else MapFilter()
    try:
        found: CaseMap = points.case_map(session, actor, case.id, where, keyring)
    except ValidationFailed as error:
        show_errors(form, error)
        found = points.case_map(session, actor, case.id, MapFilter(), keyring)
    page = render_template(
        "case_map.html",
        case=case,
        filters=form,
        filtered=any(request.args.get(name) for name in ("since", "until", "kind", "category"))
        or request.args.get("show", "all") != "all",
        found=found,
        tile_url=settings.map_tile_url,
        tile_host=settings.map_tile_origin,
        attribution=settings.map_attribution,
        max_points=points.MAX_POINTS,
        date_sources=DATE_SOURCES,
        position_sources=POSITION_SOURCES,
        point_url=point_url,
        shown_date=shown_date,
        category_label=category_label,
    )
    response = make_response(page, UNPROCESSABLE if has_errors(form) else 200)
    response.headers["Content-Security-Policy"] = map_csp(settings.map_tile_origin)
    return response
