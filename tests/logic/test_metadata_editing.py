"""Editing an item's collector metadata (logic/evidence/editing.py): who may, the custody entry
with old and new values, restricted items kept sealed, no-op edits, stale edits, refusals."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from casefile import request_scope
from casefile.logic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from casefile.logic.evidence import deletion, editing, listing, metadata
from casefile.logic.evidence.deletion import DeletionInput, LegalHoldInput
from casefile.model import CustodyAction, CustodyEntry, Evidence, IndexToken, Role
from tests.api.test_evidence_api import upload
from tests.api.test_sealed_metadata import leaks
from tests.factories import add_member, bearer, make_case, make_user


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = bearer(session, investigator)
    keyring = request_scope.keyring(client.application)

    def add(**fields: str) -> uuid.UUID:
        response = upload(client, case.id, headers, b"statement " + uuid.uuid4().bytes,
                          filename="statement.txt", content_type="text/plain", **fields)
        assert response.status_code == 201, response.get_json()
        return uuid.UUID(response.get_json()["id"])

    return SimpleNamespace(lead=lead, investigator=investigator, viewer=viewer,
                           outsider=outsider, case=case, keyring=keyring, add=add)


def version(session, world, item_id) -> str:
    item = session.get(Evidence, item_id, populate_existing=True)
    return editing.metadata_version(item.id, metadata.reveal(world.keyring, item))


def edit(session, world, actor, item_id, **fields):
    fields.setdefault("version", version(session, world, item_id))
    return editing.edit_metadata(session, actor, item_id, editing.parse_edit(fields),
                                 keyring=world.keyring)


def edits_of(session, item_id) -> list[dict]:
    entries = session.scalars(select(CustodyEntry).where(
        CustodyEntry.item_id == item_id, CustodyEntry.action == CustodyAction.METADATA_EDITED
    ).order_by(CustodyEntry.seq))
    return [json.loads(entry.details) for entry in entries]


def test_an_edit_changes_the_item_and_records_old_and_new_values(session, world):
    item_id = world.add(title="Statement W-17", location="Tula Toli", source="interview")
    result = edit(session, world, world.investigator, item_id, title="Statement W-17 (Burmese)",
                  location="Tula Toli, riverbank", collected_by="Ko Zaw", source="",
                  lat=20.94)
    assert result.changed == ("title", "collected_by", "location", "lat", "source")
    session.expire_all()
    shown = metadata.reveal(world.keyring, listing.get_item(session, world.lead, item_id))
    assert shown.title == "Statement W-17 (Burmese)"
    assert shown.collector["location"] == "Tula Toli, riverbank"
    assert shown.collector["collected_by"] == "Ko Zaw"
    assert shown.collector["lat"] == 20.94
    assert "source" not in shown.collector  # cleared
    [details] = edits_of(session, item_id)
    item = session.get(Evidence, item_id)
    assert details == {
        "ern": item.ern,
        "changes": {
            "title": {"from": "Statement W-17", "to": "Statement W-17 (Burmese)"},
            "collected_by": {"from": None, "to": "Ko Zaw"},
            "location": {"from": "Tula Toli", "to": "Tula Toli, riverbank"},
            "lat": {"from": None, "to": "20.94"},
            "source": {"from": "interview", "to": None},
        },
    }
    entry = session.scalars(select(CustodyEntry).where(
        CustodyEntry.action == CustodyAction.METADATA_EDITED)).one()
    assert (entry.actor_id, entry.case_id) == (world.investigator.id, world.case.id)


def test_the_lead_may_edit_and_a_second_edit_needs_the_new_version(session, world):
    item_id = world.add(title="First")
    before = version(session, world, item_id)
    edit(session, world, world.lead, item_id, version=before, description="Seen at dawn")
    assert version(session, world, item_id) != before
    with pytest.raises(editing.StaleVersion):
        edit(session, world, world.investigator, item_id, version=before, title="Overwrite")
    session.expire_all()
    item = session.get(Evidence, item_id)
    assert item.title == "First" and item.description == "Seen at dawn"
    assert len(edits_of(session, item_id)) == 1  # the refused edit left no entry


def test_an_edit_that_changes_nothing_writes_no_entry(session, world):
    item_id = world.add(title="Same", location="Maungdaw")
    result = edit(session, world, world.investigator, item_id, title="  Same ",
                  location="Maungdaw")
    assert result.changed == ()
    assert edits_of(session, item_id) == []


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_who_may_not_edit(session, world, who):
    item_id = world.add(title="Statement")
    expected = Forbidden if who == "viewer" else NotFound
    with pytest.raises(expected):
        edit(session, world, getattr(world, who), item_id, title="Changed")
    session.rollback()
    assert session.get(Evidence, item_id).title == "Statement"
    assert edits_of(session, item_id) == []


def test_a_restricted_item_is_missing_for_someone_without_access(session, world):
    item_id = world.add(title="Witness Ma Hla", sensitivity="restricted")
    missing = uuid.uuid4()
    errors = []
    for target in (item_id, missing):
        with pytest.raises(NotFound) as raised:
            editing.edit_metadata(session, world.lead, target,
                                  editing.parse_edit({"version": "x", "title": "Changed"}),
                                  keyring=world.keyring)
        session.rollback()
        errors.append(raised.value.message)
    assert errors[0] == errors[1]  # the lead holds no grant: the same as a missing item
    assert edits_of(session, item_id) == []


def test_a_restricted_item_stays_sealed_and_findable_under_its_new_collector(session, world):
    item_id = world.add(title="Witness Ma Hla", collected_by="Daw Khin Myint",
                        location="Kutupalong C-4", sensitivity="restricted")
    edit(session, world, world.investigator, item_id, title="Witness Ma Hla Hla, Tula Toli",
         collected_by="U Tun Naing", location="Balukhali block 9")
    session.expire_all()
    assert leaks(session, ["Ma Hla Hla", "Tun Naing", "Balukhali", "Khin Myint",
                           "Kutupalong"]) == []
    item = session.get(Evidence, item_id)
    assert item.title == metadata.PLACEHOLDER_TITLE and item.collector == {}
    shown = metadata.reveal(world.keyring, item)
    assert shown.title == "Witness Ma Hla Hla, Tula Toli"
    assert shown.collector["collected_by"] == "U Tun Naing"
    assert shown.original_filename == "statement.txt"  # the rest of the seal kept
    [details] = edits_of(session, item_id)
    assert details["metadata"] == "sealed"
    assert set(details["changes"]) == {"title", "collected_by", "location"}
    assert details["changes"]["collected_by"] == {
        "from": editing.value_commitment(world.keyring, item, "Daw Khin Myint"),
        "to": editing.value_commitment(world.keyring, item, "U Tun Naing"),
    }
    # The blind index follows the new collector, and forgets the old one.
    found = metadata.matching(session, world.keyring, "collected_by", "Tun Naing")
    assert item_id in set(session.scalars(found))
    old = metadata.matching(session, world.keyring, "collected_by", "Khin Myint")
    assert item_id not in set(session.scalars(old))
    assert session.scalars(select(IndexToken).where(IndexToken.evidence_id == item_id)).all()


def test_a_deleted_item_or_a_case_under_legal_hold_refuses(session, world, client):
    held = world.add(title="Held")
    deletion.set_legal_hold(session, world.lead, world.case.id,
                            LegalHoldInput(on=True, reason="ICJ order"))
    with pytest.raises(Conflict, match="legal hold"):
        edit(session, world, world.investigator, held, title="Changed")
    session.rollback()
    deletion.set_legal_hold(session, world.lead, world.case.id,
                            LegalHoldInput(on=False, reason="order lifted"))
    gone = world.add(title="Gone")
    deletion.delete_item(session, world.lead, gone, DeletionInput(reason="duplicate scan"),
                         store=request_scope.blobs(client.application))
    with pytest.raises(Conflict, match="deleted"):
        edit(session, world, world.investigator, gone, title="Changed")
    session.rollback()
    assert edits_of(session, held) == [] and edits_of(session, gone) == []


def test_bad_input_is_refused_field_by_field():
    for fields, field in (({"title": None}, "title"), ({"title": " "}, "title"),
                          ({"lat": 91}, "lat"), ({"sha256": "0" * 64}, "sha256"),
                          ({"collected_at": "2024-03-05T14:22:10"}, "collected_at"),
                          ({"title": "x"}, "version")):
        with pytest.raises(ValidationFailed) as raised:
            editing.parse_edit({"version": "v", **fields} if field != "version" else fields)
        assert field in raised.value.fields, fields
