# ruff: noqa: F811 - `world`, the fixture imported from test_derivatives_api, is every test's
"""A derivative made while its original changes: the registering transaction decides on the
original as it is then, not as it was when the upload began or the redaction ran.

Each test lets another session delete or restrict the original (committed) between the
request's first look at it and the registration (`registration.register_upload` wrapped):
the window in which an upload streams or a redaction helper runs, outside any transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from casefile import request_scope
from casefile.logic.evidence import deletion, registration
from casefile.logic.tags import bulk
from casefile.model import CustodyAction, CustodyEntry, Evidence, EvidenceStatus, User
from casefile.model.search import SearchDocument
from tests.api.test_derivatives_api import BOX, translation, uploaded, world  # noqa: F401
from tests.vault.test_redaction import two_page_pdf

TITLE = "Statement of W-17 from Village X"


def _lead(session) -> User:
    return session.scalar(select(User).where(User.email == "lead@example.org"))


def _restrict(client, world, item_id: str, lead: User) -> None:
    with request_scope.database(client.application).sessions() as other:
        result = bulk.apply(
            other, other.get(User, lead.id), world.case.id,
            bulk.BulkInput(ids=[uuid.UUID(item_id)], action="set_sensitivity",
                           sensitivity="restricted"),
            keyring=request_scope.keyring())
        assert result.changed


def _derivatives(session, item_id: str) -> list[Evidence]:
    session.expire_all()
    return list(session.scalars(select(Evidence).where(
        Evidence.derived_from_id == uuid.UUID(item_id))))


def _restricted_then_lifted(client, world, content: bytes, name: str, mime: str) -> dict:
    """An investigator's restricted item, granted to the lead, then made standard: its
    investigator keeps a grant, so may still make things of it once it is restricted again."""
    item = uploaded(client, world, content, name, mime, headers=world.investigator,
                    sensitivity="restricted", title=TITLE)
    assert client.post(f"/api/v1/evidence/{item['id']}/grants", headers=world.investigator,
                       json={"email": "lead@example.org"}).status_code == 201
    assert client.post(f"/api/v1/cases/{world.case.id}/evidence/bulk", headers=world.lead,
                       json={"ids": [item["id"]], "action": "set_sensitivity",
                             "sensitivity": "standard"}).status_code == 200
    return item


def test_a_translation_of_an_original_deleted_meanwhile_is_refused(
    client, world, session, monkeypatch
):
    item = uploaded(client, world, b"Witness statement", "w17.txt", "text/plain",
                    headers=world.investigator)
    real, lead = registration.register_upload, _lead(session)
    blobs = session.scalar(select(func.count()).select_from(Evidence))

    def deleted_meanwhile(*args, **kwargs):
        with request_scope.database(client.application).sessions() as other:
            deletion.delete_with_derivatives(
                other, other.get(User, lead.id), uuid.UUID(item["id"]),
                deletion.DeletionInput(reason="the witness withdrew consent"),
                store=request_scope.blobs())
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "register_upload", deleted_meanwhile)
    response = translation(client, item["id"], world.investigator)
    assert response.status_code == 409, response.get_json()
    assert "deleted" in response.get_json()["error"]["message"]
    assert _derivatives(session, item["id"]) == []
    assert session.scalar(select(func.count()).select_from(Evidence)) == blobs
    original = session.get(Evidence, uuid.UUID(item["id"]))
    assert original.status == EvidenceStatus.DELETED


def test_a_translation_of_an_original_restricted_meanwhile_is_refused(
    client, world, session, monkeypatch
):
    item = _restricted_then_lifted(client, world, b"Names of victims", "w17.txt", "text/plain")
    real, lead = registration.register_upload, _lead(session)

    def restricted_meanwhile(*args, **kwargs):
        _restrict(client, world, item["id"], lead)
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "register_upload", restricted_meanwhile)
    response = translation(client, item["id"], world.investigator)
    assert response.status_code == 409, response.get_json()
    assert "sensitivity" in response.get_json()["error"]["message"]
    assert _derivatives(session, item["id"]) == []
    # Made again now, it is restricted as a translation of a restricted item must be.
    monkeypatch.setattr(registration, "register_upload", real)
    again = translation(client, item["id"], world.investigator)
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["sensitivity"] == "restricted"
    assert client.get(f"/api/v1/evidence/{again.get_json()['id']}",
                      headers=world.viewer).status_code == 404


def test_a_redaction_of_an_original_restricted_meanwhile_is_refused(
    client, world, session, monkeypatch
):
    item = _restricted_then_lifted(client, world, two_page_pdf(), "W17-Village-X.pdf",
                                   "application/pdf")
    real, lead = registration.register_upload, _lead(session)

    def restricted_meanwhile(*args, **kwargs):
        _restrict(client, world, item["id"], lead)
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "register_upload", restricted_meanwhile)
    response = client.post(f"/api/v1/evidence/{item['id']}/redactions",
                           headers=world.investigator,
                           json={"boxes": [BOX], "reason": "witness_identity"})
    assert response.status_code == 409, response.get_json()
    assert _derivatives(session, item["id"]) == []
    listed = client.get(f"/api/v1/cases/{world.case.id}/evidence", headers=world.viewer)
    assert "Village X" not in listed.get_data(as_text=True)


def test_restricting_an_item_deleted_meanwhile_leaves_its_tombstone_alone(
    client, world, session, monkeypatch
):
    """A bulk restriction finds the item, then a deletion commits before the restriction
    takes the custody lock: the tombstone is not resealed, reindexed or logged as changed."""
    item = uploaded(client, world, b"Witness statement names", "w17.txt", "text/plain",
                    title="Statement of W-17")
    real, lead = bulk._items, _lead(session)

    def deleted_meanwhile(*args, **kwargs):
        found = real(*args, **kwargs)
        with request_scope.database(client.application).sessions() as other:
            deletion.delete_with_derivatives(
                other, other.get(User, lead.id), uuid.UUID(item["id"]),
                deletion.DeletionInput(reason="the witness withdrew consent"),
                store=request_scope.blobs())
        return found

    monkeypatch.setattr(bulk, "_items", deleted_meanwhile)
    response = client.post(f"/api/v1/cases/{world.case.id}/evidence/bulk", headers=world.lead,
                           json={"ids": [item["id"]], "action": "set_sensitivity",
                                 "sensitivity": "restricted"})
    assert response.status_code == 200, response.get_json()
    session.expire_all()
    row = session.get(Evidence, uuid.UUID(item["id"]))
    assert (row.status, row.sensitivity.value) == (EvidenceStatus.DELETED, "standard")
    assert session.scalar(select(func.count()).select_from(SearchDocument)
                          .where(SearchDocument.doc_id == row.id)) == 0
    assert session.scalar(select(func.count()).select_from(CustodyEntry).where(
        CustodyEntry.item_id == row.id,
        CustodyEntry.action == CustodyAction.SENSITIVITY_CHANGED)) == 0

