"""Errors under /api/v1 are always the JSON envelope with a fitting status, and an unexpected
failure shows the client nothing of its cause."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from sqlalchemy import func, select

from casefile import create_app
from casefile.logic.cases import cases
from casefile.model import Case
from tests.factories import bearer, make_case, make_settings, make_user


def error_body(response) -> dict:
    assert response.is_json, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


@pytest.fixture
def headers(session):
    return bearer(session, make_user(session, "lawyer@example.org"))


UNKNOWN_OR_MALFORMED = (
    "/api/v1/nope",
    "/api/v1/cases/123/evidence/nonsense",
    "/api/v1/",
    "/api/v1",
    "/api/v1/cases/not-a-uuid",
    "/api/v1/cases/12345678-1234-1234-1234-12345678901",  # one digit short
    "/api/v1/cases/not-a-uuid/members",
    "/api/v1/me/tokens/xyz",
)


def test_unknown_or_malformed_paths_are_404_json(client, headers):
    wrong = {}
    for path in UNKNOWN_OR_MALFORMED:
        for extra in ({}, headers):
            response = client.get(path, headers=extra)
            if response.status_code != 404 or error_body(response)["code"] != "not_found":
                wrong[(path, bool(extra))] = response.status_code
    assert not wrong


def test_outside_the_api_a_404_is_an_html_page(client, headers):
    response = client.get("/api/v2/cases", headers=headers)
    assert response.status_code == 404
    assert response.mimetype == "text/html"


NOT_ALLOWED = (
    ("DELETE", "/api/v1/cases"),
    ("PUT", "/api/v1/cases"),
    ("PATCH", "/api/v1/me"),
    ("POST", "/api/v1/openapi.json"),
    ("GET", f"/api/v1/cases/{uuid.UUID(int=1)}/members/{uuid.UUID(int=2)}"),
)


def test_method_not_allowed_is_405_json(client, session, headers):
    wrong = {}
    for method, path in NOT_ALLOWED:
        response = client.open(path, method=method, headers=headers, json={})
        if (
            response.status_code != 405
            or error_body(response)["code"] != "method_not_allowed"
            or not response.headers.get("Allow")  # RFC 9110: a 405 names what is allowed
        ):
            wrong[(method, path)] = (response.status_code, response.headers.get("Allow"))
    assert not wrong
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_unexpected_exception_is_500_json_without_details(client, headers, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(cases, "list_cases", explode)

    with caplog.at_level(logging.ERROR, logger="casefile"):
        response = client.get("/api/v1/cases", headers=headers)

    assert response.status_code == 500
    error = error_body(response)
    assert error["code"] == "internal_error"
    text = response.get_data(as_text=True)
    for leak in ("secret detail", "Traceback", "RuntimeError", "explode", ".py"):
        assert leak not in text
    # The operator still learns what happened.
    assert any("secret detail" in str(record.exc_info[1]) for record in caplog.records
               if record.exc_info)


def test_unexpected_exception_rolls_back_the_request(client, session, headers, monkeypatch):
    real = cases.create_case

    def create_then_fail(db_session, actor, data):
        case = Case(created_by_id=actor.id, title=data.title, forum=data.forum,
                    ern_pattern=data.ern_pattern, languages=[])
        db_session.add(case)
        db_session.flush()
        raise RuntimeError("secret detail")

    monkeypatch.setattr(cases, "create_case", create_then_fail)
    response = client.post("/api/v1/cases", json={"title": "x", "forum": "icc"}, headers=headers)
    monkeypatch.setattr(cases, "create_case", real)

    assert response.status_code == 500
    assert "secret detail" not in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert client.get("/api/v1/cases", headers=headers).get_json()["items"] == []


def test_unexpected_exception_on_a_web_page_shows_no_trace(client, session, monkeypatch):
    user = make_user(session, "lawyer@example.org")
    with client.session_transaction() as cookie:
        cookie["_user_id"] = user.get_id()
        cookie["_fresh"] = True
        cookie["seen"] = int(time.time())

    def explode(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(cases, "list_cases", explode)
    response = client.get("/cases")

    assert response.status_code == 500
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "secret detail" not in text
    assert "Traceback" not in text


def test_an_unexpected_exception_from_a_werkzeug_500_is_also_enveloped(
    client, headers, monkeypatch
):
    from werkzeug.exceptions import InternalServerError  # noqa: PLC0415

    def explode(*args, **kwargs):
        raise InternalServerError("secret detail")

    monkeypatch.setattr(cases, "get_case", explode)
    response = client.get(f"/api/v1/cases/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=headers)
    assert response.status_code == 500
    assert error_body(response)["code"] == "internal_error"
    assert "secret detail" not in response.get_data(as_text=True)


def test_body_over_the_size_limit_is_413_json(tmp_path, database, session):
    app = create_app(make_settings(tmp_path, max_request_mb=1), database=database)
    client = app.test_client()
    headers = bearer(session, make_user(session, "lawyer@example.org"))
    big = b'{"title": "' + b"x" * (1024 * 1024 + 10) + b'", "forum": "icc"}'

    response = client.post("/api/v1/cases", data=big, content_type="application/json",
                           headers=headers)

    assert response.status_code == 413
    assert error_body(response)["code"] == "payload_too_large"
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_validation_errors_carry_fields(client, headers):
    response = client.post("/api/v1/cases", json={"title": 5, "forum": "ecthr", "x": 1},
                           headers=headers)
    assert response.status_code == 422
    error = error_body(response)
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"title", "forum", "x"}
    assert all(isinstance(message, str) for message in error["fields"].values())
    assert error["fields"]["x"] == "unknown field"


def test_other_errors_carry_no_fields(client, session, headers):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    response = client.get(f"/api/v1/cases/{case.id}", headers=headers)
    assert response.status_code == 404
    assert "fields" not in error_body(response)


def test_domain_errors_do_not_name_their_internals(client, headers):
    response = client.post("/api/v1/cases", data="{", content_type="application/json",
                           headers=headers)
    error = error_body(response)
    assert error["code"] == "bad_request"
    assert "pydantic" not in response.get_data(as_text=True).lower()


def test_errors_are_not_cached(client, headers):
    response = client.get("/api/v1/nope", headers=headers)
    assert response.headers["Cache-Control"] == "no-store"
