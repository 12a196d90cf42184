"""GET /api/v1/cases/{case_id}/map: the case's points as GeoJSON. Incidents with a latitude and
longitude and items with a GPS position in their EXIF (or a collector's latitude and
longitude) are there, incidents and items without one are not;
restricted items only for those holding a grant, with nothing else of them anywhere in the
answer (no feature, no count); other cases' points never; out-of-range coordinates dropped;
bad filters refused with 422; reading the map writes no custody entry."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image
from PIL.ExifTags import IFD
from sqlalchemy import func, select

from casefile.model import CustodyEntry, Role
from tests.api.test_evidence_api import upload
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


def photo(
    lat: tuple[float, float, float] | None,
    lon: tuple[float, float, float] | None,
    *,
    taken: str | None = "2017:08:30 09:15:00",
    shade: int = 0,
    north: str = "N",
    east: str = "E",
) -> bytes:
    """A JPEG whose EXIF holds this GPS position (degrees, minutes, seconds) and time taken;
    `shade` makes its bytes differ from another photo's."""
    exif = Image.Exif()
    exif[0x010F] = "Samsung"
    if taken:
        exif.get_ifd(IFD.Exif)[0x9003] = taken
    if lat is not None and lon is not None:
        gps = exif.get_ifd(IFD.GPSInfo)
        gps[1], gps[2], gps[3], gps[4] = north, lat, east, lon
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 120, 60)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def add(client, case_id, headers, content, **fields) -> dict:
    response = upload(client, case_id, headers, content, filename="p.jpg",
                      content_type="image/jpeg", **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead, title="Tula Toli")
    other = make_case(session, lead, title="Another case")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    add_member(session, other, lead, viewer, Role.VIEWER)
    w = SimpleNamespace(
        case=case,
        other=other,
        lead=bearer(session, lead),
        investigator=bearer(session, investigator),
        viewer=bearer(session, viewer),
        outsider=bearer(session, outsider),
    )
    # Tula Toli, 20.94 N 92.57 E, taken 30 August 2017.
    w.tula = add(client, case.id, w.lead, photo((20.0, 56.0, 24.0), (92.0, 34.0, 12.0)),
                 title="Riverbank at Tula Toli")
    # No GPS at all: not on the map.
    w.plain = add(client, case.id, w.lead, photo(None, None, shade=10), title="No position")
    # No EXIF position, but the collector gave one.
    w.declared = add(client, case.id, w.lead, photo(None, None, shade=20, taken=None),
                     title="Declared place", lat="21.1", lon="92.9",
                     collected_at="2017-09-02T10:00:00+06:30")
    # A latitude of 95 degrees is no position: dropped, never sent to the map.
    w.bad = add(client, case.id, w.lead, photo((95.0, 0.0, 0.0), (92.0, 0.0, 0.0), shade=30),
                title="Impossible latitude")
    # Restricted, uploaded by the investigator (who holds the grant): a witness's location.
    w.secret = add(client, case.id, w.investigator,
                   photo((21.0, 30.0, 0.0), (92.0, 45.0, 0.0), shade=40,
                         taken="2017:08:31 07:00:00"),
                   title="Witness at her shelter", sensitivity="restricted")
    # Another case's GPS-tagged item: never on this case's map.
    w.elsewhere = add(client, other.id, w.lead,
                      photo((16.0, 47.0, 0.0), (96.0, 9.0, 0.0), shade=50),
                      title="Yangon, other case")
    w.massacre = incident(client, case.id, w.lead, title="Killings at Tula Toli",
                          start_date="2017-08-30", categories=["killing", "sgbv"],
                          location={"place": "Tula Toli", "lat": 20.9512, "lon": 92.5634})
    w.burning = incident(client, case.id, w.lead, title="Burning of Min Gyi",
                         start_date="2017-09-01", end_date="2017-09-03",
                         date_precision="approximate", categories=["arson_destruction"],
                         location={"place": "Min Gyi", "lat": 20.17, "lon": 92.9})
    w.nowhere = incident(client, case.id, w.lead, title="Arrests, place unknown",
                         start_date="2017-08-29", categories=["arbitrary_detention"])
    w.other_incident = incident(client, other.id, w.lead, title="Yangon detentions",
                                start_date="2021-02-01",
                                location={"place": "Insein", "lat": 16.88, "lon": 96.1})
    return w


def incident(client, case_id, headers, **fields) -> dict:
    response = client.post(f"/api/v1/cases/{case_id}/incidents", headers=headers, json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get_map(client, case_id, headers, **params):
    return client.get(f"/api/v1/cases/{case_id}/map", headers=headers, query_string=params)


def by_id(body: dict, kind: str | None = None) -> dict[str, dict]:
    return {
        feature["properties"]["id"]: feature
        for feature in body["features"]
        if kind is None or feature["properties"]["kind"] == kind
    }


def test_items_with_a_position_are_points_and_others_are_not(client, world):
    response = get_map(client, world.case.id, world.viewer)
    assert response.status_code == 200
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and body["truncated"] is False
    found = by_id(body, "evidence")
    assert set(found) == {world.tula["id"], world.declared["id"]}
    tula = found[world.tula["id"]]
    assert tula["type"] == "Feature" and tula["id"] == f"evidence/{world.tula['id']}"
    assert tula["geometry"] == {"type": "Point", "coordinates": [92.57, 20.94]}  # lon, lat
    assert tula["properties"] == {
        "kind": "evidence",
        "id": world.tula["id"],
        "title": "Riverbank at Tula Toli",
        "ern": world.tula["ern"],
        "date": "2017-08-30",
        "date_source": "taken",
        "position_source": "exif",
        "sensitivity": "standard",
    }
    declared = found[world.declared["id"]]["properties"]
    assert found[world.declared["id"]]["geometry"]["coordinates"] == [92.9, 21.1]
    assert (declared["position_source"], declared["date"], declared["date_source"]) == (
        "collector", "2017-09-02", "collected")


def test_incidents_with_a_location_are_points(client, world):
    body = get_map(client, world.case.id, world.viewer).get_json()
    found = by_id(body, "incident")
    assert set(found) == {world.massacre["id"], world.burning["id"]}  # not the unplaced one
    massacre = found[world.massacre["id"]]
    assert massacre["id"] == f"incident/{world.massacre['id']}"
    assert massacre["geometry"] == {"type": "Point", "coordinates": [92.5634, 20.9512]}
    assert massacre["properties"] == {
        "kind": "incident",
        "id": world.massacre["id"],
        "title": "Killings at Tula Toli",
        "date": "2017-08-30",
        "end_date": None,
        "date_precision": "day",
        "date_source": "incident",
        "position_source": "incident",
        "categories": ["killing", "sgbv"],
        "place": "Tula Toli",
    }
    burning = found[world.burning["id"]]["properties"]
    assert (burning["date"], burning["end_date"], burning["date_precision"]) == (
        "2017-09-01", "2017-09-03", "approximate")
    assert [f["properties"]["kind"] for f in body["features"]][:2] == ["incident", "incident"]


def test_incidents_filter_by_category_and_period(client, world):
    def ids(**params):
        response = get_map(client, world.case.id, world.viewer, show="incidents", **params)
        assert response.status_code == 200, response.get_json()
        assert all(f["properties"]["kind"] == "incident" for f in response.get_json()["features"])
        return set(by_id(response.get_json()))

    both = {world.massacre["id"], world.burning["id"]}
    assert ids() == both
    assert ids(category="killing") == {world.massacre["id"]}
    assert ids(category="arson_destruction") == {world.burning["id"]}
    assert ids(category="torture") == set()
    assert ids(since="2017-09-02") == {world.burning["id"]}  # it lasted until the 3rd
    assert ids(until="2017-08-31") == {world.massacre["id"]}
    assert ids(since="2017-09-04") == set()
    # The category narrows incidents only; items stay.
    mixed = get_map(client, world.case.id, world.viewer, category="killing").get_json()
    assert set(by_id(mixed, "incident")) == {world.massacre["id"]}
    assert set(by_id(mixed, "evidence")) == {world.tula["id"], world.declared["id"]}


def test_a_restricted_item_is_a_point_only_for_a_grantee(client, world):
    seen = by_id(get_map(client, world.case.id, world.investigator).get_json())
    assert world.secret["id"] in seen
    secret = seen[world.secret["id"]]
    assert secret["properties"]["title"] == "Witness at her shelter"  # from its seal
    assert secret["properties"]["sensitivity"] == "restricted"
    assert secret["geometry"]["coordinates"] == [92.75, 21.5]
    for headers in (world.viewer, world.lead):  # the lead holds no grant either
        response = get_map(client, world.case.id, headers, show="evidence")
        text = response.get_data(as_text=True)
        assert len(response.get_json()["features"]) == 2  # no feature, and no count of it
        for needle in (world.secret["id"], world.secret["ern"], "Witness", "shelter",
                       "21.5", "92.75", "restricted", "2017-08-31"):
            assert needle not in text, needle


def test_other_cases_points_are_not_shown_and_non_members_get_404(client, world):
    text = get_map(client, world.case.id, world.lead).get_data(as_text=True)
    assert world.elsewhere["id"] not in text and "Yangon" not in text
    assert world.other_incident["id"] not in text and "Insein" not in text
    other = by_id(get_map(client, world.other.id, world.viewer).get_json())
    assert set(other) == {world.elsewhere["id"], world.other_incident["id"]}
    assert get_map(client, world.case.id, world.outsider).status_code == 404
    assert get_map(client, world.case.id, world.outsider, since="junk").status_code == 404
    assert get_map(client, "00000000-0000-0000-0000-000000000000", world.lead).status_code == 404
    assert get_map(client, world.case.id, {}).status_code == 401


def test_filters_by_date_and_kind(client, world):
    def ids(**params):
        response = get_map(client, world.case.id, world.investigator, **params)
        assert response.status_code == 200, response.get_json()
        kind = "incident" if params.get("show") == "incidents" else "evidence"
        return set(by_id(response.get_json(), kind))

    everything = {world.tula["id"], world.declared["id"], world.secret["id"]}
    assert ids() == everything
    assert ids(since="2017-08-31") == {world.declared["id"], world.secret["id"]}
    assert ids(until="2017-08-30") == {world.tula["id"]}
    assert ids(since="2017-08-31", until="2017-08-31") == {world.secret["id"]}
    assert ids(kind="image/") == everything
    assert ids(kind="application/pdf") == set()
    assert ids(show="evidence") == everything
    assert ids(show="incidents") == {world.massacre["id"], world.burning["id"]}


@pytest.mark.parametrize(("params", "field"), [
    ({"since": "2017-13-01"}, "since"),
    ({"since": "30/08/2017"}, "since"),
    ({"until": "2017-08-30T00:00"}, "until"),
    ({"since": "2017-09-01", "until": "2017-08-01"}, "until"),
    ({"show": "everything"}, "show"),
    ({"kind": "image"}, "kind"),
    ({"category": "massacre"}, "category"),
    ({"until": ""}, "until"),
    ({"show": ""}, "show"),
    ({"kind": ""}, "kind"),
    ({"category": ""}, "category"),
])
def test_bad_filters_are_refused(client, world, params, field):
    response = get_map(client, world.case.id, world.viewer, **params)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]


def test_reading_the_map_writes_no_custody_entry(client, world, session):
    before = session.scalar(select(func.count()).select_from(CustodyEntry))
    for headers in (world.lead, world.investigator, world.viewer):
        assert get_map(client, world.case.id, headers).status_code == 200
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CustodyEntry)) == before
