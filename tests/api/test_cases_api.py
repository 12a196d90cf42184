"""Cases and their members through the JSON API: creation, reading, cursor pagination,
membership rules, and bad input that must change nothing."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from sqlalchemy import func, select

from casefile.logic.accounts import accounts
from casefile.model import Case, CaseMember, Role
from tests.factories import add_member, bearer, make_case, make_user

FULL_CASE = {
    "title": "The Gambia v. Myanmar",
    "forum": "icj",
    "court": "International Court of Justice",
    "reference": "General List No. 178",
    "ern_pattern": "GMB-{year:04d}-{seq:05d}",
    "languages": ["en", "fr", "my"],
    "description": "Application instituting proceedings under the Genocide Convention.",
}


def error_code(response) -> str:
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    return body["error"]["code"]


def mismatch(response, status: int, code: str, field: str | None = None) -> str | None:
    """Why `response` is not the expected JSON error, or None (for table-driven tests)."""
    body = response.get_json(silent=True) or {}
    error = body.get("error") or {}
    got = (response.status_code, error.get("code"))
    if got != (status, code) or set(body) != {"error"} or not error.get("message"):
        return f"expected {status} {code}, got {got[0]} {response.get_data(as_text=True)[:200]}"
    if field is not None and field not in error.get("fields", {}):
        return f"no message for {field!r} in {error.get('fields')}"
    return None


def case_ids(client, headers) -> list[str]:
    response = client.get("/api/v1/cases?limit=200", headers=headers)
    assert response.status_code == 200
    return [item["id"] for item in response.get_json()["items"]]


def case_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Case))


def members_of(client, headers, case_id) -> dict[str, str]:
    response = client.get(f"/api/v1/cases/{case_id}/members", headers=headers)
    assert response.status_code == 200
    return {item["email"]: item["role"] for item in response.get_json()["items"]}


# --- creating and reading cases -------------------------------------------------------------


def test_create_case_echoes_every_field(client, session):
    lead = make_user(session, "lead@example.org")
    headers = bearer(session, lead)

    response = client.post("/api/v1/cases", json=FULL_CASE, headers=headers)

    assert response.status_code == 201
    body = response.get_json()
    uuid.UUID(body["id"])
    for name, value in FULL_CASE.items():
        assert body[name] == value, name
    assert body["my_role"] == "lead"
    assert body["created_at"]
    fetched = client.get(f"/api/v1/cases/{body['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    assert members_of(client, headers, body["id"]) == {"lead@example.org": "lead"}


def test_create_case_with_required_fields_only_gets_defaults(client, session):
    headers = bearer(session, make_user(session, "lead@example.org"))

    response = client.post(
        "/api/v1/cases", json={"title": "  Rohingya  ", "forum": "uj"}, headers=headers
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["title"] == "Rohingya"
    assert body["forum"] == "uj"
    assert body["court"] is None
    assert body["reference"] is None
    assert body["description"] is None
    assert body["languages"] == []
    assert body["ern_pattern"] == "CF-{seq:06d}"


def test_list_shows_only_my_cases_with_my_role(client, session):
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    shared = make_case(session, lead, "Shared")
    make_case(session, lead, "Lead only")
    add_member(session, shared, lead, viewer, Role.VIEWER)

    mine = client.get("/api/v1/cases", headers=bearer(session, viewer)).get_json()
    assert [(item["title"], item["my_role"]) for item in mine["items"]] == [("Shared", "viewer")]
    assert mine["next"] is None
    assert case_ids(client, bearer(session, outsider)) == []
    assert len(case_ids(client, bearer(session, lead))) == 2


def test_non_member_and_admin_get_404_for_a_case(client, session):
    lead = make_user(session, "lead@example.org")
    outsider = make_user(session, "outsider@example.org")
    admin = make_user(session, "admin@example.org", admin=True)
    case = make_case(session, lead)

    for user in (outsider, admin):
        headers = bearer(session, user)
        for path in (f"/api/v1/cases/{case.id}", f"/api/v1/cases/{case.id}/members"):
            response = client.get(path, headers=headers)
            assert response.status_code == 404
            assert error_code(response) == "not_found"
    missing = client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=bearer(session, outsider))
    assert missing.status_code == 404
    # Indistinguishable: an existing case and a missing one answer alike.
    hidden = client.get(f"/api/v1/cases/{case.id}", headers=bearer(session, outsider))
    assert hidden.get_json() == missing.get_json()


def test_anonymous_cannot_use_cases(client, session):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    for method, path in (
        ("GET", "/api/v1/cases"),
        ("POST", "/api/v1/cases"),
        ("GET", f"/api/v1/cases/{case.id}"),
    ):
        response = client.open(path, method=method, json=FULL_CASE if method == "POST" else None)
        assert response.status_code == 401
        assert error_code(response) == "unauthenticated"
    assert case_count(session) == 1


# --- pagination -----------------------------------------------------------------------------


def test_pagination_walks_every_case_once(client, session):
    lead = make_user(session, "lead@example.org")
    headers = bearer(session, lead)
    created = [
        client.post("/api/v1/cases", json={"title": f"Case {n}", "forum": "icc"}, headers=headers)
        for n in range(4)
    ]
    assert all(response.status_code == 201 for response in created)

    seen: list[str] = []
    url = "/api/v1/cases?limit=1"
    for _ in range(10):
        page = client.get(url, headers=headers)
        assert page.status_code == 200
        body = page.get_json()
        assert len(body["items"]) == 1
        seen.append(body["items"][0]["id"])
        if body["next"] is None:
            break
        url = f"/api/v1/cases?limit=1&cursor={body['next']}"
    else:
        pytest.fail("the cursor never reached the end")

    assert sorted(seen) == sorted(response.get_json()["id"] for response in created)
    assert len(set(seen)) == 4


def test_pagination_page_sizes(client, session):
    lead = make_user(session, "lead@example.org")
    for n in range(3):
        make_case(session, lead, f"Case {n}")
    headers = bearer(session, lead)

    first = client.get("/api/v1/cases?limit=2", headers=headers).get_json()
    assert len(first["items"]) == 2
    assert first["next"]
    second = client.get(f"/api/v1/cases?limit=2&cursor={first['next']}", headers=headers).get_json()
    assert len(second["items"]) == 1
    assert second["next"] is None
    everything = client.get("/api/v1/cases?limit=200", headers=headers).get_json()
    assert len(everything["items"]) == 3
    assert everything["next"] is None


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


BAD_PAGING = (
    ("limit=0", "limit"),
    ("limit=500", "limit"),
    ("limit=201", "limit"),
    ("limit=-1", "limit"),
    ("limit=ten", "limit"),
    ("cursor=not-a-cursor!!", "cursor"),
    ("cursor=" + _cursor("just a string"), "cursor"),
    ("cursor=" + _cursor([1, 2]), "cursor"),
    ("cursor=" + _cursor(["yesterday", "nope"]), "cursor"),
    ("cursor=" + _cursor(["2024-01-01T00:00:00", str(uuid.UUID(int=1))]), "cursor"),  # no zone
)


def test_bad_paging_parameters_are_422(client, session):
    lead = make_user(session, "lead@example.org")
    make_case(session, lead)
    headers = bearer(session, lead)

    wrong = {}
    for query, field in BAD_PAGING:
        response = client.get(f"/api/v1/cases?{query}", headers=headers)
        if problem := mismatch(response, 422, "validation_error", field):
            wrong[query] = problem
    assert not wrong


# --- bad input for POST /cases changes nothing ------------------------------------------------

JSON = "application/json"
MALFORMED = (400, "bad_request", None)
UNSUPPORTED = (415, "unsupported_media_type", None)


def invalid(field: str) -> tuple[int, str, str]:
    return (422, "validation_error", field)


def case_with(**fields: object) -> dict[str, object]:
    return {"title": "x", "forum": "icc", **fields}


BAD_CASE_INPUT = (  # (what, body, content type, expected answer)
    ("malformed", '{"title": "x", "forum": ', JSON, MALFORMED),
    ("empty body", "", JSON, MALFORMED),
    ("array", "[1, 2]", JSON, MALFORMED),
    ("string", '"a case"', JSON, MALFORMED),
    ("null", "null", JSON, MALFORMED),
    ("unknown field", case_with(colour="red"), JSON, invalid("colour")),
    ("title a number", case_with(title=5), JSON, invalid("title")),
    ("languages a string", case_with(languages="en"), JSON, invalid("languages")),
    ("bad language tag", case_with(languages=["english!"]), JSON, invalid("languages")),
    ("unknown forum", case_with(forum="echr"), JSON, invalid("forum")),
    ("forum in capitals", case_with(forum="ICC"), JSON, invalid("forum")),
    ("ERN unknown field", case_with(ern_pattern="{foo}-{seq}"), JSON, invalid("ern_pattern")),
    ("ERN without seq", case_with(ern_pattern="MMR-0001"), JSON, invalid("ern_pattern")),
    ("ERN with a space", case_with(ern_pattern="A B {seq}"), JSON, invalid("ern_pattern")),
    ("ERN conversion", case_with(ern_pattern="{seq!r}"), JSON, invalid("ern_pattern")),
    ("no title", {"forum": "icc"}, JSON, invalid("title")),
    ("blank title", case_with(title="   "), JSON, invalid("title")),
    ("long title", case_with(title="x" * 301), JSON, invalid("title")),
    ("no forum", {"title": "x"}, JSON, invalid("forum")),
    ("form-encoded", "title=x&forum=icc", "application/x-www-form-urlencoded", UNSUPPORTED),
    ("text/plain", '{"title": "x", "forum": "icc"}', "text/plain", UNSUPPORTED),
)


def test_bad_case_input_changes_nothing(client, session):
    lead = make_user(session, "lead@example.org")
    make_case(session, lead)
    headers = bearer(session, lead)
    before = case_ids(client, headers)

    wrong = {}
    for what, data, content_type, answer in BAD_CASE_INPUT:
        raw = json.dumps(data) if isinstance(data, dict) else data
        response = client.post(
            "/api/v1/cases", data=raw, content_type=content_type, headers=headers
        )
        if problem := mismatch(response, *answer):
            wrong[what] = problem
    assert not wrong
    assert case_ids(client, headers) == before
    assert case_count(session) == 1


def test_no_body_at_all_is_415(client, session):
    headers = bearer(session, make_user(session, "lead@example.org"))
    response = client.post("/api/v1/cases", headers=headers)
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"
    assert case_count(session) == 0


def test_json_with_charset_is_accepted(client, session):
    headers = bearer(session, make_user(session, "lead@example.org"))
    response = client.post(
        "/api/v1/cases",
        data=json.dumps({"title": "Ünïcödé ဗမာ", "forum": "icc"}).encode(),
        content_type="application/json; charset=utf-8",
        headers=headers,
    )
    assert response.status_code == 201
    assert response.get_json()["title"] == "Ünïcödé ဗမာ"


def test_anonymous_bad_body_is_401_not_a_validation_answer(client, session):
    """Authentication comes before the body is parsed: the caller learns nothing else."""
    for data in ('{"title": ', '{"title": 5}'):
        response = client.post("/api/v1/cases", data=data, content_type=JSON)
        assert response.status_code == 401
        assert error_code(response) == "unauthenticated"
    assert case_count(session) == 0


# --- members --------------------------------------------------------------------------------


@pytest.fixture
def team(session):
    """A case with a lead and a lawyer, plus an account that is not a member."""
    lead = make_user(session, "lead@example.org")
    lawyer = make_user(session, "lawyer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, lawyer, Role.LAWYER)
    return {
        "case": case.id,
        "lead": lead,
        "lawyer": lawyer,
        "outsider": outsider,
        "as_lead": bearer(session, lead),
        "as_lawyer": bearer(session, lawyer),
        "as_outsider": bearer(session, outsider),
    }


def test_lead_adds_a_member(client, session, team):
    response = client.post(
        f"/api/v1/cases/{team['case']}/members",
        json={"email": "Outsider@Example.org", "role": "investigator"},
        headers=team["as_lead"],
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["user_id"] == str(team["outsider"].id)
    assert body["email"] == "outsider@example.org"
    assert body["role"] == "investigator"
    assert body["added_at"]
    assert members_of(client, team["as_lead"], team["case"]) == {
        "lead@example.org": "lead",
        "lawyer@example.org": "lawyer",
        "outsider@example.org": "investigator",
    }
    seen = client.get(f"/api/v1/cases/{team['case']}", headers=team["as_outsider"])
    assert seen.status_code == 200
    assert seen.get_json()["my_role"] == "investigator"


BAD_MEMBER_ADDITIONS = (
    ({"email": "lawyer@example.org", "role": "viewer"}, (409, "conflict", None)),
    ({"email": "LAWYER@example.org", "role": "viewer"}, (409, "conflict", None)),
    ({"email": "nobody@example.org", "role": "viewer"}, invalid("email")),
    ({"email": "not-an-email", "role": "viewer"}, invalid("email")),
    ({"email": "outsider@example.org", "role": "boss"}, invalid("role")),
    ({"email": "outsider@example.org"}, invalid("role")),
    ({"email": "outsider@example.org", "role": "viewer", "x": 1}, invalid("x")),
)


def test_bad_member_additions_change_nothing(client, team):
    before = members_of(client, team["as_lead"], team["case"])

    wrong = {}
    for payload, answer in BAD_MEMBER_ADDITIONS:
        response = client.post(
            f"/api/v1/cases/{team['case']}/members", json=payload, headers=team["as_lead"]
        )
        if problem := mismatch(response, *answer):
            wrong[json.dumps(payload)] = problem
    assert not wrong
    assert members_of(client, team["as_lead"], team["case"]) == before


def test_disabled_account_cannot_be_added(client, session, team):
    accounts.set_disabled(session, None, team["outsider"], disabled=True)
    response = client.post(
        f"/api/v1/cases/{team['case']}/members",
        json={"email": "outsider@example.org", "role": "viewer"},
        headers=team["as_lead"],
    )
    assert response.status_code == 422
    assert "email" in response.get_json()["error"]["fields"]


def test_lead_changes_a_role_and_removes_a_member(client, team):
    member_url = f"/api/v1/cases/{team['case']}/members/{team['lawyer'].id}"

    changed = client.patch(member_url, json={"role": "viewer"}, headers=team["as_lead"])
    assert changed.status_code == 200
    assert changed.get_json()["role"] == "viewer"
    as_lawyer = client.get(f"/api/v1/cases/{team['case']}", headers=team["as_lawyer"])
    assert as_lawyer.get_json()["my_role"] == "viewer"

    removed = client.delete(member_url, headers=team["as_lead"])
    assert removed.status_code == 204
    assert removed.get_data() == b""
    assert members_of(client, team["as_lead"], team["case"]) == {"lead@example.org": "lead"}
    gone = client.get(f"/api/v1/cases/{team['case']}", headers=team["as_lawyer"])
    assert gone.status_code == 404


def test_promoted_member_may_manage_and_old_lead_may_then_step_down(client, team):
    case, lead_id = team["case"], team["lead"].id
    promoted = client.patch(
        f"/api/v1/cases/{case}/members/{team['lawyer'].id}",
        json={"role": "lead"},
        headers=team["as_lead"],
    )
    assert promoted.status_code == 200

    stepped_down = client.patch(
        f"/api/v1/cases/{case}/members/{lead_id}", json={"role": "lawyer"}, headers=team["as_lead"]
    )
    assert stepped_down.status_code == 200
    # The former lead may no longer manage; the new one may.
    refused = client.delete(f"/api/v1/cases/{case}/members/{lead_id}", headers=team["as_lead"])
    assert refused.status_code == 403
    removed = client.delete(f"/api/v1/cases/{case}/members/{lead_id}", headers=team["as_lawyer"])
    assert removed.status_code == 204
    assert members_of(client, team["as_lawyer"], case) == {"lawyer@example.org": "lead"}


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_last_lead_stays(client, session, team, action):
    url = f"/api/v1/cases/{team['case']}/members/{team['lead'].id}"
    before = members_of(client, team["as_lead"], team["case"])

    if action == "demote":
        response = client.patch(url, json={"role": "viewer"}, headers=team["as_lead"])
    else:
        response = client.delete(url, headers=team["as_lead"])

    assert response.status_code == 409
    assert error_code(response) == "conflict"
    assert members_of(client, team["as_lead"], team["case"]) == before
    leads = session.scalar(
        select(func.count())
        .select_from(CaseMember)
        .where(CaseMember.case_id == team["case"], CaseMember.role == Role.LEAD)
    )
    assert leads == 1


def test_lead_keeping_the_lead_role_is_not_a_conflict(client, team):
    response = client.patch(
        f"/api/v1/cases/{team['case']}/members/{team['lead'].id}",
        json={"role": "lead"},
        headers=team["as_lead"],
    )
    assert response.status_code == 200


def _member_calls(team):
    case, target = team["case"], team["lead"].id
    return [
        ("POST", f"/api/v1/cases/{case}/members",
         {"email": "outsider@example.org", "role": "lead"}),
        ("PATCH", f"/api/v1/cases/{case}/members/{target}", {"role": "viewer"}),
        ("DELETE", f"/api/v1/cases/{case}/members/{target}", None),
    ]


def test_non_lead_member_gets_403_and_nothing_changes(client, team):
    before = members_of(client, team["as_lead"], team["case"])
    for method, url, payload in _member_calls(team):
        response = client.open(url, method=method, json=payload, headers=team["as_lawyer"])
        assert response.status_code == 403, (method, url)
        assert error_code(response) == "forbidden"
    assert members_of(client, team["as_lead"], team["case"]) == before


def test_non_member_gets_404_and_nothing_changes(client, session, team):
    before = members_of(client, team["as_lead"], team["case"])
    admin_headers = bearer(session, make_user(session, "admin@example.org", admin=True))
    for headers in (team["as_outsider"], admin_headers):
        for method, url, payload in _member_calls(team):
            response = client.open(url, method=method, json=payload, headers=headers)
            assert response.status_code == 404, (method, url)
            assert error_code(response) == "not_found"
    assert members_of(client, team["as_lead"], team["case"]) == before


@pytest.mark.parametrize("payload", [{"role": "boss"}, {}, {"email": "not an address"}])
def test_who_may_not_manage_members_is_refused_before_the_body_is_read(client, team, payload):
    # 403 for a member, 404 for a non-member, whatever the body: no validation answer first.
    for headers, status in ((team["as_lawyer"], 403), (team["as_outsider"], 404)):
        for method, url in (
            ("POST", f"/api/v1/cases/{team['case']}/members"),
            ("PATCH", f"/api/v1/cases/{team['case']}/members/{team['lawyer'].id}"),
        ):
            response = client.open(url, method=method, json=payload, headers=headers)
            assert response.status_code == status, (method, headers, response.get_json())


def test_changing_someone_who_is_not_a_member_is_404(client, team):
    url = f"/api/v1/cases/{team['case']}/members/{team['outsider'].id}"
    assert client.patch(url, json={"role": "viewer"}, headers=team["as_lead"]).status_code == 404
    assert client.delete(url, headers=team["as_lead"]).status_code == 404


def test_bad_role_change_is_422_and_changes_nothing(client, team):
    before = members_of(client, team["as_lead"], team["case"])
    wrong = {}
    for payload in ({"role": "boss"}, {"role": None}, {}, {"role": "viewer", "email": "x@y.org"}):
        response = client.patch(
            f"/api/v1/cases/{team['case']}/members/{team['lawyer'].id}",
            json=payload,
            headers=team["as_lead"],
        )
        if problem := mismatch(response, 422, "validation_error"):
            wrong[json.dumps(payload)] = problem
    assert not wrong
    assert members_of(client, team["as_lead"], team["case"]) == before
