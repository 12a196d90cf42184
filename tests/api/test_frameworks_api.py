"""Charges, proof links and the proof matrix through the JSON API (SQLite and PostgreSQL):
who may do what, bad input that changes nothing, custody entries with before and after, gaps,
and restricted items that leave no trace for members without a grant."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from sqlalchemy import func, select

from casefile.logic.incidents import incidents
from casefile.model import Charge, CustodyEntry, ProofLink, Role
from tests.api.test_openapi import Contract
from tests.factories import add_member, bearer, make_case, make_user
from tests.restricted_custody import World, build


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


@pytest.fixture
def contract(client):
    return Contract(client.get("/api/v1/openapi.json").get_json())


def charge(client, world, who="lead", crime="7(1)(d)", framework="rome-statute"):
    return client.post(
        f"/api/v1/cases/{world.case.id}/charges",
        headers=world.headers[who],
        json={"framework": framework, "crime": crime},
    )


def link(
    client, world, charge_id, item_id, *, who="lead", element="1", strength="supports", note=""
):
    return client.post(
        f"/api/v1/cases/{world.case.id}/proof-links",
        headers=world.headers[who],
        json={
            "charge_id": charge_id,
            "element": element,
            "evidence_id": item_id,
            "strength": strength,
            "note": note,
        },
    )


def matrix(client, world, who):
    response = client.get(f"/api/v1/cases/{world.case.id}/proof-matrix", headers=world.headers[who])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def element(body, crime, element_id):
    [row] = [c for c in body["charges"] if c["crime"] == crime]
    [cell] = [e for e in row["elements"] if e["id"] == element_id]
    return cell


def entries(session, case_id, action):
    rows = session.scalars(
        select(CustodyEntry)
        .where(CustodyEntry.case_id == case_id, CustodyEntry.action == action)
        .order_by(CustodyEntry.seq)
    )
    return [(row, json.loads(row.details)) for row in rows]


def counts(session):
    return (
        session.scalar(select(func.count()).select_from(Charge)),
        session.scalar(select(func.count()).select_from(ProofLink)),
    )


def test_frameworks_are_listed_for_anyone_signed_in(client, world, contract):
    response = client.get("/api/v1/frameworks", headers=world.headers["viewer"])
    assert response.status_code == 200
    contract.check(response, "/api/v1/frameworks", "get")
    ids = {f["id"] for f in response.get_json()["items"]}
    assert {"rome-statute", "genocide-convention"} <= ids
    assert client.get("/api/v1/frameworks").status_code == 401


def test_a_lead_charges_crimes_and_each_change_is_in_the_custody_log(
    client, world, session, contract
):
    response = charge(client, world)
    assert response.status_code == 201, response.get_json()
    contract.check(response, "/api/v1/cases/{case_id}/charges", "post")
    body = response.get_json()
    assert (body["framework"], body["version"], body["crime"]) == ("rome-statute", 1, "7(1)(d)")
    assert body["kind"] == "crime"
    liability = charge(client, world, crime="25(3)(a)")
    assert liability.status_code == 201 and liability.get_json()["kind"] == "liability"
    icj = charge(client, world, framework="genocide-convention", crime="II(c)")
    assert icj.status_code == 201

    listing = client.get(f"/api/v1/cases/{world.case.id}/charges", headers=world.headers["viewer"])
    contract.check(listing, "/api/v1/cases/{case_id}/charges", "get")
    assert [c["crime"] for c in listing.get_json()["items"]] == ["7(1)(d)", "25(3)(a)", "II(c)"]

    [(entry, details), *_] = entries(session, world.case.id, "case_updated")
    assert details["change"] == "charge_added"
    assert details["before"] is None
    assert details["after"] == {"framework": "rome-statute", "version": 1, "crime": "7(1)(d)"}
    assert entry.actor_id == world.lead.id

    removed = client.delete(
        f"/api/v1/cases/{world.case.id}/charges/{body['id']}", headers=world.headers["lead"]
    )
    assert removed.status_code == 204
    last = entries(session, world.case.id, "case_updated")[-1][1]
    assert last["change"] == "charge_removed" and last["after"] is None
    assert last["before"]["crime"] == "7(1)(d)"


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"framework": "rome-statutes", "crime": "7(1)(d)"}, 422, "framework"),
        ({"framework": "rome-statute", "crime": "7(1)(z)"}, 422, "crime"),
        ({"framework": "rome-statute"}, 422, "crime"),
        ({"framework": "rome-statute", "crime": "7(1)(d)", "mode": "x"}, 422, "mode"),
        ({"framework": "", "crime": "7(1)(d)"}, 422, "framework"),
    ],
)
def test_bad_charges_are_refused_and_change_nothing(  # noqa: PLR0917 - fixtures and parameters
    client, world, session, payload, status, field
):
    before = counts(session)
    response = client.post(
        f"/api/v1/cases/{world.case.id}/charges", headers=world.headers["lead"], json=payload
    )
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert counts(session) == before


def test_who_may_charge(client, world, session):
    outsider = make_user(session, "outsider@example.org")
    world.headers["outsider"] = bearer(session, outsider)
    assert charge(client, world, who="viewer").status_code == 403
    assert charge(client, world, who="uploader").status_code == 403  # investigators link only
    assert charge(client, world, who="outsider").status_code == 404
    assert charge(client, world).status_code == 201
    again = charge(client, world)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    outside = client.get(
        f"/api/v1/cases/{world.case.id}/proof-matrix", headers=world.headers["outsider"]
    )
    assert outside.status_code == 404


def test_proof_links_make_and_close_gaps(client, world, session, contract):
    charge_id = charge(client, world).get_json()["id"]
    body = matrix(client, world, "viewer")
    assert all(e["gap"] for c in body["charges"] for e in c["elements"])
    assert body["gaps"] == body["elements"] == 7  # H1, H2, 1, 1a, 2, 3, 4

    made = link(client, world, charge_id, world.public["id"], who="grantee", strength="lead")
    assert made.status_code == 201, made.get_json()
    contract.check(made, "/api/v1/cases/{case_id}/proof-links", "post")
    assert element(matrix(client, world, "viewer"), "7(1)(d)", "1")["gap"] is True  # a lead only

    link_id = made.get_json()["id"]
    path = f"/api/v1/cases/{world.case.id}/proof-links/{link_id}"
    changed = client.patch(
        path, headers=world.headers["uploader"], json={"strength": "establishes", "note": "မြင်သည်"}
    )
    assert changed.status_code == 200, changed.get_json()
    contract.check(changed, "/api/v1/cases/{case_id}/proof-links/{link_id}", "patch")
    response = client.get(
        f"/api/v1/cases/{world.case.id}/proof-matrix", headers=world.headers["viewer"]
    )
    contract.check(response, "/api/v1/cases/{case_id}/proof-matrix", "get")
    cell = element(response.get_json(), "7(1)(d)", "1")
    assert cell["gap"] is False
    assert [(x["ern"], x["strength"], x["note"]) for x in cell["links"]] == [
        (world.public["ern"], "establishes", "မြင်သည်")
    ]
    assert response.get_json()["gaps"] == 6

    contests = link(client, world, charge_id, world.public["id"], element="2", strength="contests")
    assert contests.status_code == 201
    assert element(matrix(client, world, "lead"), "7(1)(d)", "2")["gap"] is True

    logged = entries(session, world.case.id, "linked")
    assert [d["change"] for _, d in logged] == [
        "proof_link_added",
        "proof_link_changed",
        "proof_link_added",
    ]
    added, changed_entry = logged[0], logged[1]
    assert added[0].item_id == uuid.UUID(world.public["id"])
    assert added[1]["before"] is None
    assert added[1]["after"] == {"strength": "lead", "note": ""}
    assert added[1]["item"] == {"id": world.public["id"], "ern": world.public["ern"]}
    assert added[1]["charge"]["crime"] == "7(1)(d)" and added[1]["element"] == "1"
    assert changed_entry[1]["before"] == {"strength": "lead", "note": ""}
    assert changed_entry[1]["after"] == {"strength": "establishes", "note": "မြင်သည်"}
    assert changed_entry[0].actor_id == world.uploader.id

    assert client.delete(path, headers=world.headers["viewer"]).status_code == 403
    assert client.delete(path, headers=world.headers["lead"]).status_code == 204
    [(removal, details)] = entries(session, world.case.id, "unlinked")
    assert details["change"] == "proof_link_removed" and details["after"] is None
    assert details["before"] == {"strength": "establishes", "note": "မြင်သည်"}
    assert removal.item_id == uuid.UUID(world.public["id"]) and removal.actor_id == world.lead.id
    assert element(matrix(client, world, "viewer"), "7(1)(d)", "1")["gap"] is True
    assert client.delete(path, headers=world.headers["lead"]).status_code == 404


def test_bad_links_are_refused_and_change_nothing(client, world, session):
    charge_id = charge(client, world).get_json()["id"]
    other_lead = make_user(session, "other@example.org")
    other = make_case(session, other_lead, title="Another case")
    add_member(session, other, other_lead, world.lead, Role.LEAD)
    other_item = client.post(
        f"/api/v1/cases/{other.id}/evidence",
        headers=world.headers["lead"],
        data={"file": (io.BytesIO(b"other case\n"), "o.txt")},
        content_type="multipart/form-data",
    ).get_json()["id"]
    before = counts(session)
    cases = [
        (link(client, world, charge_id, other_item), "evidence_id"),  # another case's item
        (link(client, world, charge_id, str(uuid.uuid4())), "evidence_id"),
        (link(client, world, charge_id, world.public["id"], element="9"), "element"),
        (link(client, world, str(uuid.uuid4()), world.public["id"]), "charge_id"),
        (link(client, world, charge_id, world.public["id"], strength="proves"), "strength"),
        (link(client, world, charge_id, world.public["id"], note="x" * 2001), "note"),
    ]
    for response, field in cases:
        assert response.status_code == 422, response.get_json()
        assert field in response.get_json()["error"]["fields"]
    assert counts(session) == before
    viewer = link(client, world, charge_id, world.public["id"], who="viewer")
    assert viewer.status_code == 403
    assert link(client, world, charge_id, world.public["id"]).status_code == 201
    assert link(client, world, charge_id, world.public["id"]).status_code == 409
    empty = client.patch(
        f"/api/v1/cases/{world.case.id}/proof-links/{uuid.uuid4()}",
        headers=world.headers["lead"],
        json={},
    )
    assert empty.status_code == 422


def test_a_restricted_items_link_leaves_no_trace_for_members_without_a_grant(
    client, world, session
):
    charge_id = charge(client, world).get_json()["id"]
    # Only the item's holders may link it: to the lead (no grant) it does not exist.
    hidden_to_lead = link(client, world, charge_id, world.secret["id"], who="lead")
    assert hidden_to_lead.status_code == 422
    made = link(
        client,
        world,
        charge_id,
        world.secret["id"],
        who="uploader",
        strength="establishes",
        note="witness W-17 saw the expulsion",
    )
    assert made.status_code == 201, made.get_json()
    link_id = made.get_json()["id"]

    holder = element(matrix(client, world, "grantee"), "7(1)(d)", "1")
    assert holder["gap"] is False and holder["links"][0]["ern"] == world.secret["ern"]
    assert holder["links"][0]["restricted"] is True

    for who in ("lead", "viewer"):
        body = matrix(client, world, who)
        cell = element(body, "7(1)(d)", "1")
        assert cell["links"] == [] and cell["gap"] is True  # a gap for them (docs/frameworks.md)
        assert body["gaps"] == body["elements"]
        text = json.dumps(body)
        for trace in (*world.traces(), link_id, "W-17"):
            assert trace not in text, (who, trace)
        path = f"/api/v1/cases/{world.case.id}/proof-links/{link_id}"
        assert client.patch(
            path, headers=world.headers[who], json={"strength": "lead"}
        ).status_code in (403, 404)
        assert client.delete(path, headers=world.headers[who]).status_code in (403, 404)
    lead_path = f"/api/v1/cases/{world.case.id}/proof-links/{link_id}"
    assert client.delete(lead_path, headers=world.headers["lead"]).status_code == 404

    # The custody entry about the link is about the item: redacted for the lead.
    report = client.get(
        f"/api/v1/cases/{world.case.id}/custody", headers=world.headers["lead"]
    ).get_json()
    text = json.dumps(report)
    assert "W-17 saw" not in text and link_id not in text
    assert session.get(ProofLink, uuid.UUID(link_id)) is not None

    # Removing the charge removes the hidden link too; its entry stays about the item.
    removed = client.delete(
        f"/api/v1/cases/{world.case.id}/charges/{charge_id}", headers=world.headers["lead"]
    )
    assert removed.status_code == 204
    assert session.get(ProofLink, uuid.UUID(link_id)) is None
    removal = entries(session, world.case.id, "unlinked")[-1]
    assert removal[0].item_id == uuid.UUID(world.secret["id"])
    assert removal[1]["change"] == "proof_link_removed"
    charge_removed = entries(session, world.case.id, "case_updated")[-1][1]
    assert world.secret["ern"] not in json.dumps(charge_removed)
    report = client.get(
        f"/api/v1/cases/{world.case.id}/custody", headers=world.headers["lead"]
    ).get_json()
    assert link_id not in json.dumps(report)


def test_an_incident_is_linked_like_an_item(client, world, session, contract):
    charge_id = charge(client, world).get_json()["id"]
    incident = incidents.create_incident(
        session,
        world.uploader,
        world.case.id,
        incidents.parse_input({"title": "Expulsion from Tula Toli"}),
    )
    other_lead = make_user(session, "other@example.org")
    other_case = make_case(session, other_lead, title="Another case")
    elsewhere = incidents.create_incident(
        session, other_lead, other_case.id, incidents.parse_input({"title": "Elsewhere"})
    )
    base = {"charge_id": charge_id, "element": "1a", "strength": "supports"}
    path = f"/api/v1/cases/{world.case.id}/proof-links"
    for body, field in (
        ({**base, "incident_id": str(elsewhere.id)}, "incident_id"),
        ({**base, "incident_id": str(incident.id), "evidence_id": world.public["id"]}, "body"),
        (base, "body"),
    ):
        refused = client.post(path, headers=world.headers["lead"], json=body)
        assert refused.status_code == 422, refused.get_json()
        assert field in refused.get_json()["error"]["fields"]
    made = client.post(
        path, headers=world.headers["grantee"], json={**base, "incident_id": str(incident.id)}
    )
    assert made.status_code == 201, made.get_json()
    contract.check(made, "/api/v1/cases/{case_id}/proof-links", "post")
    assert made.get_json()["evidence_id"] is None
    again = client.post(
        path, headers=world.headers["lead"], json={**base, "incident_id": str(incident.id)}
    )
    assert again.status_code == 409

    response = client.get(
        f"/api/v1/cases/{world.case.id}/proof-matrix", headers=world.headers["viewer"]
    )
    contract.check(response, "/api/v1/cases/{case_id}/proof-matrix", "get")
    cell = element(response.get_json(), "7(1)(d)", "1a")
    assert cell["gap"] is False
    [shown] = cell["links"]
    assert (shown["kind"], shown["incident_id"], shown["ern"]) == (
        "incident",
        str(incident.id),
        None,
    )
    assert shown["title"] == "Expulsion from Tula Toli"

    [(entry, details)] = [
        (e, d)
        for e, d in entries(session, world.case.id, "linked")
        if d.get("change") == "proof_link_added"
    ]
    assert entry.item_id is None
    assert details["incident"] == {"id": str(incident.id), "title": "Expulsion from Tula Toli"}
    removed = client.delete(f"{path}/{made.get_json()['id']}", headers=world.headers["uploader"])
    assert removed.status_code == 204
    assert element(matrix(client, world, "lead"), "7(1)(d)", "1a")["gap"] is True
