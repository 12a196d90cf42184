"""Incidents in the browser: the list with its filters and perpetrators, the form (new and
edit, refusals with 422 and errors on their fields, a stale edit 409), the incident page with
its links, the item page's incidents; restricted items leave no trace for members without a
grant."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from casefile.model import CustodyAction, CustodyEntry, Incident, IncidentEvidence
from tests.restricted_custody import World, assert_no_trace, build
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


FORM = {
    "title": "Burning of Tula Toli",
    "narrative": "Soldiers surrounded the village at dawn.",
    "start_date": "2017-08-30",
    "end_date": "2017-08-31",
    "date_precision": "day",
    "status": "reported",
    "categories": ["killing", "arson_destruction"],
    "country": "Myanmar",
    "state_region": "Rakhine",
    "district": "",
    "township": "Maungdaw",
    "village_ward": "Tula Toli",
    "place": "riverbank",
    "lat": "20.94",
    "lon": "92.39",
    "victims_count": "300",
    "victims_group": "Rohingya villagers",
}


def words(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def record(client, world, **changes):
    url = f"/cases/{world.case.id}/incidents/new"
    form = find_form(text(client.get(url)))
    return client.post(url, data={**form.fields, **FORM, **changes})


def recorded(client, world, **changes) -> str:
    response = record(client, world, **changes)
    assert response.status_code == 303, words(text(response))
    return response.headers["Location"].rsplit("/", 1)[-1]


def test_record_an_incident_from_the_case_page(client, session, world):
    sign_in(client, "investigator@example.org")
    case_page = text(client.get(f"/cases/{world.case.id}"))
    assert f'href="/cases/{world.case.id}/incidents"' in case_page
    listing = text(client.get(f"/cases/{world.case.id}/incidents"))
    assert f'href="/cases/{world.case.id}/incidents/new"' in listing
    incident_id = recorded(client, world)
    page = text(client.get(f"/incidents/{incident_id}"))
    shown = words(page)
    assert "Incident recorded, and recorded in the chain of custody." in shown
    assert "Burning of Tula Toli" in shown and "Arson, destruction of property" in shown
    assert "riverbank, Tula Toli, Maungdaw, Maungdaw, Rakhine State, Myanmar" in shown
    assert "about 300 people: Rohingya villagers" in shown
    [entry] = session.scalars(select(CustodyEntry).where(
        CustodyEntry.action == CustodyAction.INCIDENT_CREATED)).all()
    assert entry.actor_id == world.uploader.id
    activity = words(text(client.get(f"/cases/{world.case.id}/activity")))
    assert "recorded the incident “Burning of Tula Toli”" in activity


@pytest.mark.parametrize(("changes", "field"), [
    ({"end_date": "2017-08-01"}, "end_date"),
    ({"start_date": "30 August"}, "start_date"),
    ({"lat": "91"}, "lat"),
    ({"lon": "east"}, "lon"),
    ({"lat": "20", "lon": ""}, "lat"),
    ({"township": "Hlaing"}, "township"),
    ({"state_region": "Atlantis"}, "state_region"),
    ({"categories": ["killing", "looting"]}, "categories"),
    ({"title": ""}, "title"),
    ({"title": "x" * 501}, "title"),
    ({"victims_count": "-3"}, "victims_count"),
    ({"status": "closed"}, "status"),
])
def test_refused_input_is_shown_on_its_field_and_nothing_is_written(client, session, world,
                                                                  changes, field):
    sign_in(client, "investigator@example.org")
    before = count(session, CustodyEntry)
    response = record(client, world, **changes)
    assert response.status_code == 422
    page = text(response)
    assert "There is a problem" in page
    marked = [tag for tag in re.findall(r"<(?:input|select|textarea|fieldset)[^>]*>", page)
              if f'id="{field}"' in tag]
    assert marked and ('aria-invalid="true"' in marked[0] or "invalid" in marked[0]), field
    assert f'id="{field}-error"' in page
    assert count(session, Incident) == 0 and count(session, CustodyEntry) == before
    # the input is kept
    assert 'value="Tula Toli"' in page


def test_edit_an_incident_and_a_stale_edit(client, world):
    sign_in(client, "lawyer@example.org")
    incident_id = recorded(client, world)
    url = f"/incidents/{incident_id}/edit"
    form = find_form(text(client.get(url)))
    assert form.fields["title"] == FORM["title"] and form.fields["version"] == "1"
    assert form.fields["township"] == "Maungdaw" and form.fields["district"] == "Maungdaw"
    sent = {**form.fields, **FORM, "district": "Maungdaw", "status": "corroborated"}
    response = client.post(url, data=sent)
    assert response.status_code == 303
    shown = words(text(client.get(f"/incidents/{incident_id}")))
    assert "Incident saved" in shown and "Corroborated" in shown
    stale = client.post(url, data={**sent, "title": "An older view", "version": "1"})
    assert stale.status_code == 409
    assert "someone changed this incident since you read it" in words(text(stale))
    again = find_form(text(stale))
    assert again.fields["version"] == "2" and again.fields["title"] == "An older view"
    same = client.post(url, data={**sent, "version": "2"})
    assert same.status_code == 303
    assert "Nothing was changed" in words(text(client.get(f"/incidents/{incident_id}")))


def test_link_an_item_by_its_ern_on_both_pages(client, session, world):
    sign_in(client, "investigator@example.org")
    incident_id = recorded(client, world)
    page = text(client.get(f"/incidents/{incident_id}"))
    form = find_form(page, f"/incidents/{incident_id}/evidence")
    response = client.post(f"/incidents/{incident_id}/evidence",
                           data={**form.fields, "evidence": world.public["ern"],
                                 "relation": "depicts", "note": "seen from the river"})
    assert response.status_code == 303
    page = words(text(client.get(f"/incidents/{incident_id}")))
    assert world.public["ern"] in page and "seen from the river" in page
    item_page = words(text(client.get(f"/evidence/{world.public['id']}")))
    assert "Burning of Tula Toli: depicts (seen from the river)" in item_page
    assert "linked " + world.public["ern"] + " to the incident “Burning of Tula Toli”" in item_page
    # the same relation again: refused; an unknown ERN: refused on its field
    again = client.post(f"/incidents/{incident_id}/evidence",
                        data={**form.fields, "evidence": world.public["ern"],
                              "relation": "depicts"})
    assert again.status_code == 409
    unknown = client.post(f"/incidents/{incident_id}/evidence",
                          data={**form.fields, "evidence": "NOPE-1", "relation": "depicts"})
    assert unknown.status_code == 422 and 'id="evidence-error"' in text(unknown)
    [link] = session.scalars(select(IncidentEvidence)).all()
    page = text(client.get(f"/incidents/{incident_id}"))
    remove = find_form(page, f"/incidents/{incident_id}/evidence/{link.id}/remove")
    response = client.post(f"/incidents/{incident_id}/evidence/{link.id}/remove",
                           data=remove.fields)
    assert response.status_code == 303 and count(session, IncidentEvidence) == 0


def test_a_restricted_item_linked_to_an_incident_is_not_shown_without_a_grant(client, world):
    sign_in(client, "investigator@example.org")  # the uploader: holds a grant
    incident_id = recorded(client, world)
    form = find_form(text(client.get(f"/incidents/{incident_id}")),
                     f"/incidents/{incident_id}/evidence")
    response = client.post(f"/incidents/{incident_id}/evidence",
                           data={**form.fields, "evidence": world.secret["ern"],
                                 "relation": "corroborates", "note": "witness-W17 saw it"})
    assert response.status_code == 303
    assert world.secret["ern"] in text(client.get(f"/incidents/{incident_id}"))
    for email in ("viewer@example.org", "lead@example.org"):
        client.post("/logout", data={"csrf_token": find_form(
            text(client.get("/account")), "/logout").fields["csrf_token"]})
        sign_in(client, email)
        for url in (f"/incidents/{incident_id}", f"/cases/{world.case.id}/incidents",
                    f"/cases/{world.case.id}/activity", f"/evidence/{world.public['id']}"):
            page = text(client.get(url))
            assert_no_trace(world, page)
            assert "witness-W17" not in page
        page = words(text(client.get(f"/incidents/{incident_id}")))
        assert "No items you may see are linked to this incident." in page
    # the lead (no grant) cannot link it either: the same words as for an unknown ERN
    form = find_form(text(client.get(f"/incidents/{incident_id}")),
                     f"/incidents/{incident_id}/evidence")
    refused = client.post(f"/incidents/{incident_id}/evidence",
                          data={**form.fields, "evidence": world.secret["ern"],
                                "relation": "context"})
    assert refused.status_code == 422
    assert "No item of this case that you may see has this ERN." in words(text(refused))


def test_viewers_read_but_do_not_record(client, world):
    sign_in(client, "investigator@example.org")
    incident_id = recorded(client, world)
    client.post("/logout", data={"csrf_token": find_form(
        text(client.get("/account")), "/logout").fields["csrf_token"]})
    sign_in(client, "viewer@example.org")
    listing = text(client.get(f"/cases/{world.case.id}/incidents"))
    assert "Burning of Tula Toli" in listing and "/incidents/new" not in listing
    assert client.get(f"/cases/{world.case.id}/incidents/new").status_code == 403
    page = text(client.get(f"/incidents/{incident_id}"))
    assert "/edit" not in page and f"/incidents/{incident_id}/evidence" not in page
    assert client.get(f"/incidents/{incident_id}/edit").status_code == 403


def test_list_filters_and_perpetrators(client, world):
    sign_in(client, "lawyer@example.org")
    url = f"/cases/{world.case.id}/incidents"
    form = find_form(text(client.get(url)), f"{url}/perpetrators")
    response = client.post(f"{url}/perpetrators", data={
        **form.fields, "name": "33rd Light Infantry Division", "kind": "unit",
        "affiliation": "Tatmadaw"})
    assert response.status_code == 303
    blank = client.post(f"{url}/perpetrators", data={**form.fields, "name": " ", "kind": "unit"})
    assert blank.status_code == 422 and 'id="name-error"' in text(blank)
    new_form = text(client.get(f"{url}/new"))
    assert "33rd Light Infantry Division" in new_form
    recorded(client, world)
    recorded(client, world, title="Shelling of a school", categories=["airstrike_shelling"],
             start_date="2021-05-01", end_date="", township="Hlaing", state_region="Yangon")
    shown = words(text(client.get(url + "?category=airstrike_shelling")))
    assert "Shelling of a school" in shown and "Burning of Tula Toli" not in shown
    shown = words(text(client.get(url + "?place=rakhine&date_from=2017-01-01")))
    assert "Burning of Tula Toli" in shown and "Shelling of a school" not in shown
    refused = text(client.get(url + "?date_from=2021-01-02&date_to=2021-01-01"))
    assert "There is a problem" in refused


def test_the_form_offers_myanmar_places_in_both_languages(client, world):
    sign_in(client, "lead@example.org")
    page = text(client.get(f"/cases/{world.case.id}/incidents/new"))
    assert '<option value="Rakhine State">ရခိုင်ပြည်နယ်</option>' in page
    assert 'data-places-url="/api/v1/places/myanmar"' in page and "places.js" in page
    with client.get("/static/places.js") as script:
        assert script.status_code == 200
