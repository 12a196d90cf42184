"""Incidents, their links to items, the case's alleged perpetrators, and Myanmar's places
(for the location fields' suggestions)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request

from casefile import request_scope
from casefile.api import requests, schemas, serializers
from casefile.api.blueprint import bp
from casefile.api.openapi import Param, operation
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import metadata
from casefile.logic.incidents import incidents, links, listing, perpetrators, places
from casefile.logic.incidents.incidents import IncidentInput, IncidentUpdate
from casefile.logic.incidents.links import LinkInput
from casefile.logic.incidents.listing import IncidentFilters
from casefile.logic.incidents.perpetrators import PerpetratorInput
from casefile.logic.text import NO_NUL
from casefile.model import Incident


def _filter_params() -> tuple[Param, ...]:
    """The list's filters as the document states them: each a plain type (the optional
    wrapper of the input model taken off), enums spelled out."""
    document = IncidentFilters.model_json_schema()
    definitions = document.get("$defs", {})
    params = []
    for name, schema in document["properties"].items():
        choices = [option for option in schema.get("anyOf", [schema]) if option != {"type": "null"}]
        plain = dict(choices[0])
        if "$ref" in plain:
            plain = dict(definitions[plain.pop("$ref").rsplit("/", 1)[-1]])
        plain.pop("title", None)
        description = schema.get("description") or plain.pop("description", None)
        params.append(Param(name, plain, description or name.replace("_", " ")))
    return tuple(params)


LIST_PARAMS = (*_filter_params(), *requests.PAGING)


def _filters() -> IncidentFilters:
    return listing.parse_filters(
        {name: request.args[name] for name in IncidentFilters.model_fields if name in request.args}
    )


def _shown(incident: Incident) -> dict[str, Any]:
    """An incident with the links to the items the caller may see, their titles opened."""
    session, actor = request_scope.db_session(), request_scope.actor()
    keyring = request_scope.keyring()
    shown = listing.visible_links(session, actor, incident)
    return serializers.incident(
        incident, [(row.link, row.item, metadata.reveal(keyring, row.item)) for row in shown]
    )


@bp.post("/cases/<uuid:case_id>/incidents")
@operation(
    summary="Record an incident (investigators, lawyers, leads)",
    tag="incidents",
    body=IncidentInput,
    response=schemas.IncidentOut,
    status=201,
    errors=(401, 403, 404, 422),
)
def create_incident(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS)
    data = requests.body(IncidentInput)
    incident = incidents.create_incident(session, actor, case_id, data)
    return jsonify(_shown(incident)), 201


@bp.get("/cases/<uuid:case_id>/incidents")
@operation(
    summary="A case's incidents, oldest first, with filters",
    tag="incidents",
    response=schemas.IncidentPage,
    params=LIST_PARAMS,
    errors=(401, 404, 422),
)
def list_incidents(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW_INCIDENTS)
    page = listing.list_incidents(
        session, actor, case_id, _filters(), limit=requests.limit(), cursor=requests.cursor()
    )
    return jsonify(
        {
            "items": [serializers.incident_summary(item) for item in page.items],
            "next": page.next_cursor,
        }
    )


@bp.get("/incidents/<uuid:incident_id>")
@operation(
    summary="One incident, with its links to items", tag="incidents", response=schemas.IncidentOut
)
def get_incident(incident_id: uuid.UUID) -> Response:
    incident = incidents.get_incident(
        request_scope.db_session(), request_scope.actor(), incident_id, CaseAction.VIEW_INCIDENTS
    )
    return jsonify(_shown(incident))


@bp.patch("/incidents/<uuid:incident_id>")
@operation(
    summary="Change an incident (only the fields sent); send the `version` you read: 409 "
    "stale_version if it changed since",
    tag="incidents",
    body=IncidentUpdate,
    response=schemas.IncidentOut,
    errors=(401, 403, 404, 409, 422),
)
def update_incident(incident_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    incidents.get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    data = requests.body(IncidentUpdate)
    incident = incidents.update_incident(session, actor, incident_id, data)
    return jsonify(_shown(incident))


@bp.post("/incidents/<uuid:incident_id>/evidence")
@operation(
    summary="Link an item of the incident's case to it, with a relation and a note",
    tag="incidents",
    body=LinkInput,
    response=schemas.IncidentLinkOut,
    status=201,
    errors=(401, 403, 404, 409, 422),
)
def link_evidence(incident_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    incidents.get_incident(session, actor, incident_id, CaseAction.EDIT_INCIDENTS)
    data = requests.body(LinkInput)
    linked = links.link_item(session, actor, incident_id, data)
    described = metadata.reveal(request_scope.keyring(), linked.item)
    return jsonify(serializers.incident_link(linked.link, linked.item, described)), 201


@bp.delete("/incidents/<uuid:incident_id>/evidence/<uuid:link_id>")
@operation(
    summary="Remove a link between an incident and an item",
    tag="incidents",
    status=204,
    errors=(401, 403, 404),
)
def unlink_evidence(incident_id: uuid.UUID, link_id: uuid.UUID) -> tuple[str, int]:
    links.unlink_item(request_scope.db_session(), request_scope.actor(), incident_id, link_id)
    return "", 204


@bp.get("/cases/<uuid:case_id>/perpetrators")
@operation(
    summary="The alleged perpetrators (units and persons) a case names",
    tag="incidents",
    response=schemas.PerpetratorList,
)
def list_perpetrators(case_id: uuid.UUID) -> Response:
    items = perpetrators.list_perpetrators(
        request_scope.db_session(), request_scope.actor(), case_id
    )
    return jsonify({"items": [serializers.perpetrator(item) for item in items]})


@bp.post("/cases/<uuid:case_id>/perpetrators")
@operation(
    summary="Name an alleged perpetrator; one the case names already (same kind and name, "
    "any case) is returned as it is, with 200",
    tag="incidents",
    body=PerpetratorInput,
    response=schemas.PerpetratorOut,
    status=201,
    also=(200,),
    errors=(401, 403, 404, 422),
)
def name_perpetrator(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS)
    data = requests.body(PerpetratorInput)
    named = perpetrators.name_perpetrator(session, actor, case_id, data)
    return jsonify(serializers.perpetrator(named.perpetrator)), 201 if named.created else 200


PLACE_PARAMS = (
    Param(
        "level",
        {"type": "string", "enum": list(places.LEVELS)},
        "which places: states/regions, districts or townships",
        required=True,
    ),
    Param(
        "q",
        {"type": "string", "maxLength": 100, "pattern": NO_NUL},
        "text in the English or Burmese name",
    ),
    Param(
        "state_region",
        {"type": "string", "maxLength": 300, "pattern": NO_NUL},
        "only places in this one",
    ),
    Param(
        "district",
        {"type": "string", "maxLength": 300, "pattern": NO_NUL},
        "only townships of this district",
    ),
)


@bp.get("/places/myanmar")
@operation(
    summary="Myanmar's states/regions, districts and townships whose name holds `q` (MIMU "
    "place codes, English and Burmese names), at most 50: for the location fields",
    tag="incidents",
    response=schemas.PlaceList,
    params=PLACE_PARAMS,
    errors=(401, 422),
)
def myanmar_places() -> Response:
    authz.require_active(request_scope.actor())
    level = request.args.get("level", "")
    if level not in places.LEVELS:
        raise ValidationFailed({"level": f"one of {', '.join(places.LEVELS)}"})
    texts = {name: request.args.get(name, "") for name in ("q", "state_region", "district")}
    for name, value in texts.items():
        if len(value) > (100 if name == "q" else 300) or "\x00" in value:
            raise ValidationFailed({name: "too long, or holds a NUL character"})
    found = places.suggest(
        level,
        texts["q"],
        state_region=texts["state_region"] or None,
        district=texts["district"] or None,
    )
    return jsonify(
        {"items": [place.as_json() for place in found], "source": places.gazetteer().source}
    )
