"""The incidents API: record, list with filters, read, change, link and unlink items, name
perpetrators, Myanmar's places; refusals (validation_error with fields, nothing written);
restricted items linked to an incident leave no trace for members without a grant."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from casefile.model import CustodyEntry, Incident, IncidentEvidence, Perpetrator
from casefile.verifier.custody_verifier import verify_report
from tests.factories import bearer, make_case, make_user
from tests.restricted_custody import (
    SECRET_NAME,
    World,
    _upload,
    assert_no_trace,
    build,
    check_redacted_proofs,
    dumps,
)

INCIDENT = {
    "title": "Burning of Tula Toli",
    "narrative": "Soldiers surrounded the village at dawn and set the houses on fire.",
    "start_date": "2017-08-30",
    "end_date": "2017-08-31",
    "date_precision": "day",
    "location": {"place": "riverbank", "village_ward": "Tula Toli", "township": "Maungdaw",
                 "state_region": "Rakhine", "country": "Myanmar", "lat": 20.94, "lon": 92.39},
    "categories": ["killing", "arson_destruction", "sgbv"],
    "victims": {"count": 300, "group": "Rohingya villagers"},
}


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def post(client, world, who, body, case_id=None):
    return client.post(f"/api/v1/cases/{case_id or world.case.id}/incidents",
                       headers=world.headers[who], json=body)


def created(client, world, who="uploader", **changes):
    response = post(client, world, who, {**INCIDENT, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_record_read_and_change_an_incident(client, world):
    body = created(client, world)
    assert body["case_id"] == str(world.case.id) and body["version"] == 1
    assert body["status"] == "reported" and body["evidence"] == []
    assert body["categories"] == ["killing", "sgbv", "arson_destruction"]
    assert body["location"] == {
        "place": "riverbank", "village_ward": "Tula Toli", "township": "Maungdaw",
        "district": "Maungdaw", "state_region": "Rakhine State", "country": "Myanmar",
        "lat": 20.94, "lon": 92.39}
    assert body["victims"] == {"count": 300, "group": "Rohingya villagers"}
    read = client.get(f"/api/v1/incidents/{body['id']}", headers=world.headers["viewer"])
    assert read.status_code == 200 and read.get_json() == body
    changed = client.patch(f"/api/v1/incidents/{body['id']}", headers=world.headers["grantee"],
                           json={"version": 1, "status": "corroborated", "narrative": ""})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["version"] == 2 and changed.get_json()["narrative"] is None
    stale = client.patch(f"/api/v1/incidents/{body['id']}", headers=world.headers["uploader"],
                         json={"version": 1, "title": "Another title"})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    refused = client.patch(f"/api/v1/incidents/{body['id']}", headers=world.headers["viewer"],
                           json={"version": 2, "title": "A viewer's title"})
    assert refused.status_code == 403


@pytest.mark.parametrize(("changes", "field"), [
    ({"end_date": "2017-08-29"}, "body"),
    ({"location": {**INCIDENT["location"], "lat": 90.5}}, "location.lat"),
    ({"location": {**INCIDENT["location"], "lon": 180.01}}, "location.lon"),
    ({"location": {**INCIDENT["location"], "township": "Hlaing"}}, "location.township"),
    ({"location": {**INCIDENT["location"], "state_region": "Narnia"}}, "location.state_region"),
    ({"categories": ["killing", "looting"]}, "categories.1"),
    ({"status": "closed"}, "status"),
    ({"date_precision": "decade"}, "date_precision"),
    ({"title": "t" * 501}, "title"),
    ({"narrative": "n" * 20001}, "narrative"),
    ({"victims": {"count": "many"}}, "victims.count"),
    ({"start_date": "30/08/2017"}, "start_date"),
    ({"perpetrators": ["not an id"]}, "perpetrators.0"),
    ({"start_date": "2999-01-01", "end_date": None}, "start_date"),
    ({"victims": {"count": 2.5}}, "victims.count"),
    ({"victims": {"count": "300"}}, "victims.count"),
])
def test_bad_input_is_a_validation_error_and_nothing_is_written(client, session, world,
                                                               changes, field):
    before = count(session, CustodyEntry)
    response = post(client, world, "uploader", {**INCIDENT, **changes})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"], error
    assert count(session, Incident) == 0 and count(session, CustodyEntry) == before


def test_a_change_with_bad_input_changes_nothing(client, session, world):
    body = created(client, world)
    for change in ({"start_date": "2017-09-01"}, {"location": {"lat": 1}},
                   {"categories": ["unknown"]}, {"title": None}):
        response = client.patch(f"/api/v1/incidents/{body['id']}",
                                headers=world.headers["uploader"], json={"version": 1, **change})
        assert response.status_code == 422, (change, response.get_json())
    after = client.get(f"/api/v1/incidents/{body['id']}", headers=world.headers["uploader"])
    assert after.get_json() == body


def test_list_filters_and_pages(client, world):
    first = created(client, world)
    second = created(client, world, title="Shelling of a school",
                     categories=["airstrike_shelling", "attack_protected_site"],
                     start_date="2021-05-01", end_date=None, date_precision="month",
                     location={"township": "Hlaing", "country": "Myanmar"})
    third = created(client, world, title="Arrests in Dhaka", categories=["arbitrary_detention"],
                    start_date="2022-01-01", end_date="2022-01-02",
                    location={"place": "Dhaka", "country": "Bangladesh"})
    url = f"/api/v1/cases/{world.case.id}/incidents"
    headers = world.headers["viewer"]

    def ids(query=""):
        response = client.get(url + query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids() == [first["id"], second["id"], third["id"]]
    assert ids("?category=attack_protected_site") == [second["id"]]
    assert ids("?status=reported&place=yangon") == [second["id"]]  # Hlaing: Yangon Region
    assert ids("?date_from=2021-01-01") == [second["id"], third["id"]]
    assert ids("?date_from=2017-08-31&date_to=2017-12-31") == [first["id"]]
    assert ids("?place=bangla") == [third["id"]]
    assert ids("?place=100%25") == []  # a literal percent sign, not a wildcard
    page = client.get(url + "?limit=2", headers=headers).get_json()
    assert len(page["items"]) == 2 and page["next"]
    rest = client.get(url + f"?limit=2&cursor={page['next']}", headers=headers).get_json()
    assert [item["id"] for item in rest["items"]] == [third["id"]] and rest["next"] is None
    whole = client.patch(f"/api/v1/incidents/{third['id']}", headers=world.headers["lead"],
                         json={"version": 1.0, "victims": {"count": 12.0, "group": None}})
    assert whole.status_code == 200 and whole.get_json()["victims"]["count"] == 12
    for query in ("?category=genocide", "?status=open", "?date_from=yesterday", "?date_to=0",
                  "?date_from=2020-01-02&date_to=2020-01-01", "?cursor=nonsense"):
        response = client.get(url + query, headers=headers)
        assert response.status_code == 422, query


def test_perpetrators_are_named_once_and_reused(client, session, world):
    url = f"/api/v1/cases/{world.case.id}/perpetrators"
    unit = {"name": "33rd Light Infantry Division", "kind": "unit", "affiliation": "Tatmadaw"}
    first = client.post(url, headers=world.headers["uploader"], json=unit)
    assert first.status_code == 201, first.get_json()
    again = client.post(url, headers=world.headers["grantee"],
                        json={"name": "33RD LIGHT INFANTRY DIVISION", "kind": "unit"})
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert client.post(url, headers=world.headers["viewer"], json=unit).status_code == 403
    bad = client.post(url, headers=world.headers["uploader"], json={"name": "X", "kind": "army"})
    assert bad.status_code == 422 and "kind" in bad.get_json()["error"]["fields"]
    listed = client.get(url, headers=world.headers["viewer"]).get_json()["items"]
    assert [item["name"] for item in listed] == ["33rd Light Infantry Division"]
    body = created(client, world, perpetrators=[first.get_json()["id"]])
    assert [p["id"] for p in body["perpetrators"]] == [first.get_json()["id"]]
    filtered = client.get(f"/api/v1/cases/{world.case.id}/incidents?perpetrator="
                          f"{first.get_json()['id']}", headers=world.headers["viewer"])
    assert [item["id"] for item in filtered.get_json()["items"]] == [body["id"]]
    assert count(session, Perpetrator) == 1


def test_link_and_unlink_an_item(client, session, world):
    body = created(client, world)
    url = f"/api/v1/incidents/{body['id']}/evidence"
    linked = client.post(url, headers=world.headers["uploader"],
                         json={"evidence_id": world.public["id"], "relation": "depicts",
                               "note": "the houses burning, seen from the river"})
    assert linked.status_code == 201, linked.get_json()
    link = linked.get_json()
    assert (link["evidence_id"], link["ern"], link["relation"]) == (
        world.public["id"], world.public["ern"], "depicts")
    again = client.post(url, headers=world.headers["uploader"],
                        json={"evidence_id": world.public["id"], "relation": "depicts"})
    assert again.status_code == 409
    read = client.get(f"/api/v1/incidents/{body['id']}", headers=world.headers["viewer"])
    assert [item["id"] for item in read.get_json()["evidence"]] == [link["id"]]
    report = client.get(f"/api/v1/evidence/{world.public['id']}/custody",
                        headers=world.headers["viewer"]).get_json()
    actions = [entry.get("action") for entry in report["entries"]]
    assert "linked" in actions
    removed = client.delete(f"{url}/{link['id']}", headers=world.headers["lead"])
    assert removed.status_code == 204
    assert client.delete(f"{url}/{link['id']}", headers=world.headers["lead"]).status_code == 404
    assert count(session, IncidentEvidence) == 0


def test_an_item_of_another_case_cannot_be_linked(client, session, world):
    body = created(client, world)
    other = make_case(session, world.lead, title="Another case")
    foreign = _upload(client, other, world.headers["lead"], b"another case's photo", "p.txt")
    before = count(session, CustodyEntry)
    for evidence_id in (foreign["id"], world.secret["id"]):  # the lead holds no grant
        response = client.post(f"/api/v1/incidents/{body['id']}/evidence",
                               headers=world.headers["lead"],
                               json={"evidence_id": evidence_id, "relation": "context"})
        assert response.status_code == 422
        assert set(response.get_json()["error"]["fields"]) == {"evidence_id"}
    bad = client.post(f"/api/v1/incidents/{body['id']}/evidence", headers=world.headers["lead"],
                      json={"evidence_id": world.public["id"], "relation": "proves"})
    assert bad.status_code == 422 and "relation" in bad.get_json()["error"]["fields"]
    assert count(session, IncidentEvidence) == 0 and count(session, CustodyEntry) == before


def test_strangers_see_no_incident(client, session, world):
    body = created(client, world)
    stranger = make_user(session, "stranger@example.org")
    headers = bearer(session, stranger)
    assert client.get(f"/api/v1/incidents/{body['id']}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/cases/{world.case.id}/incidents",
                      headers=headers).status_code == 404
    assert post(client, world, "viewer", INCIDENT).status_code == 403
    response = client.patch(f"/api/v1/incidents/{body['id']}", headers=headers,
                            json={"version": 1, "title": "x"})
    assert response.status_code == 404


def test_a_restricted_item_linked_to_an_incident_leaves_no_trace(client, app, world):
    body = created(client, world)
    url = f"/api/v1/incidents/{body['id']}/evidence"
    secret_link = client.post(url, headers=world.headers["uploader"],
                              json={"evidence_id": world.secret["id"], "relation": "corroborates",
                                    "note": "witness-W17 saw it"})
    assert secret_link.status_code == 201, secret_link.get_json()
    assert secret_link.get_json()["title"] == world.secret["title"]
    public_link = client.post(url, headers=world.headers["uploader"],
                              json={"evidence_id": world.public["id"], "relation": "depicts"})
    assert public_link.status_code == 201
    for who in ("viewer", "lead"):  # no grant
        seen = client.get(f"/api/v1/incidents/{body['id']}", headers=world.headers[who])
        assert [item["evidence_id"] for item in seen.get_json()["evidence"]] == [
            world.public["id"]]
        assert_no_trace(world, seen.get_data(as_text=True))
        assert "witness-W17" not in seen.get_data(as_text=True)
        # nor can they remove the link they cannot see
        gone = client.delete(f"{url}/{secret_link.get_json()['id']}", headers=world.headers[who])
        assert gone.status_code in (403, 404)
        report = client.get(f"/api/v1/cases/{world.case.id}/custody",
                            headers=world.headers[who]).get_json()
        assert_no_trace(world, dumps(report))
        key = app.extensions["casefile.custody_keys"].verifier_key
        assert check_redacted_proofs(report, key) >= 1
        assert verify_report(report, key).valid
    for who in ("uploader", "grantee"):
        seen = client.get(f"/api/v1/incidents/{body['id']}", headers=world.headers[who])
        shown = {item["evidence_id"]: item for item in seen.get_json()["evidence"]}
        assert set(shown) == {world.public["id"], world.secret["id"]}
        assert shown[world.secret["id"]]["note"] == "witness-W17 saw it"
    assert SECRET_NAME not in client.get(f"/api/v1/cases/{world.case.id}/incidents",
                                         headers=world.headers["viewer"]).get_data(as_text=True)


def test_myanmar_places_for_the_location_fields(client, world):
    headers = world.headers["viewer"]
    response = client.get("/api/v1/places/myanmar?level=township&q=maung&state_region=Rakhine",
                          headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [item["en"] for item in body["items"]] == ["Maungdaw"]
    assert body["items"][0]["my"] == "မောင်တော" and body["items"][0]["pcode"].startswith("MMR012")
    assert body["source"]["release"] == "9.6"
    states = client.get("/api/v1/places/myanmar?level=state_region", headers=headers).get_json()
    assert len(states["items"]) == 15
    for query in ("", "?level=village", "?level=township&q=" + "x" * 101):
        assert client.get("/api/v1/places/myanmar" + query, headers=headers).status_code == 422
    assert client.get("/api/v1/places/myanmar?level=township").status_code == 401
