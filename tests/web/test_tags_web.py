"""Tags in the browser: the case's tags page (leads manage the vocabulary), tagging an item
from its page, bulk actions with checkboxes (no script needed) and the list as CSV."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from sqlalchemy import select

from casefile.model import CustodyAction, CustodyEntry, Evidence, EvidenceTag, Role, Tag
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import (
    cheap_password_hashes,
    find_form,
    location_path,
    sign_in,
    submit,
    text,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "inv@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    as_inv = bearer(session, investigator)
    ids = []
    for n, sensitivity in enumerate(("standard", "standard", "standard", "restricted")):
        response = client.post(
            f"/api/v1/cases/{case.id}/evidence", headers=as_inv,
            data={"file": (io.BytesIO(f"item {n}\n".encode()), f"{n}.txt"),
                  "sensitivity": sensitivity, "title": f"Item {n}"},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    return {"case": case, "ids": ids, "hidden": ids[3],
            "list": f"/cases/{case.id}/evidence", "tags": f"/cases/{case.id}/tags"}


def test_a_lead_adds_and_renames_vocabulary_tags_others_see_them_only(client, world, session):
    sign_in(client, "viewer@example.org")
    page = text(client.get(world["tags"]))
    assert "Add a tag to the vocabulary" not in page
    assert client.post(world["tags"], data={"name": "x"}).status_code in (400, 403)
    client.post("/logout", data={})
    sign_in(client, "lead@example.org")
    response = submit(client, world["tags"], {"name": "  Arson ", "description": "homes burned"},
                      action=world["tags"])
    assert response.status_code == 303 and location_path(response) == world["tags"]
    page = text(client.get(world["tags"]))
    assert "Arson" in page and "homes burned" in page
    refused = submit(client, world["tags"], {"name": "ARSON"}, action=world["tags"])
    assert refused.status_code == 422
    assert "There is a problem" in text(refused) and "already" in text(refused)
    tag = session.scalar(select(Tag).where(Tag.case_id == world["case"].id))
    change = f"{world['tags']}/{tag.id}"
    prefix = f"tag-{tag.id.hex}-"
    response = submit(client, world["tags"], {prefix + "name": "Arson of homes",
                                             prefix + "retired": "y"}, action=change)
    assert response.status_code == 303
    session.refresh(tag)
    assert tag.name == "Arson of homes" and tag.retired_at is not None
    assert client.get(change).status_code == 303  # a reload of the POST: back to the page


def test_tagging_an_item_from_its_page(client, world, session):
    item = world["ids"][0]
    sign_in(client, "inv@example.org")
    page = f"/evidence/{item}"
    response = submit(client, page, {"tag": "Killing"}, action=f"{page}/tags")
    assert response.status_code == 303
    shown = text(client.get(page))
    assert "Killing" in shown and "free tag" in shown
    too_long = submit(client, page, {"tag": "k" * 65}, action=f"{page}/tags")
    assert too_long.status_code == 422 and 'aria-invalid="true"' in text(too_long)
    tag = session.scalar(select(Tag).where(Tag.name == "Killing"))
    removed = submit(client, page, action=f"{page}/tags/{tag.id}/remove")
    assert removed.status_code == 303
    assert session.scalar(select(EvidenceTag)) is None
    actions = list(session.scalars(select(CustodyEntry.action).where(
        CustodyEntry.item_id == uuid.UUID(item)).order_by(CustodyEntry.seq)))
    assert actions[-2:] == [CustodyAction.TAGGED, CustodyAction.UNTAGGED]


def test_bulk_tag_with_checkboxes_and_every_match(client, world, session):
    sign_in(client, "inv@example.org")
    page = text(client.get(world["list"]))
    bulk = f"/cases/{world['case'].id}/evidence/bulk"
    form = find_form(page, bulk)
    assert "ids" not in form.fields  # nothing selected by default
    assert page.count('type="checkbox" name="ids"') == 4  # the investigator sees all four
    chosen = world["ids"][:2]
    response = client.post(bulk, data={**form.fields, "ids": chosen, "scope": "selected",
                                       "action": "tag", "tag": "Batch 1"})
    assert response.status_code == 303, text(response)
    assert len(list(session.scalars(select(EvidenceTag)))) == 2
    listed = text(client.get(response.headers["Location"]))
    assert "2 items changed." in listed
    # Every item matching a filter (the tag just given), through the hidden filter fields.
    filtered = text(client.get(world["list"] + "?tag=Batch+1"))
    form = find_form(filtered, bulk)
    assert form.fields["by_tag"] == "Batch 1"
    response = client.post(bulk, data={**form.fields, "scope": "matching", "action": "tag",
                                       "tag": "Checked"})
    assert response.status_code == 303
    checked = session.scalar(select(Tag).where(Tag.name == "Checked"))
    tagged = set(session.scalars(select(EvidenceTag.evidence_id).where(
        EvidenceTag.tag_id == checked.id)))
    assert tagged == {uuid.UUID(i) for i in chosen}
    # Nothing selected: refused on the page, 422.
    refused = client.post(bulk, data={**form.fields, "scope": "selected", "action": "tag",
                                      "tag": "x"})
    assert refused.status_code == 422 and "Select at least one item" in text(refused)


def test_bulk_on_an_item_the_viewer_cannot_see_is_refused_and_changes_nothing(
        client, world, session):
    sign_in(client, "lead@example.org")  # no grant for the restricted item
    page = text(client.get(world["list"]))
    assert world["hidden"] not in page
    bulk = f"/cases/{world['case'].id}/evidence/bulk"
    form = find_form(page, bulk)
    response = client.post(bulk, data={**form.fields, "ids": [world["ids"][0], world["hidden"]],
                                       "scope": "selected", "action": "tag", "tag": "x"})
    assert response.status_code == 422
    assert "no item of this case has the id" in text(response)
    assert session.scalar(select(EvidenceTag)) is None
    assert "Item 3" not in text(response)


def test_bulk_restrict_from_the_list(client, world, session):
    sign_in(client, "inv@example.org")
    bulk = f"/cases/{world['case'].id}/evidence/bulk"
    form = find_form(text(client.get(world["list"])), bulk)
    response = client.post(bulk, data={**form.fields, "ids": [world["ids"][2]],
                                       "scope": "selected", "action": "restrict"})
    assert response.status_code == 303
    item = session.get(Evidence, uuid.UUID(world["ids"][2]))
    session.refresh(item)
    assert item.sensitivity.value == "restricted" and item.sealed_metadata is not None
    lift = client.post(bulk, data={**form.fields, "ids": [world["ids"][2]],
                                   "scope": "selected", "action": "unrestrict"})
    assert lift.status_code == 403  # leads only


def test_the_list_shows_tags_filters_by_them_and_exports_csv(client, world, session):
    sign_in(client, "inv@example.org")
    client.post(f"/api/v1/evidence/{world['ids'][1]}/tags",
                headers=bearer(session, investigator(session)), json={"tag": "မီးရှို့"})
    page = text(client.get(world["list"] + "?tag=%E1%80%99%E1%80%AE%E1%80%B8%E1%80%9B%E1%80%BE"
                                          "%E1%80%AD%E1%80%AF%E1%80%B7"))
    assert "Item 1" in page and "Item 0" not in page
    assert 'id="csv-export"' in page and "?tag=" in page.split('id="csv-export"')[1][:300]
    response = client.get(f"/cases/{world['case'].id}/evidence.csv", query_string={"tag": "မီးရှို့"})
    assert response.status_code == 200
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeffERN,title")
    assert "Item 1" in body and "Item 0" not in body and "မီးရှို့" in body


def investigator(session):
    from casefile.model import User  # noqa: PLC0415
    return session.scalar(select(User).where(User.email == "inv@example.org"))


def test_item_entries_name_the_tag_in_the_activity_sentence(client, world, session):
    sign_in(client, "inv@example.org")
    page = f"/evidence/{world['ids'][0]}"
    submit(client, page, {"tag": "Airstrike"}, action=f"{page}/tags")
    shown = text(client.get(page))
    assert "tagged" in shown and "Airstrike" in shown
    entry = session.scalar(select(CustodyEntry).where(CustodyEntry.action == "tagged"))
    assert json.loads(entry.details)["tag"]["name"] == "Airstrike"


def test_bulk_link_and_incident_tags_in_the_browser(client, world, session):
    sign_in(client, "inv@example.org")
    recorded = client.post(f"/api/v1/cases/{world['case'].id}/incidents",
                           headers=bearer(session, investigator(session)),
                           json={"title": "Shelling of the market"})
    incident = recorded.get_json()["id"]
    bulk = f"/cases/{world['case'].id}/evidence/bulk"
    page = text(client.get(world["list"]))
    assert "Shelling of the market" in page  # offered in the bulk form
    form = find_form(page, bulk)
    response = client.post(bulk, data={**form.fields, "ids": world["ids"][:2],
                                       "scope": "selected", "action": "link",
                                       "incident": incident, "relation": "corroborates"})
    assert response.status_code == 303, text(response)
    shown = text(client.get(f"/incidents/{incident}"))
    assert "Item 0" in shown and "Item 1" in shown
    tagged = submit(client, f"/incidents/{incident}", {"tag": "Market"},
                    action=f"/incidents/{incident}/tags")
    assert tagged.status_code == 303
    assert "Market" in text(client.get(f"/incidents/{incident}"))
