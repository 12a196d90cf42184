"""Authorize before validate: who may not act on a case or item learns nothing from the errors
of their request. An outsider gets 404 and a member whose role lacks the action gets 403,
whatever the body or headers hold, invalid ones included; only then is the input read.

Also the contract fixes the schemathesis run led to: strict JSON types, a transfer's `when`,
the legal hold's `on` and `my_role`, public routes that ignore credentials, strict paging."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from casefile.model import CustodyAction, CustodyEntry
from tests.api.seeding import seed_case

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def world(session, client):
    return seed_case(session, client)


# (method, path template, bodies to try: valid, of the wrong types, not JSON, not an object)
JSON_ROUTES = [
    ("PUT", "/api/v1/cases/{case}/legal-hold", {"on": True, "reason": "court order"}),
    ("DELETE", "/api/v1/evidence/{item}", {"reason": "duplicate scan"}),
    ("POST", "/api/v1/evidence/{item}/grants", {"email": "viewer@example.org"}),
    (
        "POST",
        "/api/v1/cases/{case}/custody/transfers",
        {"from": "A", "to": "B", "when": "2026-11-20T09:30:00Z", "reason": "r"},
    ),
]
BAD_BODIES = [
    {"json": {"on": "yes", "reason": 5, "email": 0, "when": 0, "from": [], "extra": 1}},
    {"json": {}},
    {"json": ["not", "an", "object"]},
    {"data": b"{not json", "content_type": "application/json"},
    {"data": b"reason=x", "content_type": "application/x-www-form-urlencoded"},
    {},
]


def _url(template, world):
    return template.format(case=world["case"], item=world["item"])


def _custody_count(session):
    return session.scalar(select(func.count()).select_from(CustodyEntry))


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_an_outsider_gets_404_whatever_the_body(client, session, world, route):
    method, template, valid = route
    before = _custody_count(session)
    for body in [{"json": valid}, *BAD_BODIES]:
        response = client.open(_url(template, world), method=method, headers=world["outsider"],
                               **body)
        assert response.status_code == 404, (method, template, body, response.get_json())
        assert response.get_json()["error"]["code"] == "not_found"
    assert _custody_count(session) == before


@pytest.mark.parametrize("route", JSON_ROUTES[:3])
def test_a_viewer_gets_403_whatever_the_body(client, session, world, route):
    # Legal hold, deletion and grants are for leads only.
    method, template, valid = route
    before = _custody_count(session)
    for body in [{"json": valid}, *BAD_BODIES]:
        response = client.open(_url(template, world), method=method, headers=world["viewer"],
                               **body)
        assert response.status_code == 403, (method, template, body, response.get_json())
    assert _custody_count(session) == before


def test_a_viewer_may_not_record_a_transfer_whatever_the_body(client, session, world):
    before = _custody_count(session)
    url = f"/api/v1/cases/{world['case']}/custody/transfers"
    for body in [{"json": JSON_ROUTES[3][2]}, *BAD_BODIES]:
        response = client.post(url, headers=world["viewer"], **body)
        assert response.status_code == 403, (body, response.get_json())
    assert _custody_count(session) == before


def test_paging_errors_are_only_for_those_who_may_see_the_case(client, world):
    url = f"/api/v1/cases/{world['case']}/evidence"
    for query in ("?limit=0", "?limit=abc", "?cursor=%C3%95", "?limit=201"):
        assert client.get(url + query, headers=world["outsider"]).status_code == 404, query
        assert client.get(url + query, headers=world["lead"]).status_code == 422, query


def test_tus_creation_and_append_refuse_others_before_reading_their_headers(client, world):
    create = f"/api/v1/cases/{world['case']}/uploads"
    for headers in ({"Upload-Length": "x"}, {"Upload-Length": "5", "Upload-Metadata": "!!"}, {}):
        response = client.post(create, headers={**world["outsider"], **TUS, **headers})
        assert response.status_code == 404, headers
        response = client.post(create, headers={**world["viewer"], **TUS, **headers})
        assert response.status_code == 403, headers
    made = client.post(create, headers={**world["lead"], **TUS, "Upload-Length": "4"})
    assert made.status_code == 201
    upload = made.headers["Location"]
    for headers in ({"Upload-Offset": "-1"}, {"Upload-Offset": "0", "Upload-Checksum": "md5 x"}):
        response = client.patch(
            upload,
            headers={**world["outsider"], **TUS, **headers},
            data=b"abcd",
            content_type="text/plain",
        )
        assert response.status_code == 404, headers
    assert client.head(upload, headers={**world["lead"], **TUS}).headers["Upload-Offset"] == "0"


# --- the contract fixes schemathesis led to ------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [0, 1732000000, "0", "1732000000", "1970-01-01", "2026-11-20T09:30:00", True, None,
     "1899-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
     "next tuesday"],
)
def test_a_transfer_date_that_is_not_an_iso_moment_never_reaches_the_log(client, session, world,
                                                                          when):
    before = _custody_count(session)
    response = client.post(
        f"/api/v1/cases/{world['case']}/custody/transfers",
        headers=world["lead"],
        json={"from": "A", "to": "B", "when": when, "reason": "handover"},
    )
    assert response.status_code == 422, response.get_json()
    assert "when" in response.get_json()["error"]["fields"]
    assert _custody_count(session) == before


def test_a_transfer_with_an_iso_moment_is_logged_in_utc(client, session, world):
    response = client.post(
        f"/api/v1/cases/{world['case']}/custody/transfers",
        headers=world["lead"],
        json={"from": "A", "to": "B", "when": "2026-11-20t09:30:00+06:30", "reason": "handover"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["details"]["when"] == "2026-11-20T03:00:00+00:00"
    entry = session.scalars(
        select(CustodyEntry).where(CustodyEntry.action == CustodyAction.CUSTODY_TRANSFERRED)
    ).one()
    details = json.loads(entry.details) if isinstance(entry.details, str) else entry.details
    assert details["when"] == "2026-11-20T03:00:00+00:00"


@pytest.mark.parametrize("on", ["yes", "true", 0, 1, None, [], "false"])
def test_legal_hold_takes_only_true_or_false(client, session, world, on):
    before = _custody_count(session)
    response = client.put(f"/api/v1/cases/{world['case']}/legal-hold", headers=world["lead"],
                          json={"on": on, "reason": "court order"})
    assert response.status_code == 422
    assert "on" in response.get_json()["error"]["fields"]
    assert _custody_count(session) == before


def test_legal_hold_answers_with_the_callers_role(client, world):
    response = client.put(f"/api/v1/cases/{world['case']}/legal-hold", headers=world["lead"],
                          json={"on": True, "reason": "court order"})
    assert response.status_code == 200
    assert response.get_json()["legal_hold"] is True
    assert response.get_json()["my_role"] == "lead"


def test_json_bodies_are_taken_strictly(client, world):
    # A number is not text, text is not a number: no silent conversion.
    response = client.post("/api/v1/me/tokens", headers=world["lead"],
                           json={"name": "laptop", "days": "30"})
    assert response.status_code == 422
    assert "days" in response.get_json()["error"]["fields"]
    response = client.post("/api/v1/cases", headers=world["lead"],
                           json={"title": 5, "forum": "icc"})
    assert response.status_code == 422
    for name in ("", "   ", "\x00x"):
        response = client.post("/api/v1/me/tokens", headers=world["lead"], json={"name": name})
        assert response.status_code == 422, name


@pytest.mark.parametrize(
    "path", ["/api/v1/openapi.json", "/api/v1/custody/public-key", "/api/v1/uploads/{upload}"]
)
def test_public_routes_ignore_credentials(client, world, path):
    url = path.format(upload=uuid.uuid4())
    method = "OPTIONS" if "uploads" in path else "GET"
    plain = client.open(url, method=method)
    for header in ("Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer "):
        response = client.open(url, method=method, headers={"Authorization": header})
        assert response.status_code == plain.status_code != 401, (path, header)


def test_private_routes_still_refuse_a_bad_token(client):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=-1", "limit=5_0", "limit=+5",
                                   "limit=%205", "limit=1.0"])
def test_page_size_is_a_plain_number_from_1_to_200(client, world, query):
    response = client.get(f"/api/v1/cases?{query}", headers=world["lead"])
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"].keys() == {"limit"}


def test_page_size_bounds_are_accepted(client, world):
    for query in ("limit=1", "limit=200"):
        assert client.get(f"/api/v1/cases?{query}", headers=world["lead"]).status_code == 200
