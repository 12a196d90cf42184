"""Bulk actions on a case's items and the evidence list as CSV, through the API."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import func, select

from casefile.logic.custody.verify import verify_log
from casefile.logic.tags import bulk
from casefile.model import CustodyEntry, Evidence, EvidenceGrant, EvidenceTag, Role
from tests.api.test_tags_api import upload
from tests.factories import add_member, bearer, make_case, make_user


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "inv@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    other_case = make_case(session, lead, "Another case")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = {name: bearer(session, user) for name, user in (
        ("lead", lead), ("inv", investigator), ("viewer", viewer), ("outsider", outsider))}
    items = [upload(client, case.id, headers["inv"], f"item {n}\n".encode(), f"{n}.txt",
                    title=f"Photo {n}", collected_by="Ko Aung" if n < 2 else "Ma Hla")
             for n in range(3)]
    hidden = upload(client, case.id, headers["inv"], b"witness W-17\n", "w17.txt",
                    sensitivity="restricted", title="Statement of W-17")
    elsewhere = upload(client, other_case.id, headers["lead"], b"elsewhere\n", "e.txt")
    return {"case": case, "items": items, "hidden": hidden, "elsewhere": elsewhere,
            "url": f"/api/v1/cases/{case.id}/evidence/bulk", **headers}


def log_size(session):
    return session.scalar(select(func.count()).select_from(CustodyEntry))


def item_entries(session, item_id):
    query = select(CustodyEntry).where(CustodyEntry.item_id == uuid.UUID(item_id))
    return list(session.scalars(query.order_by(CustodyEntry.seq)))


def test_bulk_tag_by_ids_one_entry_per_item_sharing_a_bulk_id(client, world, session, app):
    body = {"action": "tag", "ids": world["items"][:2], "tag": "Airstrike"}
    assert client.post(world["url"], headers=world["viewer"], json=body).status_code == 403
    assert client.post(world["url"], headers=world["outsider"], json=body).status_code == 404
    response = client.post(world["url"], headers=world["inv"], json=body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert sorted(result["changed"]) == sorted(world["items"][:2]) and result["unchanged"] == []
    for item in world["items"][:2]:
        last = item_entries(session, item)[-1]
        details = json.loads(last.details)
        assert last.action == "tagged" and details["bulk"] == result["bulk"]
        assert details["after"] == ["Airstrike"]
    # Again, with one more item: only that one changes.
    again = client.post(world["url"], headers=world["inv"],
                        json={**body, "ids": world["items"]}).get_json()
    assert again["changed"] == [world["items"][2]] and len(again["unchanged"]) == 2
    assert verify_log(session, app.extensions["casefile.custody_keys"].verifier_key).ok


def test_bulk_by_filter_changes_every_matching_item(client, world, session):
    body = {"action": "tag", "filter": {"collector": "ko aung"}, "tag": "Set A"}
    result = client.post(world["url"], headers=world["inv"], json=body).get_json()
    assert sorted(result["changed"]) == sorted(world["items"][:2])
    untag = client.post(world["url"], headers=world["inv"],
                        json={"action": "untag", "filter": {"tag": "set a"}, "tag": "SET A"})
    assert sorted(untag.get_json()["changed"]) == sorted(world["items"][:2])
    assert session.scalar(select(EvidenceTag)) is None
    actions = [e.action for e in item_entries(session, world["items"][0])]
    assert actions[-2:] == ["tagged", "untagged"]
    nothing = client.post(world["url"], headers=world["inv"],
                          json={"action": "tag", "filter": {"tag": "no such"}, "tag": "x"})
    assert nothing.status_code == 200 and nothing.get_json()["changed"] == []


def test_an_id_the_caller_cannot_see_is_refused_as_not_found_and_nothing_changes(
        client, world, session):
    before = log_size(session)
    answers = {}
    for name, stranger in (("hidden", world["hidden"]), ("elsewhere", world["elsewhere"]),
                           ("missing", str(uuid.uuid4()))):
        body = {"action": "tag", "ids": [world["items"][0], stranger], "tag": "Arson"}
        response = client.post(world["url"], headers=world["lead"], json=body)
        assert response.status_code == 422
        error = response.get_json()["error"]
        answers[name] = (error["message"].replace(stranger, "ID"),
                         {k: v.replace(stranger, "ID") for k, v in error["fields"].items()})
        assert stranger in error["message"]
    assert answers["hidden"] == answers["elsewhere"] == answers["missing"]
    assert log_size(session) == before
    assert session.scalar(select(EvidenceTag)) is None


def test_too_many_items_are_refused_with_the_cap_named(client, world, session, monkeypatch):
    ids = [str(uuid.uuid4()) for _ in range(bulk.MAX_ITEMS + 1)]
    response = client.post(world["url"], headers=world["inv"],
                           json={"action": "tag", "ids": ids, "tag": "x"})
    assert response.status_code == 422
    assert f"at most {bulk.MAX_ITEMS} items" in response.get_json()["error"]["message"]
    monkeypatch.setattr(bulk, "MAX_ITEMS", 2)
    before = log_size(session)
    response = client.post(world["url"], headers=world["inv"],
                           json={"action": "tag", "filter": {}, "tag": "x"})
    assert response.status_code == 422
    message = response.get_json()["error"]["message"]
    assert "4 items match" in message and "at most 2" in message  # with the one granted
    assert log_size(session) == before


@pytest.mark.parametrize("body", [
    {"action": "tag", "ids": []},
    {"action": "tag", "tag": "x"},
    {"action": "tag", "ids": ["not-an-id"], "tag": "x"},
    {"action": "tag", "ids": [], "filter": {}, "tag": "x"},
    {"action": "set_sensitivity", "filter": {}, "tag": "x"},
    {"action": "set_sensitivity", "filter": {}, "sensitivity": "secret"},
    {"action": "grant", "filter": {}},
    {"action": "explode", "filter": {}, "tag": "x"},
    {"action": "tag", "ids": None, "filter": {}, "tag": "x"},
    {"action": "tag", "filter": {"since": "0"}, "tag": "x"},
    {"action": "tag", "filter": {"until": 20240101}, "tag": "x"},
    {"action": "tag", "filter": {"colour": "red"}, "tag": "x"},
])
def test_bad_bulk_requests_are_refused(client, world, body):
    response = client.post(world["url"], headers=world["lead"], json=body)
    assert response.status_code == 422, body


def test_restricting_and_lifting_in_bulk_go_through_sealing(client, world, session):
    items = world["items"][:2]
    body = {"action": "set_sensitivity", "ids": items, "sensitivity": "restricted"}
    assert client.post(world["url"], headers=world["viewer"], json=body).status_code == 403
    result = client.post(world["url"], headers=world["inv"], json=body).get_json()
    assert sorted(result["changed"]) == sorted(items)
    row = session.get(Evidence, uuid.UUID(items[0]))
    session.refresh(row)
    assert row.sealed_metadata is not None and row.title == "Restricted item"
    assert row.collector == {}
    # The investigator keeps seeing them (a grant); the lead and the viewer no longer do.
    shown = client.get(f"/api/v1/evidence/{items[0]}", headers=world["inv"]).get_json()
    assert shown["title"] == "Photo 0" and shown["metadata"] == "sealed"
    assert client.get(f"/api/v1/evidence/{items[0]}", headers=world["viewer"]).status_code == 404
    assert client.get(f"/api/v1/evidence/{items[0]}", headers=world["lead"]).status_code == 404
    # Found by collector through the blind index, by whoever sees them.
    found = client.get(f"/api/v1/cases/{world['case'].id}/evidence?collector=Ko%20Aung",
                       headers=world["inv"]).get_json()["items"]
    assert sorted(i["id"] for i in found) == sorted(items)
    entry = item_entries(session, items[0])[-1]
    assert entry.action == "sensitivity_changed"
    assert json.loads(entry.details)["to"] == "restricted"
    assert "Photo 0" not in entry.details

    lift = {"action": "set_sensitivity", "ids": items, "sensitivity": "standard"}
    assert client.post(world["url"], headers=world["inv"], json=lift).status_code == 403
    # The lead does not see them: refused as not found.
    assert client.post(world["url"], headers=world["lead"], json=lift).status_code == 422
    granted = client.post(world["url"], headers=world["inv"],
                          json={"action": "grant", "ids": items, "email": "lead@example.org"})
    assert granted.status_code == 403  # granting in bulk: leads only
    for item in items:
        assert client.post(f"/api/v1/evidence/{item}/grants", headers=world["inv"],
                           json={"email": "lead@example.org"}).status_code == 201
    lifted = client.post(world["url"], headers=world["lead"], json=lift)
    assert lifted.status_code == 200
    session.refresh(row)
    assert row.sealed_metadata is None and row.title == "Photo 0"
    assert row.collector["collected_by"] == "Ko Aung"
    assert client.get(f"/api/v1/evidence/{items[0]}", headers=world["viewer"]).status_code == 200


def test_bulk_grant_leads_only_restricted_items_only(client, world, session):
    hidden = world["hidden"]
    client.post(f"/api/v1/evidence/{hidden}/grants", headers=world["inv"],
                json={"email": "lead@example.org"})
    body = {"action": "grant", "ids": [hidden], "email": "viewer@example.org"}
    assert client.post(world["url"], headers=world["inv"], json=body).status_code == 403
    before = log_size(session)
    mixed = client.post(world["url"], headers=world["lead"],
                        json={**body, "ids": [hidden, world["items"][0]]})
    assert mixed.status_code == 409
    ern = session.get(Evidence, uuid.UUID(world["items"][0])).ern
    assert ern in mixed.get_json()["error"]["message"]
    assert log_size(session) == before
    stranger = client.post(world["url"], headers=world["lead"],
                           json={**body, "email": "outsider@example.org"})
    assert stranger.status_code == 422
    done = client.post(world["url"], headers=world["lead"], json=body)
    assert done.get_json()["changed"] == [hidden]
    assert session.get(EvidenceGrant, (uuid.UUID(hidden), make_id(session, "viewer")))
    assert client.get(f"/api/v1/evidence/{hidden}", headers=world["viewer"]).status_code == 200


def make_id(session, name):
    from casefile.model import User  # noqa: PLC0415
    return session.scalar(select(User.id).where(User.email == f"{name}@example.org"))


def read_csv(response):
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_csv_holds_what_the_caller_sees_safe_from_formulas(client, world, session):
    first = world["items"][0]
    client.patch(f"/api/v1/evidence/{first}", headers=world["inv"], json={
        "version": client.get(f"/api/v1/evidence/{first}",
                              headers=world["inv"]).get_json()["metadata_version"],
        "title": '=HYPERLINK("http://evil.example","click")',
    })
    client.post(f"/api/v1/evidence/{first}/tags", headers=world["inv"],
                json={"tag": "+cmd|' /C calc'!A0"})
    client.post(f"/api/v1/evidence/{first}/tags", headers=world["inv"], json={"tag": "မီးရှို့"})
    url = f"/api/v1/cases/{world['case'].id}/evidence.csv"
    assert client.get(url, headers=world["outsider"]).status_code == 404
    response = client.get(url, headers=world["viewer"])
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert rows[0][:3] == ["ERN", "title", "received"]
    assert len(rows) == 1 + 3  # the hidden item is not there
    by_title = {row[1]: row for row in rows[1:]}
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in by_title
    tags = by_title["'=HYPERLINK(\"http://evil.example\",\"click\")"][7]
    assert tags == "'+cmd|' /C calc'!A0; မီးရှို့"  # the cell starts with the tag: prefixed
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert "Statement of W-17" not in response.get_data(as_text=True)
    # The investigator, holding a grant, gets the hidden item too, its title opened.
    mine = read_csv(client.get(url, headers=world["inv"]))
    assert "Statement of W-17" in [row[1] for row in mine]
    # Filtered as the list.
    filtered = read_csv(client.get(url + "?tag=%E1%80%99%E1%80%AE%E1%80%B8%E1%80%9B%E1%80%BE"
                                         "%E1%80%AD%E1%80%AF%E1%80%B7", headers=world["viewer"]))
    assert len(filtered) == 2
    assert client.get(url + "?since=yesterday", headers=world["viewer"]).status_code == 422


def test_a_cell_starting_with_a_formula_character_is_prefixed():
    from casefile.logic.tags.export import safe_cell  # noqa: PLC0415
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(text) == "'" + text
    for text in ("1", "a=b", " =1", "မီး"):
        assert safe_cell(text) == text


def record_incident(client, world, title="Village burned, 2017-08-27"):
    response = client.post(f"/api/v1/cases/{world['case'].id}/incidents",
                           headers=world["inv"], json={"title": title})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_bulk_link_to_an_incident_through_the_incidents_logic(client, world, session, app):
    incident = record_incident(client, world)
    body = {"action": "link_incident", "ids": world["items"][:2], "incident_id": incident,
            "relation": "depicts", "note": "same village"}
    assert client.post(world["url"], headers=world["viewer"], json=body).status_code == 403
    result = client.post(world["url"], headers=world["inv"], json=body).get_json()
    assert sorted(result["changed"]) == sorted(world["items"][:2])
    shown = client.get(f"/api/v1/incidents/{incident}", headers=world["viewer"]).get_json()
    assert sorted(link["evidence_id"] for link in shown["evidence"]) == sorted(world["items"][:2])
    entry = item_entries(session, world["items"][0])[-1]
    details = json.loads(entry.details)
    assert entry.action == "linked" and details["bulk"] == result["bulk"]
    assert (details["incident"], details["relation"]) == (incident, "depicts")
    # Again with one more: only that one changes; the same link is not made twice.
    again = client.post(world["url"], headers=world["inv"],
                        json={**body, "ids": world["items"]}).get_json()
    assert again["changed"] == [world["items"][2]]
    # An incident of no case of the caller's, or a missing one: refused, nothing changes.
    before = log_size(session)
    missing = client.post(world["url"], headers=world["inv"],
                          json={**body, "incident_id": str(uuid.uuid4())})
    assert missing.status_code == 422 and "incident_id" in missing.get_json()["error"]["fields"]
    hidden = client.post(world["url"], headers=world["lead"], json={**body, "relation": "context",
                                                                    "ids": [world["hidden"]]})
    assert hidden.status_code == 422
    assert log_size(session) == before
    assert verify_log(session, app.extensions["casefile.custody_keys"].verifier_key).ok


def test_tagging_an_incident(client, world, session):
    incident = record_incident(client, world)
    url = f"/api/v1/incidents/{incident}/tags"
    assert client.post(url, headers=world["viewer"], json={"tag": "Arson"}).status_code == 403
    assert client.post(url, headers=world["outsider"], json={"tag": "Arson"}).status_code == 404
    tagged = client.post(url, headers=world["inv"], json={"tag": "Arson"})
    assert tagged.status_code == 200
    tag_id = tagged.get_json()["tags"][0]["id"]
    shown = client.get(f"/api/v1/incidents/{incident}", headers=world["viewer"]).get_json()
    assert shown["tags"] == ["Arson"]
    # A free tag of an incident is listed to every member (they all see the incident).
    names = [t["name"] for t in client.get(f"/api/v1/cases/{world['case'].id}/tags",
                                          headers=world["viewer"]).get_json()["items"]]
    assert names == ["Arson"]
    removed = client.delete(f"{url}/{tag_id}", headers=world["inv"])
    assert removed.status_code == 200 and removed.get_json()["tags"] == []
    actions = list(session.scalars(select(CustodyEntry.action).where(
        CustodyEntry.case_id == world["case"].id, CustodyEntry.item_id.is_(None))
        .order_by(CustodyEntry.seq)))
    assert actions[-2:] == ["tagged", "untagged"]
