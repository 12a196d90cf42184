"""The OpenAPI document is generated from the code: it is valid OpenAPI 3.1, names every API
route with its methods, and what the API really answers matches the shapes it documents."""

from __future__ import annotations

import re
import uuid

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from casefile import create_app
from casefile.api.openapi import API_PREFIX, build_document
from casefile.model import Role
from tests.factories import add_member, bearer, make_case, make_settings, make_user

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(API_PREFIX)]


def declared_methods(rule) -> set[str]:
    """What a rule was declared with: not the HEAD Flask adds to each GET nor the automatic
    OPTIONS, but a HEAD or OPTIONS route of its own (tus has both)."""
    methods = set(rule.methods)
    if "GET" in methods:
        methods.discard("HEAD")
    if methods - {"OPTIONS"}:
        methods.discard("OPTIONS")
    return methods


def openapi_path(rule: str) -> str:
    return PARAM.sub(lambda match: "{" + match.group(1) + "}", rule)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_document_is_valid_openapi_3_1(tmp_path):
    # The document needs no database: validate it once, not once per backend (it is slow).
    document = build_document(create_app(make_settings(tmp_path)))
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_document_needs_no_authentication(client):
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_every_api_route_and_method_is_documented(app, document):
    expected = {
        (openapi_path(rule.rule), method.lower())
        for rule in api_rules(app)
        for method in declared_methods(rule)
    }
    documented = {(path, method) for path, method, _ in operations(document)}
    assert expected - documented == set(), "routes missing from the document"
    assert documented - expected == set(), "documented operations the app does not have"
    assert expected  # the API has routes at all


def test_path_parameters_are_declared(document):
    for path, method, operation in operations(document):
        in_path = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert in_path == declared, (method, path)
        assert all(p["required"] for p in operation["parameters"] if p["in"] == "path")


def test_operation_ids_are_unique(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_every_reference_resolves(document):
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_request_bodies_reference_the_views_input_models(app, document):
    for rule in api_rules(app):
        doc = app.view_functions[rule.endpoint].__openapi__
        for method in declared_methods(rule):
            operation = document["paths"][openapi_path(rule.rule)][method.lower()]
            if doc.body is None and doc.raw_body is not None:
                media_type, schema = doc.raw_body
                assert operation["requestBody"]["content"] == {media_type: {"schema": schema}}
                continue
            if doc.body is None:
                assert "requestBody" not in operation, (method, rule.rule)
                continue
            body = operation["requestBody"]
            assert body["required"] is doc.body_required
            assert body["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{doc.body.__name__}"
            }
            # A body can be malformed, of the wrong type or invalid: all three are documented.
            assert {"400", "415", "422"} <= set(operation["responses"]), (method, rule.rule)


BODYLESS_WRITES = {
    ("post", "/api/v1/cases/{case_id}/uploads"),  # tus creation: everything is in headers
}
NON_JSON_BODIES = {
    ("post", "/api/v1/cases/{case_id}/evidence"),  # multipart/form-data
    ("patch", "/api/v1/uploads/{upload_id}"),  # application/offset+octet-stream
}


def test_writes_have_request_bodies(document):
    for path, method, operation in operations(document):
        key = (method, path)
        if method in ("post", "put", "patch") and key not in BODYLESS_WRITES | NON_JSON_BODIES:
            assert "requestBody" in operation, key


def test_non_json_bodies_are_documented(document):
    for method, path in sorted(NON_JSON_BODIES):
        assert "requestBody" in document["paths"][path][method], (method, path)


def test_an_export_body_is_optional_and_names_age_recipients(document):
    operation = document["paths"]["/api/v1/filings/{filing_id}/exports"]["post"]
    assert operation["requestBody"]["required"] is False
    schema = document["components"]["schemas"]["ExportIn"]
    assert schema["properties"]["age_recipients"]["type"] == "array"
    assert schema["properties"]["age_recipients"]["maxItems"] == 20
    assert schema["additionalProperties"] is False
    assert "age_recipients" in document["components"]["schemas"]["ExportOut"]["required"]


def test_case_input_schema_has_the_contracts_fields(document):
    schema = document["components"]["schemas"]["CaseInput"]
    assert set(schema["required"]) == {"title", "forum"}
    assert {"title", "forum", "court", "reference", "ern_pattern", "languages",
            "description"} == set(schema["properties"])
    assert schema["additionalProperties"] is False
    forum = document["components"]["schemas"]["Forum"]
    assert set(forum["enum"]) == {"icj", "icc", "uj"}
    member = document["components"]["schemas"]["MemberInput"]
    assert set(member["required"]) == {"email", "role"}
    role = document["components"]["schemas"]["Role"]
    assert set(role["enum"]) == {"lead", "lawyer", "investigator", "viewer"}


def test_error_responses_use_the_error_envelope(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_public_operations_are_exactly_those_open_to_anonymous_callers(app, client, document):
    for rule in api_rules(app):
        values = {name: str(uuid.uuid4()) for name in PARAM.findall(rule.rule)}
        url = PARAM.sub(lambda match, values=values: values[match.group(1)], rule.rule)
        for method in declared_methods(rule):
            operation = document["paths"][openapi_path(rule.rule)][method.lower()]
            public = operation.get("security") == []
            response = client.open(url, method=method, json={} if method != "GET" else None)
            if public:
                assert response.status_code != 401, (method, rule.rule)
            else:
                assert response.status_code == 401, (method, rule.rule)
                assert "401" in operation["responses"], (method, rule.rule)


# --- what the API answers matches what the document says --------------------------------------


class Contract:
    def __init__(self, document):
        self.document = document

    def check(self, response, path: str, method: str) -> None:
        operation = self.document["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, path, status)
        content = operation["responses"][status].get("content")
        if content is None:
            assert response.get_data() == b"", (method, path)
            return
        schema = {
            **content["application/json"]["schema"],
            "components": self.document["components"],
        }
        Draft202012Validator(schema).validate(response.get_json())


def test_responses_match_their_documented_schemas(client, session, document):
    contract = Contract(document)
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = bearer(session, lead)
    case_path = "/api/v1/cases/{case_id}"
    members_path = "/api/v1/cases/{case_id}/members"
    member_path = "/api/v1/cases/{case_id}/members/{user_id}"

    calls = [
        ("get", "/api/v1/me", "/api/v1/me", None),
        ("get", "/api/v1/cases", "/api/v1/cases", None),
        ("post", "/api/v1/cases", "/api/v1/cases", {"title": "New", "forum": "uj"}),
        ("post", "/api/v1/cases", "/api/v1/cases", {"title": 5, "forum": "uj"}),
        ("get", case_path, f"/api/v1/cases/{case.id}", None),
        ("get", case_path, f"/api/v1/cases/{uuid.uuid4()}", None),
        ("get", members_path, f"/api/v1/cases/{case.id}/members", None),
        ("post", members_path, f"/api/v1/cases/{case.id}/members",
         {"email": outsider.email, "role": "investigator"}),
        ("post", members_path, f"/api/v1/cases/{case.id}/members",
         {"email": outsider.email, "role": "investigator"}),
        ("patch", member_path, f"/api/v1/cases/{case.id}/members/{viewer.id}", {"role": "lawyer"}),
        ("patch", member_path, f"/api/v1/cases/{case.id}/members/{lead.id}", {"role": "viewer"}),
        ("delete", member_path, f"/api/v1/cases/{case.id}/members/{outsider.id}", None),
        ("get", "/api/v1/me/tokens", "/api/v1/me/tokens", None),
        ("post", "/api/v1/me/tokens", "/api/v1/me/tokens", {"name": "laptop"}),
    ]
    for method, template, url, payload in calls:
        response = client.open(url, method=method.upper(), json=payload, headers=headers)
        contract.check(response, template, method)

    created = client.post("/api/v1/me/tokens", json={"name": "spare"}, headers=headers)
    revoked = client.delete(f"/api/v1/me/tokens/{created.get_json()['id']}", headers=headers)
    contract.check(revoked, "/api/v1/me/tokens/{token_id}", "delete")
    page = client.get("/api/v1/cases?limit=1", headers=headers)
    contract.check(page, "/api/v1/cases", "get")
    assert page.get_json()["next"] is not None
    anonymous = client.get("/api/v1/cases")
    contract.check(anonymous, "/api/v1/cases", "get")


def test_the_document_states_the_constraints_the_api_enforces(document):
    paths = document["paths"]

    def params(path, method):
        return {p["name"]: p for p in paths[path][method]["parameters"]}

    for path, item in paths.items():
        for method in item:
            for name, param in params(path, method).items():
                if param["in"] == "path":
                    assert param["schema"] == {"type": "string", "format": "uuid"}, (path, name)
    for path in ("/api/v1/cases", "/api/v1/cases/{case_id}/evidence"):
        limit = params(path, "get")["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"]) == (1, 200)
        assert "422" in paths[path]["get"]["responses"]
    assert params("/api/v1/custody/checkpoints", "get")["from"]["schema"]["minimum"] == 0
    consistency = params("/api/v1/custody/consistency", "get")
    assert consistency["old"]["required"] and consistency["new"]["required"]
    upload = paths["/api/v1/cases/{case_id}/evidence"]["post"]["responses"]
    assert upload["200"] == upload["201"]  # a duplicate answers with the existing item
    assert "204" in paths["/api/v1/uploads/{upload_id}"]["options"]["responses"]
    create = params("/api/v1/cases/{case_id}/uploads", "post")
    assert create["Tus-Resumable"]["in"] == "header" and create["Tus-Resumable"]["required"]
    assert create["Upload-Length"]["required"]
    assert "Upload-Offset" in params("/api/v1/uploads/{upload_id}", "patch")
    for method in ("head", "patch", "delete"):
        assert "412" in paths["/api/v1/uploads/{upload_id}"][method]["responses"], method
    schemas = document["components"]["schemas"]
    assert schemas["LegalHoldInput"]["properties"]["on"] == {"title": "On", "type": "boolean"}
    when = schemas["TransferInput"]["properties"]["when"]
    assert (when["type"], when["format"]) == ("string", "date-time")
    assert schemas["TokenIn"]["properties"]["name"]["minLength"] == 1
    assert schemas["CaseInput"]["properties"]["title"]["minLength"] == 1
    assert paths["/api/v1/custody/public-key"]["get"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }
