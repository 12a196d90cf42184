"""Restricted items: invisible without a grant; leads grant and withdraw, on the record."""

from __future__ import annotations

import io
import json

import pytest

from casefile.model import CustodyAction, CustodyEntry, Role
from tests.factories import add_member, bearer, make_case, make_user


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "inv@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = {name: bearer(session, user) for name, user in
               (("lead", lead), ("inv", investigator), ("viewer", viewer))}
    response = client.post(
        f"/api/v1/cases/{case.id}/evidence", headers=headers["inv"],
        data={"file": (io.BytesIO(b"name and address of witness W-17\n"), "w17.txt"),
              "sensitivity": "restricted"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    return {"case": case, "item": response.get_json()["id"], "viewer_user": viewer, **headers}


def visible(client, world, who):
    return client.get(f"/api/v1/evidence/{world['item']}", headers=world[who]).status_code


def test_restricted_item_needs_a_grant(client, world):
    assert visible(client, world, "inv") == 200  # the uploader has one
    assert visible(client, world, "lead") == 404
    assert visible(client, world, "viewer") == 404
    listing = client.get(f"/api/v1/cases/{world['case'].id}/evidence", headers=world["viewer"])
    assert listing.get_json()["items"] == []
    content = client.get(f"/api/v1/evidence/{world['item']}/content", headers=world["viewer"])
    assert content.status_code == 404


def test_lead_grants_and_withdraws(client, world, session):
    url = f"/api/v1/evidence/{world['item']}/grants"
    refused = client.post(url, headers=world["inv"], json={"email": "viewer@example.org"})
    assert refused.status_code == 403
    granted = client.post(url, headers=world["lead"], json={"email": "viewer@example.org"})
    assert granted.status_code == 201
    assert visible(client, world, "viewer") == 200
    assert client.post(url, headers=world["lead"],
                       json={"email": "viewer@example.org"}).status_code == 409
    assert client.post(url, headers=world["lead"],
                       json={"email": "stranger@example.org"}).status_code == 422
    withdrawn = client.delete(f"{url}/{world['viewer_user'].id}", headers=world["lead"])
    assert withdrawn.status_code == 204
    assert visible(client, world, "viewer") == 404
    actions = [e.action for e in session.query(CustodyEntry).filter_by(case_id=world["case"].id)]
    assert CustodyAction.ACCESS_GRANTED in actions and CustodyAction.ACCESS_REVOKED in actions


def test_a_member_who_does_not_see_the_item_gets_a_missing_items_404(client, world, session):
    """The viewer holds no grant and leads nothing: managing the item's access answers as for
    an item that does not exist, so trying tells them nothing."""
    missing = "00000000-0000-4000-8000-000000000000"
    answers = []
    for item in (world["item"], missing):
        url = f"/api/v1/evidence/{item}/grants"
        answers.append([
            (response.status_code, response.get_json())
            for response in (
                client.post(url, headers=world["viewer"], json={"email": "viewer@example.org"}),
                client.delete(f"{url}/{world['viewer_user'].id}", headers=world["viewer"]),
            )
        ])
    assert answers[0] == answers[1] and [status for status, _ in answers[0]] == [404, 404]
    actions = [e.action for e in session.query(CustodyEntry).filter_by(case_id=world["case"].id)]
    assert CustodyAction.ACCESS_GRANTED not in actions


def test_the_uploader_gives_leads_access_and_nothing_else(client, world, session):
    url = f"/api/v1/evidence/{world['item']}/grants"
    assert client.post(url, headers=world["inv"],
                       json={"email": "viewer@example.org"}).status_code == 403
    assert client.post(url, headers=world["inv"],
                       json={"email": "lead@example.org"}).status_code == 201
    assert visible(client, world, "lead") == 200  # the lead can review it now
    assert client.delete(f"{url}/{world['viewer_user'].id}",
                         headers=world["inv"]).status_code == 403
    entries = session.query(CustodyEntry).filter_by(
        case_id=world["case"].id, action=CustodyAction.ACCESS_GRANTED).all()
    assert [json.loads(entry.details)["email"] for entry in entries] == ["lead@example.org"]


def test_the_list_says_how_many_items_are_hidden(client, world):
    listing = f"/api/v1/cases/{world['case'].id}/evidence"
    assert client.get(listing, headers=world["viewer"]).get_json()["hidden_count"] == 1
    assert client.get(listing, headers=world["inv"]).get_json()["hidden_count"] == 0
    client.post(f"/api/v1/evidence/{world['item']}/grants", headers=world["lead"],
                json={"email": "viewer@example.org"})
    page = client.get(f"{listing}?limit=1", headers=world["viewer"]).get_json()
    assert page["hidden_count"] == 0 and len(page["items"]) == 1
