# ruff: noqa: F811 - `world`, the fixture imported from test_filings_api, is every test's
"""What goes with an original (issue 13's leftovers): deleting an item deletes what was made
from it (translations, redactions, recursively) and purges the stored exports holding any of
them; restricting it restricts its derivatives; withdrawing a person's grant to it withdraws
their grants to its derivatives. Each through the API, with the custody entries checked."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from casefile import request_scope
from casefile.logic.evidence import scrub
from casefile.model import (
    CustodyAction,
    CustodyEntry,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Export,
    ExportStatus,
    User,
)
from casefile.model.search import SearchBody, SearchDocument
from casefile.vault.blobstore import LocalBlobStore
from tests.api.test_evidence_api import multipart
from tests.api.test_exports_api import export, filing  # noqa: F401 - the fixture
from tests.api.test_filings_api import add_item, world  # noqa: F401 - the fixture
from tests.vault.test_redaction import SECRET_BOX, two_page_pdf

BOX = {"page": 1, "x": SECRET_BOX.x, "y": SECRET_BOX.y, "width": SECRET_BOX.width,
       "height": SECRET_BOX.height}


def details(session, action, item_id) -> list[dict]:
    session.expire_all()
    found = session.scalars(
        select(CustodyEntry)
        .where(CustodyEntry.action == action, CustodyEntry.item_id == uuid.UUID(str(item_id)))
        .order_by(CustodyEntry.seq)
    )
    return [json.loads(entry.details) for entry in found]


def translated(world, item_id, headers, *, content=b"Translation into French",
               name=b"fr.txt", mime="text/plain"):
    body, mimetype = multipart({"language": "fr", "translator": "A. Translator"},
                               [("file", name, content, mime)])
    response = world.client.post(f"/api/v1/evidence/{item_id}/translations", data=body,
                                 content_type=mimetype, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def redacted(world, item_id, headers, **fields):
    response = world.client.post(f"/api/v1/evidence/{item_id}/redactions", headers=headers,
                                 json={"boxes": [BOX], "reason": "witness_identity", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def delete(world, item_id, headers=None):
    return world.client.delete(f"/api/v1/evidence/{item_id}", headers=headers or world.lead,
                               json={"reason": "withdrawn by the source"})


def status_of(session, item_id) -> EvidenceStatus:
    session.expire_all()
    return session.get_one(Evidence, uuid.UUID(str(item_id))).status


# --- stored exports ---------------------------------------------------------------------------


def test_deleting_an_item_purges_the_stored_exports_holding_it(world, filing, app):
    done = export(world, filing["id"]).get_json()
    row = world.session.get_one(Export, uuid.UUID(done["id"]))
    world.session.refresh(row)
    assert row.status == ExportStatus.DONE
    blob_id = row.blob_id
    store = request_scope.blobs(app)
    assert store.exists(blob_id)
    statement = filing["items"][0]

    assert delete(world, statement["id"]).status_code == 200

    world.session.expire_all()
    row = world.session.get_one(Export, uuid.UUID(done["id"]))
    assert row.status == ExportStatus.PURGED
    assert row.wrapped_key is None  # crypto-shredded with the item, in its transaction
    assert row.blob_id is None
    assert not store.exists(blob_id)  # and its file gone after the commit
    shown = world.client.get(f"/api/v1/exports/{done['id']}", headers=world.lawyer).get_json()
    assert shown["status"] == "purged"
    assert shown["download_url"] is None
    assert statement["ern"] in shown["error"] and "deleted" in shown["error"]
    listed = world.client.get(f"/api/v1/filings/{filing['id']}/exports", headers=world.lead)
    assert [each["status"] for each in listed.get_json()["items"]] == ["purged"]
    download = world.client.get(f"/api/v1/exports/{done['id']}/download", headers=world.lawyer)
    assert download.status_code == 409
    assert "destroyed" in download.get_json()["error"]["message"]
    [deleted] = details(world.session, CustodyAction.DELETED, statement["id"])
    [line] = deleted["exports"]
    assert line["id"] == done["id"]
    assert line["data_key"] == "destroyed"
    assert line["sha256"] == done["sha256"] or line["sha256"] == shown["sha256"]
    # The other exhibit's deletion later finds nothing more to purge.
    assert delete(world, filing["items"][1]["id"]).status_code == 200
    assert "exports" not in details(world.session, CustodyAction.DELETED,
                                    filing["items"][1]["id"])[0]


def test_an_export_blob_left_behind_is_an_orphan_that_scrub_reports(
    world, filing, app, monkeypatch
):
    done = export(world, filing["id"]).get_json()
    row = world.session.get_one(Export, uuid.UUID(done["id"]))
    world.session.refresh(row)
    blob_id = row.blob_id
    real = LocalBlobStore.delete

    def failing(self, name):
        if name == blob_id:
            raise OSError("the disk went away")
        return real(self, name)

    monkeypatch.setattr(LocalBlobStore, "delete", failing)
    assert delete(world, filing["items"][0]["id"]).status_code == 200  # committed all the same
    world.session.expire_all()
    assert world.session.get_one(Export, row.id).wrapped_key is None
    store = request_scope.blobs(app)
    assert store.exists(blob_id)
    monkeypatch.setattr(LocalBlobStore, "delete", real)
    keyring = request_scope.keyring(app)
    import datetime as dt  # noqa: PLC0415

    report = scrub.scrub(world.session, store=store, keyring=lambda: keyring,
                         grace=dt.timedelta(0))
    assert blob_id in report.orphans
    repaired = scrub.scrub(world.session, store=store, keyring=lambda: keyring, repair=True,
                           grace=dt.timedelta(0))
    assert blob_id in repaired.removed
    assert not store.exists(blob_id)


# --- derivatives deleted with their original -------------------------------------------------


def test_deleting_an_original_deletes_its_translation_and_a_redaction_of_that(world, app):
    original = add_item(world, world.icc, two_page_pdf(), filename="statement.pdf",
                        content_type="application/pdf")
    translation = translated(world, original["id"], world.investigator,
                             content=two_page_pdf(), name=b"fr.pdf", mime="application/pdf")
    redaction = redacted(world, translation["id"], world.lawyer)
    unrelated = add_item(world, world.icc, b"another statement\n")
    store = request_scope.blobs(app)
    blobs = {}
    for made in (original, translation, redaction):
        blobs[made["id"]] = world.session.get_one(Evidence, uuid.UUID(made["id"])).blob_id
        assert store.exists(blobs[made["id"]])

    response = delete(world, original["id"])
    assert response.status_code == 200, response.get_json()

    for made in (original, translation, redaction):
        assert status_of(world.session, made["id"]) == EvidenceStatus.DELETED
        row = world.session.get_one(Evidence, uuid.UUID(made["id"]))
        assert row.wrapped_key is None
        assert not store.exists(blobs[made["id"]])
    assert status_of(world.session, unrelated["id"]) == EvidenceStatus.ACTIVE
    [own] = details(world.session, CustodyAction.DELETED, original["id"])
    assert "with" not in own
    [first] = details(world.session, CustodyAction.DELETED, translation["id"])
    assert first["derived_from"] == {"id": original["id"], "ern": original["ern"]}
    assert first["with"] == {"id": original["id"], "ern": original["ern"]}
    assert first["reason"] == "withdrawn by the source" and first["data_key"] == "destroyed"
    [second] = details(world.session, CustodyAction.DELETED, redaction["id"])
    assert second["derived_from"] == {"id": translation["id"], "ern": translation["ern"]}
    assert second["with"] == {"id": original["id"], "ern": original["ern"]}
    for made in (translation, redaction):
        content = world.client.get(f"/api/v1/evidence/{made['id']}/content",
                                   headers=world.lead)
        assert content.status_code == 409


def test_a_derivative_the_lead_does_not_see_refuses_the_whole_deletion(world, app):
    original = add_item(world, world.icc, two_page_pdf(), filename="statement.pdf",
                        content_type="application/pdf")
    hidden = redacted(world, original["id"], world.investigator, sensitivity="restricted")
    visible = translated(world, original["id"], world.investigator)
    world.session.expire_all()
    before = world.session.scalar(select(CustodyEntry.seq).order_by(CustodyEntry.seq.desc()))

    response = delete(world, original["id"])
    assert response.status_code == 409
    message = response.get_json()["error"]["message"]
    assert hidden["ern"] in message and "nothing was deleted" in message
    for made in (original, hidden, visible):
        assert status_of(world.session, made["id"]) == EvidenceStatus.ACTIVE
    after = world.session.scalar(select(CustodyEntry.seq).order_by(CustodyEntry.seq.desc()))
    assert after == before

    # Once the lead holds a grant to it (on the record), the deletion goes through.
    assert world.client.post(f"/api/v1/evidence/{hidden['id']}/grants", headers=world.lead,
                             json={"email": "lead@example.org"}).status_code == 201
    assert delete(world, original["id"]).status_code == 200
    for made in (original, hidden, visible):
        assert status_of(world.session, made["id"]) == EvidenceStatus.DELETED


def test_an_export_holding_only_a_derivative_is_purged_with_the_original(world, app):
    original = add_item(world, world.icc, b"Statement in Burmese\n", language="my")
    translation = translated(world, original["id"], world.lead)
    body = world.client.post(f"/api/v1/cases/{world.icc.id}/filings", headers=world.lawyer,
                             json={"title": "Request", "type": "request_or_submission",
                                   "classification": "public"}).get_json()
    assert world.client.post(f"/api/v1/filings/{body['id']}/exhibits", headers=world.lawyer,
                             json={"evidence_id": translation["id"]}).status_code == 201
    done = export(world, body["id"]).get_json()
    assert world.client.get(f"/api/v1/exports/{done['id']}",
                            headers=world.lawyer).get_json()["status"] == "done"

    assert delete(world, original["id"]).status_code == 200
    shown = world.client.get(f"/api/v1/exports/{done['id']}", headers=world.lawyer).get_json()
    assert shown["status"] == "purged"
    assert translation["ern"] in shown["error"]
    [entry] = details(world.session, CustodyAction.DELETED, translation["id"])
    assert [line["id"] for line in entry["exports"]] == [done["id"]]


# --- restriction ------------------------------------------------------------------------------


def test_restricting_an_original_restricts_its_translation_and_redaction(world, app):
    original = add_item(world, world.icc, two_page_pdf(), filename="statement.pdf",
                        content_type="application/pdf", title="Statement of W-17")
    translation = translated(world, original["id"], world.investigator)
    redaction = redacted(world, original["id"], world.lawyer)
    other = add_item(world, world.icc, b"unrelated\n")
    for made in (translation, redaction):
        assert made["sensitivity"] == "standard"

    response = world.client.post(
        f"/api/v1/cases/{world.icc.id}/evidence/bulk", headers=world.investigator,
        json={"action": "set_sensitivity", "sensitivity": "restricted",
              "ids": [original["id"]]},
    )
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["changed"] == [original["id"]]
    assert sorted(result["derived"]) == sorted([translation["id"], redaction["id"]])

    world.session.expire_all()
    for made in (original, translation, redaction):
        row = world.session.get_one(Evidence, uuid.UUID(made["id"]))
        assert row.sensitivity.value == "restricted"
        assert row.collector == {}  # sealed, as restricting the item itself seals it
        assert row.title != "Statement of W-17"
        # The viewer, without a grant, no longer sees it; the one restricting does.
        assert world.client.get(f"/api/v1/evidence/{made['id']}",
                                headers=world.viewer).status_code == 404
        assert world.client.get(f"/api/v1/evidence/{made['id']}",
                                headers=world.investigator).status_code == 200
    assert world.session.get_one(Evidence, uuid.UUID(other["id"])).sensitivity.value == (
        "standard")
    [own] = details(world.session, CustodyAction.SENSITIVITY_CHANGED, original["id"])
    for made in (translation, redaction):
        [entry] = details(world.session, CustodyAction.SENSITIVITY_CHANGED, made["id"])
        assert entry["from"] == "standard" and entry["to"] == "restricted"
        assert entry["metadata"] == "sealed"
        assert entry["with"] == {"id": original["id"], "ern": original["ern"]}
        assert entry["bulk"] == own["bulk"] == result["bulk"]
    # Reindexed as restricted: no readable terms left in the search index.
    for made in (translation, redaction):
        document = world.session.scalar(
            select(SearchDocument).where(SearchDocument.doc_id == uuid.UUID(made["id"])))
        assert document.restricted is True
        bodies = world.session.scalars(
            select(SearchBody.body).where(SearchBody.document_id == document.id)).all()
        assert not any("Translator" in body or "W-17" in body for body in bodies)


def test_a_lead_lowers_a_redaction_again_explicitly(world, app):
    original = add_item(world, world.icc, two_page_pdf(), filename="statement.pdf",
                        content_type="application/pdf")
    redaction = redacted(world, original["id"], world.lead)
    bulk = f"/api/v1/cases/{world.icc.id}/evidence/bulk"
    assert world.client.post(bulk, headers=world.lead, json={
        "action": "set_sensitivity", "sensitivity": "restricted", "ids": [original["id"]],
    }).get_json()["derived"] == [redaction["id"]]
    lowered = world.client.post(bulk, headers=world.lead, json={
        "action": "set_sensitivity", "sensitivity": "standard", "ids": [redaction["id"]],
    })
    assert lowered.status_code == 200, lowered.get_json()
    assert lowered.get_json()["derived"] == []
    assert status_of(world.session, original["id"]) == EvidenceStatus.ACTIVE
    world.session.expire_all()
    assert world.session.get_one(Evidence, uuid.UUID(original["id"])).sensitivity.value == (
        "restricted")
    assert world.session.get_one(Evidence, uuid.UUID(redaction["id"])).sensitivity.value == (
        "standard")


def test_naming_the_original_and_its_translation_in_one_request_changes_each_once(world, app):
    original = add_item(world, world.icc, b"statement\n")
    translation = translated(world, original["id"], world.lead)
    response = world.client.post(
        f"/api/v1/cases/{world.icc.id}/evidence/bulk", headers=world.lead,
        json={"action": "set_sensitivity", "sensitivity": "restricted",
              "ids": [original["id"], translation["id"]]},
    )
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert sorted(result["changed"]) == sorted([original["id"], translation["id"]])
    assert result["unchanged"] == [] and result["derived"] == []
    assert len(details(world.session, CustodyAction.SENSITIVITY_CHANGED,
                       translation["id"])) == 1


# --- grants -----------------------------------------------------------------------------------


def test_withdrawing_a_grant_withdraws_it_from_the_derivatives(world, app):
    secret = add_item(world, world.icc, two_page_pdf(), headers=world.investigator,
                      filename="w17.pdf", content_type="application/pdf",
                      sensitivity="restricted")
    assert world.client.post(f"/api/v1/evidence/{secret['id']}/grants",
                             headers=world.investigator,
                             json={"email": "lead@example.org"}).status_code == 201
    assert world.client.post(f"/api/v1/evidence/{secret['id']}/grants", headers=world.lead,
                             json={"email": "viewer@example.org"}).status_code == 201
    translation = translated(world, secret["id"], world.investigator)
    assert translation["sensitivity"] == "restricted"
    redaction = redacted(world, secret["id"], world.lead,
                         sensitivity="restricted")
    # The viewer holds a grant to the original and (copied) to the translation; the lead
    # gave themselves none to the redaction they made: they have one as its uploader.
    viewer_id = world.session.scalar(select(User.id).where(User.email == "viewer@example.org"))
    assert world.session.get(EvidenceGrant, (uuid.UUID(translation["id"]), viewer_id))
    assert world.client.get(f"/api/v1/evidence/{translation['id']}",
                            headers=world.viewer).status_code == 200
    assert world.client.post(f"/api/v1/evidence/{redaction['id']}/grants", headers=world.lead,
                             json={"email": "viewer@example.org"}).status_code == 201

    withdrawn = world.client.delete(f"/api/v1/evidence/{secret['id']}/grants/{viewer_id}",
                                    headers=world.lead)
    assert withdrawn.status_code == 204

    for made in (secret, translation, redaction):
        assert world.client.get(f"/api/v1/evidence/{made['id']}",
                                headers=world.viewer).status_code == 404
    world.session.expire_all()
    assert not world.session.scalars(
        select(EvidenceGrant).where(EvidenceGrant.user_id == viewer_id)).all()
    for made in (translation, redaction):
        [entry] = details(world.session, CustodyAction.ACCESS_REVOKED, made["id"])
        assert entry["person"] == str(viewer_id)
        assert entry["with"] == {"id": secret["id"], "ern": secret["ern"]}
    # Others keep theirs: the investigator still sees the translation.
    assert world.client.get(f"/api/v1/evidence/{translation['id']}",
                            headers=world.investigator).status_code == 200
    # Granting stays per item: a new grant to the original is not copied to the translation.
    assert world.client.post(f"/api/v1/evidence/{secret['id']}/grants", headers=world.lead,
                             json={"email": "viewer@example.org"}).status_code == 201
    assert world.client.get(f"/api/v1/evidence/{translation['id']}",
                            headers=world.viewer).status_code == 404
