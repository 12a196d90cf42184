# ruff: noqa: F811 - `world`, the fixture imported from test_filings_api, is every test's
"""Filing exports as background jobs through the API (jobs run at once under the test suite,
huey's immediate mode): 202 and polling to done, the downloaded zip a valid BagIt bag that
Casefile's verifier accepts, an `exported` entry per exhibit naming the export, a download
entry per exhibit, restricted exhibits (404 everywhere), an exhibit failing its integrity
check (failed, naming it, nothing stored, no entries), an empty filing refused, and the
stored result encrypted."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import bagit
import pytest
from sqlalchemy import select

from casefile import request_scope
from casefile.model import CustodyAction, CustodyEntry, Evidence, Export, ExportStatus
from casefile.verifier import bundle_verifier
from tests.api.test_evidence_api import png_bytes
from tests.api.test_filings_api import (
    add_exhibit,
    add_item,
    new_filing,
    world,  # noqa: F401 - the fixture
)

WITNESS_TEXT = b"Statement of witness W-17: the soldiers came at dawn. " * 40


def declared_download_types(client) -> set[str]:
    """The media types the OpenAPI document declares for an export's download."""
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/exports/{export_id}/download"]["get"]
    return set(operation["responses"]["200"]["content"])


def entries(session, action):
    found = session.scalars(select(CustodyEntry).where(CustodyEntry.action == action)
                            .order_by(CustodyEntry.seq))
    return [{"item": str(entry.item_id), **json.loads(entry.details)} for entry in found]


@pytest.fixture
def filing(world):
    statement = add_item(world, world.icc, WITNESS_TEXT, filename="statement.txt",
                         content_type="text/plain", title="Statement", language="en")
    photo = add_item(world, world.icc, png_bytes(), filename="village.png",
                     content_type="image/png", title="Village", language="en")
    body = new_filing(world, world.icc, court_document_number="ICC-01/19-42").get_json()
    for item, description in ((statement, "W-17's account"), (photo, "The village after")):
        assert add_exhibit(world, body["id"], item["id"],
                           description=description).status_code == 201
    return {"id": body["id"], "items": [statement, photo]}


def export(world, filing_id, headers=None):
    return world.client.post(f"/api/v1/filings/{filing_id}/exports",
                             headers=headers or world.lawyer)


def test_an_export_runs_to_done_and_downloads_a_valid_signed_bag(world, filing, tmp_path):
    response = export(world, filing["id"])
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued" and body["progress"]["total"] == 2
    assert response.headers["Location"].endswith(f"/api/v1/exports/{body['id']}")
    polled = world.client.get(f"/api/v1/exports/{body['id']}", headers=world.lawyer).get_json()
    assert polled["status"] == "done", polled
    assert polled["progress"] == {"done": 2, "total": 2, "stage": "done"}
    assert polled["download_url"].endswith(f"/api/v1/exports/{body['id']}/download")
    listed = world.client.get(f"/api/v1/filings/{filing['id']}/exports", headers=world.lead)
    assert [each["id"] for each in listed.get_json()["items"]] == [body["id"]]

    download = world.client.get(polled["download_url"], headers=world.lawyer)
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    assert download.mimetype in declared_download_types(world.client)
    data = download.get_data()
    assert len(data) == polled["size"]
    import hashlib  # noqa: PLC0415

    assert hashlib.sha256(data).hexdigest() == polled["sha256"]
    zipped = tmp_path / "bundle.zip"
    zipped.write_bytes(data)
    public_key = world.client.get("/api/v1/custody/public-key", headers=world.lawyer)
    key = public_key.get_data(as_text=True).strip()
    report = bundle_verifier.verify(zipped, key)
    assert report.valid, report.problems
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(tmp_path / "out")
        names = archive.namelist()
    [top] = {name.split("/")[0] for name in names}
    bag = bagit.Bag(str(tmp_path / "out" / top))
    bag.validate()
    assert "ICC-01/19-42" in bag.info["External-Identifier"]
    assert filing["id"] in bag.info["External-Identifier"]
    index = (tmp_path / "out" / top / "data" / "index.csv").read_text()
    assert "Anx 1" in index and "Anx 2" in index and "W-17's account" in index
    assert polled["tagmanifest_sha256"] == hashlib.sha256(
        (tmp_path / "out" / top / "tagmanifest-sha256.txt").read_bytes()).hexdigest()

    exported = entries(world.session, CustodyAction.EXPORTED)
    assert [entry["item"] for entry in exported] == [item["id"] for item in filing["items"]]
    for entry, number in zip(exported, ("Anx 1", "Anx 2"), strict=True):
        assert entry["export"] == {"id": body["id"]}
        assert entry["filing"]["id"] == filing["id"]
        assert entry["bundle"]["exhibit"] == number
        assert entry["bundle"]["tagmanifest_sha256"] == polled["tagmanifest_sha256"]
    downloaded = [e for e in entries(world.session, CustodyAction.DOWNLOADED) if "export" in e]
    assert [entry["item"] for entry in downloaded] == [item["id"] for item in filing["items"]]
    assert all(entry["export"]["id"] == body["id"] for entry in downloaded)


def test_the_stored_result_is_encrypted(world, filing, app):
    body = export(world, filing["id"]).get_json()
    row = world.session.get(Export, uuid.UUID(body["id"]))
    world.session.refresh(row)
    assert row.status == ExportStatus.DONE and row.blob_id
    store = request_scope.blobs(app)
    with store.open(row.blob_id) as handle:
        stored = handle.read()
    assert len(stored) > row.size  # ciphertext: segments and tags
    assert WITNESS_TEXT[:40] not in stored and b"PK\x03\x04" not in stored[:8]
    assert b"bagit.txt" not in stored


def test_the_filing_warnings_are_stored_and_returned(world, filing):
    # Burmese text with no translation: the ICC case warns before the export.
    burmese = add_item(world, world.icc, "မြန်မာ".encode() * 10, filename="note.txt",
                       content_type="text/plain", language="my")
    assert add_exhibit(world, filing["id"], burmese["id"]).status_code == 201
    body = export(world, filing["id"]).get_json()
    assert [w["code"] for w in body["warnings"]] == ["translation_missing"]
    again = world.client.get(f"/api/v1/exports/{body['id']}", headers=world.lawyer).get_json()
    assert again["warnings"] == body["warnings"] and again["status"] == "done"


def test_an_empty_filing_is_refused(world):
    body = new_filing(world, world.icc).get_json()
    response = export(world, body["id"])
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"
    assert "exhibits" in response.get_json()["error"]["fields"]
    assert world.session.scalars(select(Export)).all() == []


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("investigator", 403),
                                             ("outsider", 404), ("lead", 202)])
def test_who_may_export(world, filing, who, status):
    assert export(world, filing["id"], getattr(world, who)).status_code == status


def test_a_restricted_exhibit_hides_the_filing_and_its_exports(world, filing):
    secret = add_item(world, world.icc, b"identity of W-17", headers=world.investigator,
                      sensitivity="restricted", title="W-17")
    grant = world.client.post(f"/api/v1/evidence/{secret['id']}/grants",
                              json={"email": "lawyer@example.org"}, headers=world.lead)
    assert grant.status_code == 201
    assert add_exhibit(world, filing["id"], secret["id"]).status_code == 201
    done = export(world, filing["id"]).get_json()
    assert world.client.get(f"/api/v1/exports/{done['id']}",
                            headers=world.lawyer).get_json()["status"] == "done"
    # The lead has no grant: the filing, its exports, their status and download are missing.
    for method, url in (
        ("POST", f"/api/v1/filings/{filing['id']}/exports"),
        ("GET", f"/api/v1/filings/{filing['id']}/exports"),
        ("GET", f"/api/v1/exports/{done['id']}"),
        ("GET", f"/api/v1/exports/{done['id']}/download"),
    ):
        response = world.client.open(url, method=method, headers=world.lead)
        assert response.status_code == 404, (method, url)
        assert "W-17" not in response.get_data(as_text=True)
    assert len(world.session.scalars(select(Export)).all()) == 1


def test_an_exhibit_failing_its_integrity_check_fails_the_export_naming_it(world, filing, app):
    store = request_scope.blobs(app)
    item = world.session.get(Evidence, uuid.UUID(filing["items"][1]["id"]))
    path = store.root / item.blob_id[:2] / item.blob_id[2:4] / item.blob_id
    damaged = bytearray(path.read_bytes())
    damaged[-40] ^= 0xFF  # a bit of the ciphertext's last segment
    path.write_bytes(bytes(damaged))
    blobs_before = set(store.blob_ids())
    body = export(world, filing["id"]).get_json()
    polled = world.client.get(f"/api/v1/exports/{body['id']}", headers=world.lawyer).get_json()
    assert polled["status"] == "failed"
    assert "Anx 2" in polled["error"] and filing["items"][1]["ern"] in polled["error"]
    assert "integrity" in polled["error"]
    assert polled["download_url"] is None and polled["size"] is None
    row = world.session.get(Export, uuid.UUID(body["id"]))
    world.session.refresh(row)
    assert row.blob_id is None
    assert set(store.blob_ids()) == blobs_before and list(store.leftovers()) == []
    assert entries(world.session, CustodyAction.EXPORTED) == []
    assert [e["item"] for e in entries(world.session, CustodyAction.INTEGRITY_FAILURE)] == [
        filing["items"][1]["id"]]
    download = world.client.get(f"/api/v1/exports/{body['id']}/download", headers=world.lawyer)
    assert download.status_code == 409


def test_a_deleted_blob_fails_the_export_naming_the_exhibit(world, filing, app):
    store = request_scope.blobs(app)
    item = world.session.get(Evidence, uuid.UUID(filing["items"][0]["id"]))
    store.delete(item.blob_id)
    body = export(world, filing["id"]).get_json()
    polled = world.client.get(f"/api/v1/exports/{body['id']}", headers=world.lawyer).get_json()
    assert polled["status"] == "failed" and "Anx 1" in polled["error"]
    assert entries(world.session, CustodyAction.EXPORTED) == []


def test_unknown_exports_are_not_found(world):
    missing = uuid.uuid4()
    for url in (f"/api/v1/exports/{missing}", f"/api/v1/exports/{missing}/download",
                f"/api/v1/filings/{missing}/exports"):
        assert world.client.get(url, headers=world.lawyer).status_code == 404


def test_the_zip_member_names_are_under_one_folder(world, filing):
    body = export(world, filing["id"]).get_json()
    data = world.client.get(f"/api/v1/exports/{body['id']}/download",
                            headers=world.lawyer).get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        assert archive.testzip() is None
    assert tops == {f"filing-{filing['id'][:8]}-v1"}


def test_the_openapi_document_has_the_export_routes(world):
    document = world.client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert "post" in paths["/api/v1/filings/{filing_id}/exports"]
    assert "202" in paths["/api/v1/filings/{filing_id}/exports"]["post"]["responses"]
    assert "get" in paths["/api/v1/filings/{filing_id}/exports"]
    assert "get" in paths["/api/v1/exports/{export_id}"]
    download = paths["/api/v1/exports/{export_id}/download"]["get"]
    assert "application/zip" in download["responses"]["200"]["content"]


def _secret_exhibit_exported(world, filing):
    """A restricted item the lawyer may see (the lead may not), exported, then removed from
    the filing: the filing is visible to the lead again, the export still holds the item."""
    secret = add_item(world, world.icc, b"identity of W-17", headers=world.investigator,
                      sensitivity="restricted", title="W-17")
    assert world.client.post(f"/api/v1/evidence/{secret['id']}/grants",
                             json={"email": "lawyer@example.org"},
                             headers=world.lead).status_code == 201
    added = add_exhibit(world, filing["id"], secret["id"])
    assert added.status_code == 201
    done = export(world, filing["id"]).get_json()
    held = world.client.get(f"/api/v1/filings/{filing['id']}", headers=world.lawyer).get_json()
    exhibit_id = next(each["id"] for each in held["exhibits"]
                      if each["evidence_id"] == secret["id"])
    removed = world.client.delete(f"/api/v1/filings/{filing['id']}/exhibits/{exhibit_id}",
                                  headers=world.lawyer)
    assert removed.status_code == 200, removed.get_json()
    return secret, done


def test_an_export_holding_an_item_removed_from_the_filing_stays_hidden(world, filing):
    secret, done = _secret_exhibit_exported(world, filing)
    listed = world.client.get(f"/api/v1/filings/{filing['id']}/exports", headers=world.lead)
    assert listed.status_code == 200  # the filing itself is the lead's to see again
    assert done["id"] not in listed.get_data(as_text=True)
    for url in (f"/api/v1/exports/{done['id']}", f"/api/v1/exports/{done['id']}/download"):
        response = world.client.get(url, headers=world.lead)
        assert response.status_code == 404, url
        assert "W-17" not in response.get_data(as_text=True)
    assert not [e for e in entries(world.session, CustodyAction.DOWNLOADED)
                if e["item"] == secret["id"]]
    # The lawyer, who holds the grant, still has it.
    assert world.client.get(f"/api/v1/exports/{done['id']}/download",
                            headers=world.lawyer).status_code == 200


def test_an_export_holding_a_deleted_item_is_no_longer_given_out(world, filing):
    secret, done = _secret_exhibit_exported(world, filing)
    assert world.client.post(f"/api/v1/evidence/{secret['id']}/grants",
                             json={"email": "lead@example.org"},
                             headers=world.investigator).status_code == 201
    deleted = world.client.delete(f"/api/v1/evidence/{secret['id']}",
                                  json={"reason": "shredded on the source's request"},
                                  headers=world.lead)
    assert deleted.status_code in (200, 204), deleted.get_json()
    response = world.client.get(f"/api/v1/exports/{done['id']}/download", headers=world.lawyer)
    assert response.status_code == 409
    assert "deleted" in response.get_json()["error"]["message"]
    assert not [e for e in entries(world.session, CustodyAction.DOWNLOADED)
                if e["item"] == secret["id"]]
def test_an_export_encrypted_with_age(world, filing, tmp_path):
    import pyrage  # noqa: PLC0415
    from pyrage import x25519  # noqa: PLC0415

    registry, counsel = x25519.Identity.generate(), x25519.Identity.generate()
    keys = [str(registry.to_public()), str(counsel.to_public())]
    response = world.client.post(f"/api/v1/filings/{filing['id']}/exports",
                                 json={"age_recipients": keys}, headers=world.lawyer)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["age_recipients"] == keys
    polled = world.client.get(response.headers["Location"], headers=world.lawyer).get_json()
    assert polled["status"] == "done", polled
    download = world.client.get(polled["download_url"], headers=world.lawyer)
    assert download.status_code == 200 and download.mimetype == "application/octet-stream"
    assert download.mimetype in declared_download_types(world.client)  # what the spec says
    assert download.headers["Content-Disposition"].endswith('.zip.age"')
    encrypted = download.get_data()
    import hashlib  # noqa: PLC0415

    # What is recorded is what is downloaded: the age file.
    assert len(encrypted) == polled["size"]
    assert hashlib.sha256(encrypted).hexdigest() == polled["sha256"]
    assert b"bagit.txt" not in encrypted
    zipped = tmp_path / "bundle.zip"
    zipped.write_bytes(pyrage.decrypt(encrypted, [registry]))
    key = world.client.get("/api/v1/custody/public-key",
                           headers=world.lawyer).get_data(as_text=True).strip()
    report = bundle_verifier.verify(zipped, key)
    assert report.valid, report.problems
    exported = entries(world.session, CustodyAction.EXPORTED)
    assert len(exported) == 2
    assert all(entry["bundle"]["age_recipients"] == keys for entry in exported)


@pytest.mark.parametrize("body", [{"age_recipients": ["age1nope"]},
                                  {"age_recipients": "age1..."}, {"age": []}])
def test_a_bad_age_body_is_422_and_nothing_is_queued(world, filing, body):
    response = world.client.post(f"/api/v1/filings/{filing['id']}/exports", json=body,
                                 headers=world.lawyer)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"
    assert world.session.scalars(select(Export)).all() == []


def test_an_empty_body_is_a_plain_zip(world, filing):
    response = world.client.post(f"/api/v1/filings/{filing['id']}/exports", json={},
                                 headers=world.lawyer)
    assert response.status_code == 202
    assert response.get_json()["age_recipients"] == []
    polled = world.client.get(response.headers["Location"], headers=world.lawyer).get_json()
    download = world.client.get(polled["download_url"], headers=world.lawyer)
    assert download.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(download.get_data())).testzip() is None


def test_a_stored_export_downloads_after_a_kek_rotation(world, filing, session, settings):
    """Rotating the KEK retires the old key: the stored bundles' data keys are rewrapped
    with the items', or every finished export would become noise."""
    from casefile.logic import keys  # noqa: PLC0415
    from casefile.model import Export  # noqa: PLC0415
    from casefile.vault import envelope  # noqa: PLC0415

    done = export(world, filing["id"]).get_json()
    before = world.client.get(f"/api/v1/exports/{done['id']}/download", headers=world.lawyer)
    assert before.status_code == 200
    keys.rotate(session, settings.kek_path)
    session.expire_all()
    keyring = envelope.Keyring.load(settings.kek_path)
    assert envelope.key_ids(keyring) == [keyring.primary_key_id]
    row = session.get(Export, uuid.UUID(done["id"]))
    assert envelope.wrapped_by(row.wrapped_key) == keyring.primary_key_id
    after = world.client.get(f"/api/v1/exports/{done['id']}/download", headers=world.lawyer)
    assert after.status_code == 200
    assert after.get_data() == before.get_data()
