"""Tags through the API: the vocabulary (leads), free tags, tagging items one by one, and
what the custody log records of it."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from sqlalchemy import select

from casefile.logic.custody.verify import verify_log
from casefile.model import CustodyAction, CustodyEntry, EvidenceTag, Role, Tag
from tests.factories import add_member, bearer, make_case, make_user


def upload(client, case_id, headers, body: bytes, name: str, **fields):
    response = client.post(
        f"/api/v1/cases/{case_id}/evidence", headers=headers,
        data={"file": (io.BytesIO(body), name), **fields}, content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "inv@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = {name: bearer(session, user) for name, user in (
        ("lead", lead), ("inv", investigator), ("viewer", viewer), ("outsider", outsider))}
    items = [upload(client, case.id, headers["inv"], f"item {n}\n".encode(), f"{n}.txt")
             for n in range(3)]
    hidden = upload(client, case.id, headers["inv"], b"witness W-17\n", "w17.txt",
                    sensitivity="restricted")
    return {"case": case, "items": items, "hidden": hidden, **headers}


def entries(session, case_id, *actions):
    query = select(CustodyEntry).where(CustodyEntry.case_id == case_id,
                                       CustodyEntry.action.in_(actions)).order_by(CustodyEntry.seq)
    return list(session.scalars(query))


def test_leads_manage_the_vocabulary_others_may_not(client, world, session):
    url = f"/api/v1/cases/{world['case'].id}/tags"
    body = {"name": "Arson", "description": "burning of homes or villages"}
    assert client.post(url, headers=world["outsider"], json=body).status_code == 404
    assert client.post(url, headers=world["viewer"], json=body).status_code == 403
    assert client.post(url, headers=world["inv"], json=body).status_code == 403
    created = client.post(url, headers=world["lead"], json=body)
    assert created.status_code == 201
    tag = created.get_json()
    assert (tag["name"], tag["controlled"], tag["retired"]) == ("Arson", True, False)
    # Another tag of the same name, whatever the case of its letters or blanks around it.
    again = client.post(url, headers=world["lead"], json={"name": "  aRSON "})
    assert again.status_code == 409 and "already" in again.get_json()["error"]["message"]

    change = f"/api/v1/tags/{tag['id']}"
    assert client.patch(change, headers=world["outsider"], json={"name": "x"}).status_code == 404
    assert client.patch(change, headers=world["inv"], json={"name": "x"}).status_code == 403
    renamed = client.patch(change, headers=world["lead"], json={"name": "Arson (homes)"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Arson (homes)"
    retired = client.patch(change, headers=world["lead"], json={"retired": True})
    assert retired.get_json()["retired"] is True
    # Nothing changed: no entry.
    assert client.patch(change, headers=world["lead"], json={"retired": True}).status_code == 200
    defined = entries(session, world["case"].id, CustodyAction.TAG_DEFINED)
    assert [json.loads(e.details)["change"] for e in defined] == ["created", "changed", "changed"]
    assert json.loads(defined[1].details)["changes"] == {
        "name": {"from": "Arson", "to": "Arson (homes)"}}
    assert json.loads(defined[2].details)["changes"] == {"retired": {"from": False, "to": True}}
    # Every member sees the vocabulary, an outsider nothing.
    listed = client.get(url, headers=world["viewer"]).get_json()["items"]
    assert [t["name"] for t in listed] == ["Arson (homes)"]
    assert client.get(url, headers=world["outsider"]).status_code == 404


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": "   "}, {"name": "x" * 65}, {"name": "a\u202eb"},
    {"name": "a\x01b"}, {"name": 5}, {"name": "x", "colour": "red"}, {"name": None},
])
def test_bad_tag_names_are_refused(client, world, body, session):
    url = f"/api/v1/cases/{world['case'].id}/tags"
    response = client.post(url, headers=world["lead"], json=body)
    assert response.status_code == 422, body
    assert session.scalar(select(Tag).where(Tag.case_id == world["case"].id)) is None


def test_free_tags_normalised_and_shared_case_insensitively(client, world, session):
    item = world["items"][0]
    url = f"/api/v1/evidence/{item}/tags"
    assert client.post(url, headers=world["viewer"], json={"tag": "Café"}).status_code == 403
    assert client.post(url, headers=world["outsider"], json={"tag": "Café"}).status_code == 404
    first = client.post(url, headers=world["inv"], json={"tag": "  Cafe\u0301   burned "})
    assert first.status_code == 200
    assert [t["name"] for t in first.get_json()["tags"]] == ["Café burned"]
    # The same tag, spelled in capitals and composed: nothing changes, no second entry.
    again = client.post(url, headers=world["inv"], json={"tag": "CAFÉ BURNED"})
    assert [t["name"] for t in again.get_json()["tags"]] == ["Café burned"]
    tags = list(session.scalars(select(Tag).where(Tag.case_id == world["case"].id)))
    assert len(tags) == 1 and tags[0].controlled is False
    assert client.post(url, headers=world["inv"], json={"tag": "y" * 65}).status_code == 422
    tagged = entries(session, world["case"].id, CustodyAction.TAGGED)
    assert len(tagged) == 1 and tagged[0].item_id == uuid.UUID(item)
    details = json.loads(tagged[0].details)
    assert details["tag"]["name"] == "Café burned" and details["new_free_tag"] is True
    assert (details["before"], details["after"]) == ([], ["Café burned"])
    # The item shows its tags; the evidence list filters by them.
    shown = client.get(f"/api/v1/evidence/{item}", headers=world["viewer"]).get_json()
    assert shown["tags"] == ["Café burned"]
    listed = client.get(f"/api/v1/cases/{world['case'].id}/evidence?tag=café%20BURNED",
                        headers=world["viewer"]).get_json()["items"]
    assert [i["id"] for i in listed] == [item]


def test_untag_is_a_custody_entry_and_shows_in_the_items_report(client, world, session, app):
    item = world["items"][1]
    tags = client.post(f"/api/v1/evidence/{item}/tags", headers=world["inv"],
                       json={"tag": "killing"}).get_json()["tags"]
    tag_id = tags[0]["id"]
    url = f"/api/v1/evidence/{item}/tags/{tag_id}"
    assert client.delete(url, headers=world["viewer"]).status_code == 403
    removed = client.delete(url, headers=world["inv"])
    assert removed.status_code == 200 and removed.get_json()["tags"] == []
    assert client.delete(url, headers=world["inv"]).status_code == 404  # carries it no longer
    report = client.get(f"/api/v1/evidence/{item}/custody", headers=world["viewer"]).get_json()
    actions = [entry["action"] for entry in report["entries"]]
    assert actions[-2:] == ["tagged", "untagged"]
    assert report["entries"][-1]["details"]["before"] == ["killing"]
    assert verify_log(session, app.extensions["casefile.custody_keys"].verifier_key).ok


def test_retired_tags_are_not_attached(client, world, session):
    tag = client.post(f"/api/v1/cases/{world['case'].id}/tags", headers=world["lead"],
                      json={"name": "Torture"}).get_json()
    client.patch(f"/api/v1/tags/{tag['id']}", headers=world["lead"], json={"retired": True})
    response = client.post(f"/api/v1/evidence/{world['items'][0]}/tags", headers=world["inv"],
                           json={"tag": "torture"})
    assert response.status_code == 409 and "retired" in response.get_json()["error"]["message"]
    assert session.scalar(select(EvidenceTag)) is None


def test_free_tags_of_hidden_items_are_not_listed_to_members_without_a_grant(
        client, world, session):
    hidden = world["hidden"]
    assert client.post(f"/api/v1/evidence/{hidden}/tags", headers=world["lead"],
                       json={"tag": "witness W-17"}).status_code == 404  # no grant
    assert client.post(f"/api/v1/evidence/{hidden}/tags", headers=world["inv"],
                       json={"tag": "witness W-17"}).status_code == 200
    url = f"/api/v1/cases/{world['case'].id}/tags"
    assert client.get(url, headers=world["viewer"]).get_json()["items"] == []
    assert client.get(url, headers=world["lead"]).get_json()["items"] == []
    names = [t["name"] for t in client.get(url, headers=world["inv"]).get_json()["items"]]
    assert names == ["witness W-17"]
    tag_id = session.scalar(select(Tag.id).where(Tag.name == "witness W-17"))
    # Nor can a lead without a grant change it: it does not exist for them.
    assert client.patch(f"/api/v1/tags/{tag_id}", headers=world["lead"],
                        json={"name": "W"}).status_code == 404
    # Its entry is redacted for those who do not see the item.
    report = client.get(f"/api/v1/cases/{world['case'].id}/custody?limit=200",
                        headers=world["viewer"]).get_json()
    assert "witness W-17" not in json.dumps(report, ensure_ascii=False)


def test_a_free_tag_changes_only_once_taken_into_the_vocabulary(client, world, session):
    item = world["items"][0]
    tags = client.post(f"/api/v1/evidence/{item}/tags", headers=world["inv"],
                       json={"tag": "burnt"}).get_json()["tags"]
    url = f"/api/v1/tags/{tags[0]['id']}"
    assert client.patch(url, headers=world["inv"], json={"controlled": True}).status_code == 403
    refused = client.patch(url, headers=world["lead"], json={"name": "Burnt homes"})
    assert refused.status_code == 409 and "vocabulary" in refused.get_json()["error"]["message"]
    adopted = client.patch(url, headers=world["lead"],
                           json={"name": "Burnt homes", "controlled": True})
    assert adopted.status_code == 200
    assert (adopted.get_json()["name"], adopted.get_json()["controlled"]) == ("Burnt homes", True)
    shown = client.get(f"/api/v1/evidence/{item}", headers=world["viewer"]).get_json()
    assert shown["tags"] == ["Burnt homes"]
