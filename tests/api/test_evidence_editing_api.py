"""PATCH /api/v1/evidence/{id}: editing an item's collector metadata through the API."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from casefile.model import CustodyAction, CustodyEntry, Role
from tests.api.test_evidence_api import upload
from tests.factories import add_member, bearer, make_case, make_user


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = bearer(session, investigator)
    response = upload(client, case.id, headers, b"statement of W-17", filename="w17.txt",
                      content_type="text/plain", title="Statement W-17", location="Tula Toli")
    assert response.status_code == 201
    return SimpleNamespace(case=case, item=response.get_json(), investigator=headers,
                           viewer=bearer(session, viewer), lead=bearer(session, lead))


def patch(client, world, headers, **body):
    return client.patch(f"/api/v1/evidence/{world.item['id']}", json=body, headers=headers)


def edit_entries(session) -> list[dict]:
    entries = session.scalars(select(CustodyEntry).where(
        CustodyEntry.action == CustodyAction.METADATA_EDITED))
    return [json.loads(entry.details) for entry in entries]


def test_an_edit_returns_the_item_and_is_in_its_custody(client, world, session):
    version = world.item["metadata_version"]
    response = patch(client, world, world.investigator, version=version,
                     title="Statement W-17 (translated)", collected_at="2017-08-30T09:15:00+06:30",
                     location=None)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["title"] == "Statement W-17 (translated)"
    assert body["collector"] == {"collected_at": "2017-08-30T09:15:00+06:30"}
    assert body["metadata_version"] != version
    assert client.get(f"/api/v1/evidence/{world.item['id']}",
                      headers=world.viewer).get_json() == body
    [details] = edit_entries(session)
    assert details["changes"] == {
        "title": {"from": "Statement W-17", "to": "Statement W-17 (translated)"},
        "collected_at": {"from": None, "to": "2017-08-30T09:15:00+06:30"},
        "location": {"from": "Tula Toli", "to": None},
    }
    custody = client.get(f"/api/v1/evidence/{world.item['id']}/custody",
                         headers=world.viewer).get_json()
    assert [entry["action"] for entry in custody["entries"]] == ["intake", "metadata_edited"]


def test_a_stale_version_is_refused_with_409(client, world, session):
    version = world.item["metadata_version"]
    assert patch(client, world, world.lead, version=version, title="The lead's").status_code == 200
    response = patch(client, world, world.investigator, version=version, title="Mine")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "stale_version"
    current = client.get(f"/api/v1/evidence/{world.item['id']}", headers=world.viewer).get_json()
    assert current["title"] == "The lead's"
    assert len(edit_entries(session)) == 1


def test_refusals(client, world, session):
    version = world.item["metadata_version"]
    viewer = patch(client, world, world.viewer, version=version, title="x")
    assert viewer.status_code == 403
    unknown = patch(client, world, world.investigator, version=version, sha256="0" * 64)
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["fields"] == {"sha256": "unknown field"}
    no_version = patch(client, world, world.investigator, title="x")
    assert no_version.status_code == 422 and "version" in no_version.get_json()["error"]["fields"]
    no_title = patch(client, world, world.investigator, version=version, title=None)
    assert no_title.status_code == 422
    missing = client.patch("/api/v1/evidence/00000000-0000-4000-8000-000000000000",
                           json={"version": version, "title": "x"}, headers=world.investigator)
    assert missing.status_code == 404
    assert edit_entries(session) == []


def test_an_edit_that_changes_nothing_records_nothing(client, world, session):
    response = patch(client, world, world.investigator,
                     version=world.item["metadata_version"], title="Statement W-17")
    assert response.status_code == 200
    assert response.get_json()["metadata_version"] == world.item["metadata_version"]
    assert edit_entries(session) == []
