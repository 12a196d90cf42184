"""A free tag carried only by items hidden from a member does not exist for them: using its
name tells them nothing of it (not its spelling, its id, its date, nor that it existed). They
make a tag of their own, apart from the hidden one; a lead may define that name in the
vocabulary. Whoever sees both kinds of item sees both tags (docs/tags.md)."""

from __future__ import annotations

import json

from sqlalchemy import select

from casefile.model import CustodyAction, Tag
from tests.api import test_tags_api
from tests.api.test_tags_api import entries

world = test_tags_api.world

HIDDEN_NAME = "Witness Daw Khin"


def tag(client, headers, item, name):
    response = client.post(f"/api/v1/evidence/{item}/tags", headers=headers, json={"tag": name})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["tags"]


def listed(client, world, headers):
    url = f"/api/v1/cases/{world['case'].id}/tags"
    return client.get(url, headers=headers).get_json()["items"]


def test_a_member_using_the_name_of_a_hidden_free_tag_learns_nothing_of_it(
        client, world, session):
    [hidden_tag] = tag(client, world["inv"], world["hidden"], HIDDEN_NAME)
    # The lead holds no grant for the hidden item: their tag is their own, as if new.
    [mine] = tag(client, world["lead"], world["items"][0], "witness daw khin")
    assert mine["name"] == "witness daw khin"
    assert mine["id"] != hidden_tag["id"]
    details = json.loads(entries(session, world["case"].id, CustodyAction.TAGGED)[-1].details)
    assert details["new_free_tag"] is True and details["tag"]["id"] == mine["id"]
    assert [t["name"] for t in listed(client, world, world["lead"])] == ["witness daw khin"]
    # A second use by them, in other capitals, is the same tag of theirs.
    assert tag(client, world["lead"], world["items"][1], "WITNESS DAW KHIN") == [mine]
    # The hidden item keeps its tag; the grant holder sees both, and the evidence list's tag
    # filter finds the items of either.
    shown = client.get(f"/api/v1/evidence/{world['hidden']}", headers=world["inv"]).get_json()
    assert shown["tags"] == [HIDDEN_NAME]
    assert sorted(t["id"] for t in listed(client, world, world["inv"])) == sorted(
        [hidden_tag["id"], mine["id"]])
    found = client.get(f"/api/v1/cases/{world['case'].id}/evidence?tag=witness%20daw%20khin",
                       headers=world["inv"]).get_json()["items"]
    assert sorted(i["id"] for i in found) == sorted([world["hidden"], *world["items"][:2]])
    # The grant holder using the name gets the oldest tag they see: no third tag.
    tag(client, world["inv"], world["items"][2], "witness DAW khin")
    assert sorted(str(tag_id) for tag_id in session.scalars(select(Tag.id))) == sorted(
        [hidden_tag["id"], mine["id"]])


def test_a_lead_may_define_the_name_of_a_hidden_free_tag(client, world, session):
    [hidden_tag] = tag(client, world["inv"], world["hidden"], HIDDEN_NAME)
    url = f"/api/v1/cases/{world['case'].id}/tags"
    created = client.post(url, headers=world["lead"], json={"name": "witness daw khin"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["id"] != hidden_tag["id"]
    assert created.get_json()["name"] == "witness daw khin"
    # Defined once: a second time is refused, as for any tag of the vocabulary.
    assert client.post(url, headers=world["lead"], json={"name": "Witness daw khin"}
                       ).status_code == 409
    # The vocabulary's tag is the name's tag from now on, for everyone.
    [used] = tag(client, world["inv"], world["items"][0], HIDDEN_NAME)
    assert used["id"] == created.get_json()["id"]
    shown = client.get(f"/api/v1/evidence/{world['hidden']}", headers=world["inv"]).get_json()
    assert shown["tags"] == [HIDDEN_NAME]
    # A lead adopting a free tag of their own into the vocabulary under that name: refused,
    # as the vocabulary has it (nothing about the hidden tag either way).
    [free] = tag(client, world["lead"], world["items"][1], "burnt jetty")
    renamed = client.patch(f"/api/v1/tags/{free['id']}", headers=world["lead"],
                           json={"name": "WITNESS DAW KHIN", "controlled": True})
    assert renamed.status_code == 409


def test_a_lead_adopting_a_free_tag_takes_the_name_from_a_hidden_one(client, world, session):
    [hidden_tag] = tag(client, world["inv"], world["hidden"], HIDDEN_NAME)
    [free] = tag(client, world["lead"], world["items"][0], "witness daw khin")
    adopted = client.patch(f"/api/v1/tags/{free['id']}", headers=world["lead"],
                           json={"controlled": True})
    assert adopted.status_code == 200, adopted.get_json()
    assert adopted.get_json()["name"] == "witness daw khin"
    [used] = tag(client, world["inv"], world["items"][1], HIDDEN_NAME)
    assert used["id"] == free["id"]  # the vocabulary's tag, before the free one
    assert hidden_tag["id"] != free["id"]


def test_incidents_and_bulk_tagging_follow_the_same_rule(client, world, session):
    from tests.api.test_bulk_api import record_incident  # noqa: PLC0415

    [hidden_tag] = tag(client, world["inv"], world["hidden"], HIDDEN_NAME)
    incident = record_incident(client, world)
    response = client.post(f"/api/v1/incidents/{incident}/tags", headers=world["lead"],
                           json={"tag": "WITNESS daw khin"})
    assert response.status_code == 200, response.get_json()
    [on_incident] = response.get_json()["tags"]
    assert on_incident["name"] == "WITNESS daw khin" and on_incident["id"] != hidden_tag["id"]
    tagged = entries(session, world["case"].id, CustodyAction.TAGGED)[-1]
    assert json.loads(tagged.details)["new_free_tag"] is True
    # An incident's tags are seen by every member: from now on the name's tag for the lead.
    bulk = client.post(f"/api/v1/cases/{world['case'].id}/evidence/bulk", headers=world["lead"],
                       json={"action": "tag", "ids": world["items"][:1], "tag": "witness daw khin"})
    assert bulk.status_code == 200, bulk.get_json()
    shown = client.get(f"/api/v1/evidence/{world['items'][0]}", headers=world["lead"]).get_json()
    assert shown["tags"] == ["WITNESS daw khin"]
