"""Incidents (logic/incidents/): recording and changing them, naming perpetrators, linking
items; who may; the custody entries (and that the log still verifies); refusals that leave
nothing written."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import func, select

from casefile import request_scope
from casefile.logic.custody.verify import verify_log
from casefile.logic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from casefile.logic.evidence.editing import StaleVersion
from casefile.logic.incidents import incidents, links, perpetrators
from casefile.model import (
    CustodyAction,
    CustodyEntry,
    Incident,
    IncidentCategory,
    IncidentEvidence,
    IncidentStatus,
    Perpetrator,
)
from tests.factories import make_case
from tests.restricted_custody import World, build


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


def entries(session, action: CustodyAction) -> list[CustodyEntry]:
    return list(session.scalars(
        select(CustodyEntry).where(CustodyEntry.action == action).order_by(CustodyEntry.seq)))


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def record(session, world, actor=None, **fields):
    fields.setdefault("title", "Burning of Tula Toli")
    return incidents.create_incident(
        session, actor or world.uploader, world.case.id, incidents.parse_input(fields))


def test_an_incident_is_recorded_with_every_field_and_one_custody_entry(session, world):
    unit = perpetrators.name_perpetrator(session, world.lead, world.case.id,
                                         perpetrators.parse_perpetrator(
                                             {"name": "33rd Light Infantry Division",
                                              "kind": "unit", "affiliation": "Tatmadaw"}))
    assert unit.created
    incident = record(
        session, world,
        narrative="Soldiers surrounded the village at dawn.",
        start_date="2017-08-30", end_date="2017-08-31", date_precision="day",
        location={"place": "riverbank", "village_ward": "Tula Toli", "township": "Maungdaw",
                  "district": "Maungdaw", "state_region": "Rakhine", "country": "Myanmar",
                  "lat": 20.94, "lon": 92.39},
        categories=["arson_destruction", "killing", "killing"],
        victims={"count": 300, "group": "Rohingya villagers"},
        perpetrators=[str(unit.perpetrator.id)],
    )
    session.expire_all()
    stored = session.get(Incident, incident.id)
    assert stored.case_id == world.case.id
    assert stored.categories == [IncidentCategory.KILLING, IncidentCategory.ARSON_DESTRUCTION]
    assert (stored.start_date, stored.end_date) == (dt.date(2017, 8, 30), dt.date(2017, 8, 31))
    assert (stored.lat, stored.lon) == (20.94, 92.39)
    assert stored.status == IncidentStatus.REPORTED and stored.version == 1
    assert [person.name for person in stored.perpetrators] == ["33rd Light Infantry Division"]
    assert stored.created_by_id == world.uploader.id
    [entry] = entries(session, CustodyAction.INCIDENT_CREATED)
    details = json.loads(entry.details)
    assert (entry.case_id, entry.item_id) == (world.case.id, None)
    assert entry.actor_id == world.uploader.id
    assert details["incident"] == str(incident.id)
    assert details["categories"] == ["killing", "arson_destruction"]
    assert details["location"]["lat"] == "20.94"
    assert details["victims"] == {"count": 300, "group": "Rohingya villagers"}
    assert details["perpetrators"] == [str(unit.perpetrator.id)]
    [named] = entries(session, CustodyAction.PERPETRATOR_CREATED)
    assert json.loads(named.details)["name"] == "33rd Light Infantry Division"


def test_a_perpetrator_named_again_is_the_same_one(session, world):
    first = perpetrators.name_perpetrator(
        session, world.lead, world.case.id,
        perpetrators.parse_perpetrator({"name": "Captain X", "kind": "person"}))
    again = perpetrators.name_perpetrator(
        session, world.uploader, world.case.id,
        perpetrators.parse_perpetrator({"name": "  captain x ", "kind": "person"}))
    assert (again.created, again.perpetrator.id) == (False, first.perpetrator.id)
    assert count(session, Perpetrator) == 1
    assert len(entries(session, CustodyAction.PERPETRATOR_CREATED)) == 1


@pytest.mark.parametrize(("fields", "field"), [
    ({"start_date": "2017-08-31", "end_date": "2017-08-30"}, "body"),
    ({"location": {"lat": 91, "lon": 0}}, "location.lat"),
    ({"location": {"lat": 20, "lon": -181}}, "location.lon"),
    ({"location": {"lat": 20}}, "location"),
    ({"categories": ["genocide"]}, "categories.0"),
    ({"status": "closed"}, "status"),
    ({"date_precision": "week"}, "date_precision"),
    ({"title": "x" * 501}, "title"),
    ({"title": "   "}, "title"),
    ({"victims": {"count": -1}}, "victims.count"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_is_refused_and_nothing_written(session, world, fields, field):
    before = count(session, CustodyEntry)
    with pytest.raises(ValidationFailed) as refused:
        record(session, world, **fields)
    assert field in refused.value.fields, refused.value.fields
    assert count(session, Incident) == 0 and count(session, CustodyEntry) == before


def test_perpetrators_of_another_case_are_refused(session, world):
    other = make_case(session, world.lead, title="Another case")
    theirs = perpetrators.name_perpetrator(
        session, world.lead, other.id,
        perpetrators.parse_perpetrator({"name": "Unit 9", "kind": "unit"}))
    with pytest.raises(ValidationFailed) as refused:
        record(session, world, perpetrators=[str(theirs.perpetrator.id)])
    assert "perpetrators" in refused.value.fields
    assert count(session, Incident) == 0


def test_who_may_record_incidents(session, world):
    for member in (world.uploader, world.grantee, world.lead):
        record(session, world, actor=member)
    with pytest.raises(Forbidden):
        record(session, world, actor=world.viewer)
    outsider = world.lead  # not a member of another case
    other = make_case(session, world.viewer, title="The viewer's own case")
    with pytest.raises(NotFound):
        incidents.create_incident(session, outsider, other.id,
                                  incidents.parse_input({"title": "x"}))


def test_an_update_records_old_and_new_values_and_stale_ones_are_refused(session, world):
    incident = record(session, world, categories=["killing"])
    changed = incidents.update_incident(
        session, world.grantee, incident.id,
        incidents.parse_update({"version": 1, "status": "corroborated",
                                "categories": ["killing", "torture"], "narrative": "Seen."}))
    assert changed.version == 2 and changed.updated_by_id == world.grantee.id
    [entry] = entries(session, CustodyAction.INCIDENT_UPDATED)
    assert json.loads(entry.details)["changes"] == {
        "status": {"from": "reported", "to": "corroborated"},
        "categories": {"from": ["killing"], "to": ["killing", "torture"]},
        "narrative": {"from": None, "to": "Seen."},
    }
    with pytest.raises(StaleVersion):
        incidents.update_incident(session, world.uploader, incident.id,
                                  incidents.parse_update({"version": 1, "title": "Old"}))
    with pytest.raises(ValidationFailed) as refused:
        incidents.update_incident(session, world.uploader, incident.id,
                                  incidents.parse_update({"version": 2, "end_date": "1999-01-01",
                                                          "start_date": "2000-01-01"}))
    assert "body" in refused.value.fields or "end_date" in refused.value.fields
    # the start date alone moved past the stored end date
    incidents.update_incident(session, world.uploader, incident.id,
                              incidents.parse_update({"version": 2, "end_date": "2017-09-01"}))
    with pytest.raises(ValidationFailed) as refused:
        incidents.update_incident(session, world.uploader, incident.id,
                                  incidents.parse_update({"version": 3,
                                                          "start_date": "2017-10-01"}))
    assert "end_date" in refused.value.fields
    unchanged = incidents.update_incident(session, world.uploader, incident.id,
                                          incidents.parse_update({"version": 3,
                                                                  "status": "corroborated"}))
    assert unchanged.version == 3
    assert len(entries(session, CustodyAction.INCIDENT_UPDATED)) == 2
    with pytest.raises(ValidationFailed):
        incidents.parse_update({"version": 3, "title": None})


def test_linking_an_item_is_a_custody_entry_about_the_item(session, world):
    incident = record(session, world)
    item_id = uuid.UUID(world.public["id"])
    linked = links.link_item(session, world.uploader, incident.id, links.parse_link(
        {"evidence_id": str(item_id), "relation": "depicts", "note": "the burning houses"}))
    [entry] = entries(session, CustodyAction.LINKED)
    assert (entry.case_id, entry.item_id) == (world.case.id, item_id)
    details = json.loads(entry.details)
    assert details["relation"] == "depicts" and details["incident"] == str(incident.id)
    assert details["note"] == "the burning houses" and details["ern"] == world.public["ern"]
    # another relation of the same pair is another link; the same one again is refused
    links.link_item(session, world.uploader, incident.id, links.parse_link(
        {"evidence_id": str(item_id), "relation": "context"}))
    with pytest.raises(Conflict):
        links.link_item(session, world.uploader, incident.id, links.parse_link(
            {"evidence_id": str(item_id), "relation": "depicts"}))
    assert count(session, IncidentEvidence) == 2
    links.unlink_item(session, world.lead, incident.id, linked.link.id)
    [removed] = entries(session, CustodyAction.UNLINKED)
    assert removed.item_id == item_id and json.loads(removed.details)["relation"] == "depicts"
    assert count(session, IncidentEvidence) == 1
    with pytest.raises(NotFound):
        links.unlink_item(session, world.lead, incident.id, linked.link.id)


def test_items_of_another_case_or_hidden_ones_cannot_be_linked(session, world, client):
    incident = record(session, world)
    other = make_case(session, world.lead, title="Another case")
    from tests.restricted_custody import _upload  # noqa: PLC0415

    foreign = _upload(client, other, world.headers["lead"], b"other case's photo", "x.txt")
    before = count(session, CustodyEntry)
    for actor, item_id in ((world.lead, foreign["id"]), (world.lead, str(uuid.uuid4())),
                           (world.lead, world.secret["id"])):  # the lead holds no grant
        with pytest.raises(ValidationFailed) as refused:
            links.link_item(session, actor, incident.id, links.parse_link(
                {"evidence_id": item_id, "relation": "depicts"}))
        assert refused.value.fields == {"evidence_id": links.NOT_IN_CASE}
    assert count(session, IncidentEvidence) == 0 and count(session, CustodyEntry) == before
    with pytest.raises(ValidationFailed):
        links.parse_link({"evidence_id": world.public["id"], "relation": "proves"})
    with pytest.raises(Forbidden):
        links.link_item(session, world.viewer, incident.id, links.parse_link(
            {"evidence_id": world.public["id"], "relation": "depicts"}))
    # the uploader holds a grant: may link the restricted item
    links.link_item(session, world.uploader, incident.id, links.parse_link(
        {"evidence_id": world.secret["id"], "relation": "corroborates"}))


def test_the_log_verifies_after_incident_work(session, world, client):
    keys = request_scope.custody_keys(client.application)
    incident = record(session, world, location={"lat": -12.5, "lon": 100.25})
    incidents.update_incident(session, world.lead, incident.id,
                              incidents.parse_update({"version": 1, "title": "Renamed"}))
    links.link_item(session, world.uploader, incident.id, links.parse_link(
        {"evidence_id": world.public["id"], "relation": "depicts"}))
    assert verify_log(session, keys.verifier_key).ok
