"""Deleting evidence (crypto-shredding) and legal holds."""

from __future__ import annotations

import io
import uuid

import pytest

from casefile.model import CustodyAction, CustodyEntry, Evidence, EvidenceStatus, Role
from tests.factories import add_member, bearer, make_case, make_user


@pytest.fixture
def settings(settings_on_each_store):
    """Crypto-shredding on the local store and on S3 (where every version must go)."""
    return settings_on_each_store


@pytest.fixture
def world(session, client, settings):
    lead = make_user(session, "lead@example.org")
    lawyer = make_user(session, "lawyer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, lawyer, Role.LAWYER)
    headers = bearer(session, lead)
    response = client.post(f"/api/v1/cases/{case.id}/evidence", headers=headers,
                           data={"file": (io.BytesIO(b"witness statement\n"), "s.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 201
    return {"case": case, "lead": headers, "lawyer": bearer(session, lawyer),
            "item": response.get_json()["id"], "storage": settings.storage_url}


def blob_files(stored):
    return stored.contents()


def test_lead_deletes_with_a_reason_and_the_key_is_destroyed(client, world, session, stored):
    assert len(blob_files(stored)) == 1
    response = client.delete(f"/api/v1/evidence/{world['item']}", headers=world["lead"],
                             json={"reason": "duplicate of a better copy, on counsel's advice"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "deleted"
    session.expire_all()
    item = session.get(Evidence, uuid.UUID(response.get_json()["id"]))
    assert item.status == EvidenceStatus.DELETED
    assert item.wrapped_key is None
    assert blob_files(stored) == []
    assert not stored.any_copy_of(world["item"])  # on S3, no old version either
    entry = session.query(CustodyEntry).filter_by(action=CustodyAction.DELETED).one()
    assert entry.item_id == item.id
    content = client.get(f"/api/v1/evidence/{world['item']}/content", headers=world["lead"])
    assert content.status_code == 409  # the tombstone is there, its content is not
    again = client.delete(f"/api/v1/evidence/{world['item']}", headers=world["lead"],
                          json={"reason": "again please"})
    assert again.status_code == 409


def test_only_leads_delete_and_a_reason_is_required(client, world, stored):
    lawyer = client.delete(f"/api/v1/evidence/{world['item']}", headers=world["lawyer"],
                           json={"reason": "not mine to delete"})
    assert lawyer.status_code == 403
    no_reason = client.delete(f"/api/v1/evidence/{world['item']}", headers=world["lead"],
                              json={})
    assert no_reason.status_code == 422
    assert len(blob_files(stored)) == 1


def test_legal_hold_refuses_deletion(client, world, session, stored):
    case_id = world["case"].id
    hold = client.put(f"/api/v1/cases/{case_id}/legal-hold", headers=world["lead"],
                      json={"on": True, "reason": "preservation order of the Pre-Trial Chamber"})
    assert hold.status_code == 200
    assert hold.get_json()["legal_hold"] is True
    refused = client.delete(f"/api/v1/evidence/{world['item']}", headers=world["lead"],
                            json={"reason": "cleanup"})
    assert refused.status_code == 409
    assert "legal hold" in refused.get_json()["error"]["message"]
    assert len(blob_files(stored)) == 1
    lawyer = client.put(f"/api/v1/cases/{case_id}/legal-hold", headers=world["lawyer"],
                        json={"on": False, "reason": "lifting it"})
    assert lawyer.status_code == 403
    lifted = client.put(f"/api/v1/cases/{case_id}/legal-hold", headers=world["lead"],
                        json={"on": False, "reason": "order lifted"})
    assert lifted.get_json()["legal_hold"] is False
    actions = [e.action for e in session.query(CustodyEntry).filter_by(case_id=case_id)]
    assert actions.count(CustodyAction.LEGAL_HOLD_CHANGED) == 2
