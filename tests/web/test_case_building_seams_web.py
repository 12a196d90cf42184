"""The seams between the case-building pages, on both databases: the case page's links, the
proof matrix linking incidents to their pages, the incident and item pages listing the
proof-matrix elements they are linked to, and the incidents list's tag filter."""

from __future__ import annotations

import pytest

from tests.search.test_search_api import (
    build_world,
    record,
)
from tests.search.test_search_tags import tag_incident
from tests.web.test_auth_web import cheap_password_hashes, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client):
    return build_world(session, client)


def charge_and_link(world, **target):
    client, case = world.client, world.case
    charge = client.post(f"/api/v1/cases/{case.id}/charges", headers=world.lead,
                         json={"framework": "rome-statute", "crime": "7(1)(d)"})
    assert charge.status_code == 201, charge.get_json()
    for element, (key, value) in zip(("1", "2"), target.items(), strict=False):
        made = client.post(f"/api/v1/cases/{case.id}/proof-links", headers=world.investigator,
                           json={"charge_id": charge.get_json()["id"], "element": element,
                                 key: value, "strength": "supports", "note": f"note {element}"})
        assert made.status_code == 201, made.get_json()


def browser(world, who="viewer"):
    signed = world.client.application.test_client()
    sign_in(signed, f"{who}@example.org")
    return signed


def test_the_case_page_links_every_part_of_case_building(world):
    page = text(browser(world).get(f"/cases/{world.case.id}"))
    for path in ("evidence", "incidents", "charges", "proof-matrix", "map", "tags", "activity"):
        assert f'href="/cases/{world.case.id}/{path}"' in page, path


def test_matrix_incident_and_item_pages_link_each_other(world):
    incident = record(world, title="Deportation across the river")
    item = world.add(title="Boat photo")
    hidden = world.add(title="Hidden boat photo", sensitivity="restricted")
    charge_and_link(world, incident_id=incident["id"], evidence_id=item["id"])
    [charge] = world.client.get(
        f"/api/v1/cases/{world.case.id}/charges", headers=world.lead).get_json()["items"]
    made = world.client.post(f"/api/v1/cases/{world.case.id}/proof-links",
                             headers=world.investigator,
                             json={"charge_id": charge["id"], "element": "3",
                                   "evidence_id": hidden["id"], "strength": "establishes"})
    assert made.status_code == 201, made.get_json()
    viewer = browser(world)
    matrix = text(viewer.get(f"/cases/{world.case.id}/proof-matrix"))
    assert f'href="/incidents/{incident["id"]}"><bdi>Deportation across the river</bdi></a>' in (
        matrix)
    assert hidden["id"] not in matrix and hidden["ern"] not in matrix

    shown = text(viewer.get(f"/incidents/{incident['id']}"))
    assert 'id="proof-elements"' in shown and "(7(1)(d))" in shown and "note 1" in shown
    assert f'href="/cases/{world.case.id}/proof-matrix"' in shown
    item_page = text(viewer.get(f"/evidence/{item['id']}"))
    assert 'id="proof-elements"' in item_page and "note 2" in item_page
    assert "note 1" not in item_page  # the incident's link, not the item's

    # Not linked: said so; the hidden item's own page lists its link for its grantee only.
    other = record(world, title="Unlinked incident")
    assert "Not linked to any element of a charged crime." in text(
        viewer.get(f"/incidents/{other['id']}"))
    assert viewer.get(f"/evidence/{hidden['id']}").status_code == 404
    grantee_page = text(browser(world, "investigator").get(f"/evidence/{hidden['id']}"))
    assert 'id="proof-elements"' in grantee_page and '<span class="ern">3</span>' in (
        grantee_page)


def test_the_incidents_list_filters_by_tag(world):
    tagged = record(world, title="Looting of the rice store")
    untagged = record(world, title="Looting of the pharmacy")
    tag_incident(world, tagged["id"], "Pillage")
    viewer = browser(world)
    page = text(viewer.get(f"/cases/{world.case.id}/incidents"))
    assert 'id="filter-tag"' in page and '<option value="Pillage">' in page
    page = text(viewer.get(f"/cases/{world.case.id}/incidents?tag=Pillage"))
    assert tagged["id"] in page and untagged["id"] not in page
    page = text(viewer.get(f"/cases/{world.case.id}/incidents?tag=Unknown"))
    assert tagged["id"] not in page and untagged["id"] not in page
