"""Cases and their members."""

from __future__ import annotations

import uuid

from flask import Response, jsonify

from casefile import request_scope
from casefile.api import requests, schemas, serializers
from casefile.api.blueprint import bp
from casefile.api.openapi import operation
from casefile.logic import authz
from casefile.logic.cases import cases, members
from casefile.logic.cases.cases import CaseInput
from casefile.logic.cases.members import MemberInput, RoleInput
from casefile.model import Role


@bp.post("/cases")
@operation(
    summary="Create a case; you become its lead",
    tag="cases",
    body=CaseInput,
    response=schemas.CaseOut,
    status=201,
    errors=(401,),
)
def create_case() -> tuple[Response, int]:
    data = requests.body(CaseInput)
    case = cases.create_case(request_scope.db_session(), request_scope.actor(), data)
    return jsonify(serializers.case(case, Role.LEAD)), 201


@bp.get("/cases")
@operation(
    summary="Cases I am a member of",
    tag="cases",
    response=schemas.CasePage,
    params=requests.PAGING,
    errors=(401, 422),
)
def list_cases() -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    user = authz.require_active(actor)
    page = cases.list_cases(session, user, limit=requests.limit(), cursor=requests.cursor())
    return jsonify(
        {
            "items": [
                serializers.case(item, authz.role_in_case(session, user, item.id))
                for item in page.items
            ],
            "next": page.next_cursor,
        }
    )


@bp.get("/cases/<uuid:case_id>")
@operation(summary="One case", tag="cases", response=schemas.CaseOut)
def get_case(case_id: uuid.UUID) -> Response:
    session, actor = request_scope.db_session(), request_scope.actor()
    case = cases.get_case(session, actor, case_id)
    role = authz.role_in_case(session, authz.require_active(actor), case.id)
    return jsonify(serializers.case(case, role))


@bp.get("/cases/<uuid:case_id>/members")
@operation(summary="A case's members", tag="members", response=schemas.MemberList)
def list_members(case_id: uuid.UUID) -> Response:
    items = members.list_members(request_scope.db_session(), request_scope.actor(), case_id)
    return jsonify({"items": [serializers.member(item) for item in items]})


@bp.post("/cases/<uuid:case_id>/members")
@operation(
    summary="Add a member (leads only)",
    tag="members",
    body=MemberInput,
    response=schemas.MemberOut,
    status=201,
    errors=(401, 403, 404, 409),
)
def add_member(case_id: uuid.UUID) -> tuple[Response, int]:
    members.authorize_management(request_scope.db_session(), request_scope.actor(), case_id)
    data = requests.body(MemberInput)
    member = members.add_member(request_scope.db_session(), request_scope.actor(), case_id, data)
    return jsonify(serializers.member(member)), 201


@bp.patch("/cases/<uuid:case_id>/members/<uuid:user_id>")
@operation(
    summary="Change a member's role (leads only)",
    tag="members",
    body=RoleInput,
    response=schemas.MemberOut,
    errors=(401, 403, 404, 409),
)
def change_member_role(case_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    members.authorize_management(request_scope.db_session(), request_scope.actor(), case_id)
    data = requests.body(RoleInput)
    member = members.change_role(
        request_scope.db_session(), request_scope.actor(), case_id, user_id, data.role
    )
    return jsonify(serializers.member(member))


@bp.delete("/cases/<uuid:case_id>/members/<uuid:user_id>")
@operation(
    summary="Remove a member (leads only)", tag="members", status=204, errors=(401, 403, 404, 409)
)
def remove_member(case_id: uuid.UUID, user_id: uuid.UUID) -> tuple[str, int]:
    members.remove_member(request_scope.db_session(), request_scope.actor(), case_id, user_id)
    return "", 204
