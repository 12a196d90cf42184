"""Legal frameworks, the crimes charged in a case, proof links and the proof matrix."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from flask import Response, jsonify
from pydantic import BaseModel

from casefile import request_scope
from casefile.api import requests
from casefile.api.blueprint import bp
from casefile.api.openapi import operation
from casefile.logic import authz
from casefile.logic.frameworks import charges, links, matrix, registry
from casefile.logic.frameworks.charges import ChargeInput
from casefile.logic.frameworks.document import Crime, Element, Framework
from casefile.logic.frameworks.links import ProofLinkChange, ProofLinkInput
from casefile.model import Charge, ProofLink, Strength
from casefile.verifier.custody_entry import format_time

# --- response shapes ------------------------------------------------------------------------


class ElementOut(BaseModel):
    id: str
    kind: str
    text: str
    cites: str


class CrimeOut(BaseModel):
    id: str
    kind: Literal["crime", "liability"]
    part: str
    title: str
    cites: str
    elements: list[ElementOut]


class PartOut(BaseModel):
    id: str
    title: str


class FrameworkOut(BaseModel):
    id: str
    version: int
    title: str
    jurisdiction: str
    language: str
    source: str
    sha256: str
    parts: list[PartOut]
    crimes: list[CrimeOut]


class FrameworkList(BaseModel):
    items: list[FrameworkOut]


class ChargeOut(BaseModel):
    id: uuid.UUID
    framework: str
    version: int
    crime: str
    kind: Literal["crime", "liability"]
    title: str
    created_at: dt.datetime


class ChargeList(BaseModel):
    items: list[ChargeOut]


class ProofLinkOut(BaseModel):
    id: uuid.UUID
    charge_id: uuid.UUID
    element: str
    evidence_id: uuid.UUID | None
    incident_id: uuid.UUID | None
    strength: Strength
    note: str


class MatrixLinkOut(BaseModel):
    id: uuid.UUID
    kind: Literal["evidence", "incident"]
    evidence_id: uuid.UUID | None
    incident_id: uuid.UUID | None
    ern: str | None  # an item's; null for an incident
    title: str  # the item's title, or the incident's
    restricted: bool
    deleted: bool
    strength: Strength
    note: str
    updated_at: dt.datetime


class MatrixElementOut(ElementOut):
    gap: bool
    links: list[MatrixLinkOut]


class MatrixChargeOut(ChargeOut):
    cites: str
    gaps: int
    elements: list[MatrixElementOut]


class ProofMatrixOut(BaseModel):
    case_id: uuid.UUID
    elements: int
    gaps: int
    charges: list[MatrixChargeOut]


# --- serializers ----------------------------------------------------------------------------


def _element(element: Element) -> dict[str, Any]:
    return {"id": element.id, "kind": element.kind, "text": element.text, "cites": element.cites}


def _crime(crime: Crime) -> dict[str, Any]:
    return {
        "id": crime.id,
        "kind": crime.kind,
        "part": crime.part,
        "title": crime.title,
        "cites": crime.cites,
        "elements": [_element(e) for e in crime.elements],
    }


def framework_json(framework: Framework) -> dict[str, Any]:
    return {
        "id": framework.id,
        "version": framework.version,
        "title": framework.title,
        "jurisdiction": framework.jurisdiction,
        "language": framework.language,
        "source": framework.source,
        "sha256": framework.sha256,
        "parts": [{"id": p.id, "title": p.title} for p in framework.parts],
        "crimes": [_crime(c) for c in framework.crimes],
    }


def charge_json(charge: Charge, crime: Crime) -> dict[str, Any]:
    return {
        "id": str(charge.id),
        "framework": charge.framework_id,
        "version": charge.framework_version,
        "crime": crime.id,
        "kind": crime.kind,
        "title": crime.title,
        "created_at": format_time(charge.created_at),
    }


def link_json(link: ProofLink) -> dict[str, Any]:
    return {
        "id": str(link.id),
        "charge_id": str(link.charge_id),
        "element": link.element_id,
        "evidence_id": _id(link.evidence_id),
        "incident_id": _id(link.incident_id),
        "strength": link.strength.value,
        "note": link.note,
    }


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def matrix_json(built: matrix.Matrix) -> dict[str, Any]:
    return {
        "case_id": str(built.case.id),
        "elements": built.elements,
        "gaps": built.gaps,
        "charges": [
            {
                **charge_json(row.charge, row.crime),
                "cites": row.crime.cites,
                "gaps": row.gaps,
                "elements": [
                    {
                        **_element(cell.element),
                        "gap": cell.gap,
                        "links": [
                            {
                                "id": str(link.id),
                                "kind": link.kind,
                                "evidence_id": _id(link.evidence_id),
                                "incident_id": _id(link.incident_id),
                                "ern": link.ern,
                                "title": link.title,
                                "restricted": link.restricted,
                                "deleted": link.deleted,
                                "strength": link.strength.value,
                                "note": link.note,
                                "updated_at": format_time(link.updated_at),
                            }
                            for link in cell.links
                        ],
                    }
                    for cell in row.elements
                ],
            }
            for row in built.rows
        ],
    }


# --- routes -----------------------------------------------------------------------------------


@bp.get("/frameworks")
@operation(
    summary="The legal frameworks, newest version of each, with their crimes and elements",
    tag="frameworks",
    response=FrameworkList,
    errors=(401,),
)
def list_frameworks() -> Response:
    session = request_scope.db_session()
    authz.require_active(request_scope.actor())
    return jsonify({"items": [framework_json(f) for f in registry.latest_versions(session)]})


@bp.get("/cases/<uuid:case_id>/charges")
@operation(summary="The crimes charged in a case", tag="charges", response=ChargeList)
def list_charges(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    items = []
    for charge in charges.list_charges(session, actor, case_id):
        _, crime = charges.described(session, charge)
        items.append(charge_json(charge, crime))
    return jsonify({"items": items})


@bp.post("/cases/<uuid:case_id>/charges")
@operation(
    summary="Charge a crime or mode of liability of a framework (leads only)",
    tag="charges",
    body=ChargeInput,
    response=ChargeOut,
    status=201,
    errors=(401, 403, 404, 409, 422),
)
def add_charge(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    charges.authorize_charging(session, actor, case_id)
    data = requests.body(ChargeInput)
    charge = charges.add_charge(session, actor, case_id, data)
    _, crime = charges.described(session, charge)
    return jsonify(charge_json(charge, crime)), 201


@bp.delete("/cases/<uuid:case_id>/charges/<uuid:charge_id>")
@operation(
    summary="Remove a charge and its proof links (leads only)",
    tag="charges",
    status=204,
    errors=(401, 403, 404),
)
def remove_charge(case_id: uuid.UUID, charge_id: uuid.UUID) -> tuple[str, int]:
    charges.remove_charge(request_scope.db_session(), request_scope.actor(), case_id, charge_id)
    return "", 204


@bp.post("/cases/<uuid:case_id>/proof-links")
@operation(
    summary="Link an item or an incident of the case to an element of a charged crime",
    tag="proof matrix",
    body=ProofLinkInput,
    response=ProofLinkOut,
    status=201,
    errors=(401, 403, 404, 409, 422),
)
def add_link(case_id: uuid.UUID) -> tuple[Response, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    links.authorize_linking(session, actor, case_id)
    data = requests.body(ProofLinkInput)
    link = links.add_link(session, actor, case_id, data)
    return jsonify(link_json(link)), 201


@bp.patch("/cases/<uuid:case_id>/proof-links/<uuid:link_id>")
@operation(
    summary="Change a proof link's strength or note",
    tag="proof matrix",
    body=ProofLinkChange,
    response=ProofLinkOut,
    errors=(401, 403, 404, 422),
)
def change_link(case_id: uuid.UUID, link_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    links.authorize_linking(session, actor, case_id)
    data = requests.body(ProofLinkChange)
    return jsonify(link_json(links.change_link(session, actor, case_id, link_id, data)))


@bp.delete("/cases/<uuid:case_id>/proof-links/<uuid:link_id>")
@operation(summary="Remove a proof link", tag="proof matrix", status=204, errors=(401, 403, 404))
def remove_link(case_id: uuid.UUID, link_id: uuid.UUID) -> tuple[str, int]:
    links.remove_link(request_scope.db_session(), request_scope.actor(), case_id, link_id)
    return "", 204


@bp.get("/cases/<uuid:case_id>/proof-matrix")
@operation(
    summary="Every element of every charged crime, with the links you may see and its gaps",
    tag="proof matrix",
    response=ProofMatrixOut,
)
def proof_matrix(case_id: uuid.UUID) -> Response:
    built = matrix.build(request_scope.db_session(), request_scope.actor(), case_id)
    return jsonify(matrix_json(built))
