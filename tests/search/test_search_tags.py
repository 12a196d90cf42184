"""The seams of case building, on both databases: tags found by search and its `tag` filter
(items and incidents, kept in step when a tag is attached, removed, renamed or applied in
bulk), restricting and lifting in bulk keeping the index in step, the incidents list's `tag`
filter, and a restricted item tagged by a grantee leaking nowhere (search, counts, the proof
matrix, the map, the incident page) to members without a grant."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from casefile.model import SearchBody, SearchDocument
from tests.api.test_map_api import photo
from tests.search.test_search_api import (
    build_world,
    find,
    ids,
    marked,
    record,
)
from tests.web.test_auth_web import cheap_password_hashes, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client):
    return build_world(session, client)


def tag_item(world, item_id, name, headers=None):
    response = world.client.post(f"/api/v1/evidence/{item_id}/tags", json={"tag": name},
                                 headers=headers or world.investigator)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def tag_incident(world, incident_id, name):
    response = world.client.post(f"/api/v1/incidents/{incident_id}/tags", json={"tag": name},
                                 headers=world.investigator)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def tag_id(world, name):
    response = world.client.get(f"/api/v1/cases/{world.case.id}/tags", headers=world.lead)
    assert response.status_code == 200
    [found] = [tag for tag in response.get_json()["items"] if tag["name"] == name]
    return found["id"]


def body_of(world, doc_id) -> str | None:
    world.session.expire_all()
    document = world.session.scalars(
        select(SearchDocument).where(SearchDocument.doc_id == uuid.UUID(doc_id))).one()
    row = world.session.get(SearchBody, document.id)
    return None if row is None else row.body


def test_an_items_tags_are_found_and_filter_and_follow_untagging(world):
    tagged = world.add(title="Photo of the market")
    plain = world.add(title="Photo of the market, untagged")
    tag_item(world, tagged["id"], "Arson attack")
    # Found by a word of its tag, with the tag in the snippet; and by the filter (any case).
    [result] = find(world, world.viewer, "arson")["results"]
    assert result["id"] == tagged["id"] and marked(result) == ["Arson"]
    assert ids(find(world, world.viewer, "market", tag="arson ATTACK")) == [tagged["id"]]
    assert sorted(ids(find(world, world.viewer, "market"))) == sorted(
        [tagged["id"], plain["id"]])
    assert ids(find(world, world.viewer, "market", tag="Arson")) == []  # a whole name
    # Another case's member: nothing, by word or by tag.
    assert find(world, world.outsider, "arson")["results"] == []
    assert find(world, world.outsider, "market", tag="Arson attack")["results"] == []
    # Untagged: neither the word nor the filter finds it any more.
    untag = world.client.delete(
        f"/api/v1/evidence/{tagged['id']}/tags/{tag_id(world, 'Arson attack')}",
        headers=world.investigator)
    assert untag.status_code == 200, untag.get_json()
    assert find(world, world.viewer, "arson")["results"] == []
    assert find(world, world.viewer, "market", tag="Arson attack")["results"] == []


def test_an_incidents_tags_are_found_and_filter(world):
    incident = record(world, title="Raid on the clinic")
    other = record(world, title="Raid on the school")
    tag_incident(world, incident["id"], "Hospital")
    assert ids(find(world, world.viewer, "hospital")) == [incident["id"]]
    assert ids(find(world, world.viewer, "raid", tag="hospital")) == [incident["id"]]
    assert ids(find(world, world.viewer, "raid", tag="hospital", kind="evidence")) == []
    assert other["id"] in ids(find(world, world.viewer, "raid"))
    # The incidents list filters by tag too (by name, any case of its letters).
    listed = world.client.get(f"/api/v1/cases/{world.case.id}/incidents",
                              query_string={"tag": "HOSPITAL"}, headers=world.viewer)
    assert listed.status_code == 200, listed.get_json()
    assert [row["id"] for row in listed.get_json()["items"]] == [incident["id"]]
    none = world.client.get(f"/api/v1/cases/{world.case.id}/incidents",
                            query_string={"tag": "nothing of that name"}, headers=world.viewer)
    assert none.get_json()["items"] == []
    bad = world.client.get(f"/api/v1/cases/{world.case.id}/incidents",
                           query_string={"tag": "\u202e"}, headers=world.viewer)
    assert bad.status_code == 422 and "tag" in str(bad.get_json()["error"])
    empty = world.client.get(f"/api/v1/cases/{world.case.id}/incidents",
                             query_string={"tag": ""}, headers=world.viewer)
    assert empty.status_code == 422 and "tag" in empty.get_json()["error"]["fields"]
    empty = world.client.get("/api/v1/search", query_string={"q": "raid", "tag": ""},
                             headers=world.viewer)
    assert empty.status_code == 422 and "tag" in empty.get_json()["error"]["fields"]
    untag = world.client.delete(
        f"/api/v1/incidents/{incident['id']}/tags/{tag_id(world, 'Hospital')}",
        headers=world.investigator)
    assert untag.status_code == 200, untag.get_json()
    assert find(world, world.viewer, "hospital")["results"] == []


def test_a_renamed_tag_is_found_by_its_new_name_only(world):
    made = world.client.post(f"/api/v1/cases/{world.case.id}/tags", json={"name": "Shelling"},
                             headers=world.lead)
    assert made.status_code == 201, made.get_json()
    item = world.add(title="Crater photo")
    incident = record(world, title="Night attack")
    tag_item(world, item["id"], "Shelling")
    tag_incident(world, incident["id"], "Shelling")
    both = sorted([item["id"], incident["id"]])
    assert sorted(ids(find(world, world.viewer, "shelling"))) == both
    renamed = world.client.patch(f"/api/v1/tags/{made.get_json()['id']}",
                                 json={"name": "Artillery"}, headers=world.lead)
    assert renamed.status_code == 200, renamed.get_json()
    assert find(world, world.viewer, "shelling")["results"] == []
    assert sorted(ids(find(world, world.viewer, "artillery"))) == both
    assert sorted(ids(find(world, world.viewer, "crater attack artillery"))) == []
    assert ids(find(world, world.viewer, "crater", tag="artillery")) == [item["id"]]


def test_bulk_tagging_is_indexed_and_bulk_restricting_takes_the_words_out(world):
    first = world.add(title="Checkpoint photo one")
    second = world.add(title="Checkpoint photo two")
    bulk = f"/api/v1/cases/{world.case.id}/evidence/bulk"
    done = world.client.post(bulk, json={"action": "tag", "ids": [first["id"], second["id"]],
                                         "tag": "Roadblock"}, headers=world.investigator)
    assert done.status_code == 200, done.get_json()
    assert sorted(ids(find(world, world.viewer, "roadblock"))) == sorted(
        [first["id"], second["id"]])
    # Restricted in bulk: out of the clear index at once (before, it stayed findable by
    # every member, title and all); found blindly by the one who restricted it.
    done = world.client.post(bulk, json={"action": "set_sensitivity", "ids": [first["id"]],
                                         "sensitivity": "restricted"}, headers=world.lead)
    assert done.status_code == 200, done.get_json()
    assert body_of(world, first["id"]) is None
    assert ids(find(world, world.viewer, "roadblock")) == [second["id"]]
    assert ids(find(world, world.viewer, "checkpoint", tag="Roadblock")) == [second["id"]]
    assert ids(find(world, world.investigator, "roadblock")) == [second["id"]]
    assert sorted(ids(find(world, world.lead, "roadblock"))) == sorted(
        [first["id"], second["id"]])
    # Made standard again by the lead: in the clear index again.
    done = world.client.post(bulk, json={"action": "set_sensitivity", "ids": [first["id"]],
                                         "sensitivity": "standard"}, headers=world.lead)
    assert done.status_code == 200, done.get_json()
    assert "checkpoint" in (body_of(world, first["id"]) or "")
    assert sorted(ids(find(world, world.viewer, "roadblock"))) == sorted(
        [first["id"], second["id"]])


NEEDLE = "Xylophonic"  # a tag name found nowhere else


def test_a_restricted_item_tagged_by_a_grantee_leaks_nowhere(world):
    client, case = world.client, world.case
    secret = world.add(photo((21.0, 30.0, 0.0), (92.0, 45.0, 0.0), shade=40),
                       filename="shelter.jpg", content_type="image/jpeg",
                       title="Witness at her shelter", sensitivity="restricted")
    tag_item(world, secret["id"], NEEDLE)  # the investigator uploaded it: a grantee
    incident = record(world, title="Attack on the shelter")
    linked = client.post(f"/api/v1/incidents/{incident['id']}/evidence",
                         json={"evidence_id": secret["id"], "relation": "depicts",
                               "note": "seen"}, headers=world.investigator)
    assert linked.status_code == 201, linked.get_json()
    charge = client.post(f"/api/v1/cases/{case.id}/charges", headers=world.lead,
                         json={"framework": "rome-statute", "crime": "7(1)(d)"})
    assert charge.status_code == 201, charge.get_json()
    proof = client.post(f"/api/v1/cases/{case.id}/proof-links", headers=world.investigator,
                        json={"charge_id": charge.get_json()["id"], "element": "1",
                              "evidence_id": secret["id"], "strength": "establishes"})
    assert proof.status_code == 201, proof.get_json()

    # The grantee finds it by the tag's word and by the filter.
    assert ids(find(world, world.investigator, NEEDLE)) == [secret["id"]]
    assert ids(find(world, world.investigator, "shelter", tag=NEEDLE, kind="evidence")) == [
        secret["id"]]
    # The tag's word is in no readable form in the index: hashes only.
    assert body_of(world, secret["id"]) is None
    bodies = world.session.scalars(select(SearchBody.body)).all()
    assert not any(NEEDLE.lower() in body.lower() for body in bodies)

    for headers in (world.viewer, world.lead):  # the lead holds no grant either
        assert find(world, headers, NEEDLE) == {"results": [], "next": None}
        assert find(world, headers, "shelter", tag=NEEDLE) == {"results": [], "next": None}
        assert ids(find(world, headers, "shelter")) == [incident["id"]]
        for path in (f"/api/v1/cases/{case.id}/proof-matrix", f"/api/v1/cases/{case.id}/map",
                     f"/api/v1/incidents/{incident['id']}"):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, path
            shown = response.get_data(as_text=True)
            for needle in (secret["id"], secret["ern"], "Witness", NEEDLE):
                assert needle not in shown, (path, needle)
    matrix = client.get(f"/api/v1/cases/{case.id}/proof-matrix", headers=world.viewer)
    assert '"gap":true' in matrix.get_data(as_text=True).replace(" ", "")

    # The same through the pages, for the viewer.
    browser = client.application.test_client()
    sign_in(browser, "viewer@example.org")
    for path in (f"/search?q={NEEDLE}", f"/search?q=shelter&tag={NEEDLE}",
                 f"/cases/{case.id}/proof-matrix", f"/incidents/{incident['id']}",
                 f"/cases/{case.id}/incidents?tag={NEEDLE}", f"/cases/{case.id}/map"):
        response = browser.get(path)
        assert response.status_code == 200, path
        page = text(response)
        asked = NEEDLE in path  # what was asked is shown back (the form, the language links)
        if path.startswith("/search"):
            assert "Nothing found." in page and 'class="result-title"' not in page
        elif asked:
            assert incident["id"] not in page  # an incident list filtered to nothing
        for needle in (secret["id"], secret["ern"], "Witness", *(() if asked else (NEEDLE,))):
            assert needle not in page, (path, needle)
    assert browser.get(f"/evidence/{secret['id']}").status_code == 404


@pytest.mark.parametrize("who", ["viewer", "investigator"])
def test_the_search_page_filters_by_tag(world, who):
    item = world.add(title="Burned granary")
    world.add(title="Burned granary, second photo")
    tag_item(world, item["id"], "Food supply")
    browser = world.client.application.test_client()
    sign_in(browser, f"{who}@example.org")
    page = text(browser.get("/search?q=granary&tag=food+SUPPLY"))
    assert 'id="search-tag"' in page
    assert page.count('class="result-title"') == 1 and item["id"] in page
