"""Restricted items' descriptive metadata is stored only sealed under the item's data key:
nothing identifying in any table (the custody log included), all of it for a grantee (API and
web), the collector filter through the blind index, readable after a KEK rotation, gone after
crypto-shredding."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import inspect, select, text

from casefile import request_scope
from casefile.logic import keys
from casefile.logic.evidence import metadata, scrub
from casefile.model import CustodyAction, CustodyEntry, Evidence, IndexKey, IndexToken, Role
from casefile.vault import envelope, sealing
from casefile.vault.envelope import KeyringError
from tests.api.test_evidence_api import jpeg_with_exif, upload
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, sign_in

WITNESS = {
    "title": "Statement of Ma Hla Hla, Tula Toli survivor",
    "description": "Hla Hla describes the riverbank on 30 August; lives in Kutupalong C-4",
    "collected_by": "Daw Khin Myint",
    "location": "Kutupalong block C-4",
    "source": "Field interview Zaw Lin",
    "consent_notes": "Consent recorded by Naing Oo",
    "capture_tool": "Galaxy interview kit",
}
FILE_NAME = "hla-hla-tula-toli-face.jpg"
BURMESE_COLLECTOR = "ဒေါ်ခင်မြင့် ကွတူပလောင်"  # "Daw Khin Myint, Kutupalong", two words


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    return SimpleNamespace(
        case=case,
        lead=bearer(session, lead),
        investigator=bearer(session, investigator),
        viewer=bearer(session, viewer),
    )


def upload_witness(client, world, **overrides) -> dict:
    fields = {**WITNESS, "sensitivity": "restricted", **overrides}
    response = upload(client, world.case.id, world.investigator, jpeg_with_exif(),
                      filename=FILE_NAME, content_type="image/jpeg", **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def needles() -> list[str]:
    """Every identifying string of the witness upload, including the photo's EXIF."""
    words = [*WITNESS.values(), FILE_NAME, "Hla Hla", "Khin Myint", "Kutupalong",
             "20.940000", "92.570000", "SM-A505F", "2017:08:30"]
    return words


def database_dump(session) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every value of every column of every table."""
    found = []
    for table in inspect(session.connection()).get_table_names():
        rows = session.execute(text(f'SELECT * FROM "{table}"'))
        columns = list(rows.keys())
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    shown = bytes(value).decode("utf-8", "replace")
                elif isinstance(value, dict | list):
                    shown = json.dumps(value, ensure_ascii=False)
                else:
                    shown = str(value)
                found.append((table, column, shown))
    return found


def leaks(session, words: list[str]) -> list[tuple[str, str, str]]:
    hits = []
    forms = {word.casefold() for word in words} | {
        json.dumps(word)[1:-1].casefold() for word in words  # JSON's \u escapes of non-ASCII
    }
    for table, column, value in database_dump(session):
        folded = value.casefold()
        hits.extend((table, column, word) for word in forms if word in folded)
    return hits


def test_no_identifying_metadata_of_a_restricted_item_in_any_table(client, world, session):
    item = upload_witness(client, world, location=f"Kutupalong block C-4, {BURMESE_COLLECTOR}")
    session.expire_all()
    assert leaks(session, [*needles(), BURMESE_COLLECTOR]) == []

    row = session.get(Evidence, uuid.UUID(item["id"]))
    assert row.title == metadata.PLACEHOLDER_TITLE
    assert (row.description, row.original_filename, row.collector, row.extracted) == (
        None, None, {}, {})
    assert row.sealed_metadata  # what is plain stays plain: needed to verify and deduplicate
    assert (row.ern, row.sha256, row.mime) == (item["ern"], item["sha256"], "image/jpeg")

    intake = session.scalars(select(CustodyEntry).where(
        CustodyEntry.item_id == row.id, CustodyEntry.action == CustodyAction.INTAKE)).one()
    details = json.loads(intake.details)
    assert "filename" not in details
    assert details["metadata"] == "sealed"
    assert details["sha256"] == item["sha256"] and details["ern"] == item["ern"]
    assert details["size"] == item["size"] and details["mime"] == "image/jpeg"
    keyring = request_scope.keyring(client.application)
    assert details["filename_commitment"] == metadata.filename_commitment(keyring, row, FILE_NAME)
    assert details["filename_commitment"] != metadata.filename_commitment(keyring, row, "x.jpg")


def test_the_scan_finds_the_same_metadata_of_a_standard_item(client, world, session):
    """The leak scan can fail: a standard item's metadata is (still) stored as it came."""
    upload_witness(client, world, sensitivity="standard")
    session.expire_all()
    found = {word for _, _, word in leaks(session, needles())}
    assert {WITNESS["title"].casefold(), FILE_NAME, "20.940000", "sm-a505f"} <= found


def test_a_grantee_sees_every_field_through_the_api(client, world):
    item = upload_witness(client, world)
    for body in (item, client.get(f"/api/v1/evidence/{item['id']}",
                                  headers=world.investigator).get_json()):
        assert body["metadata"] == "sealed"
        assert body["title"] == WITNESS["title"]
        assert body["description"] == WITNESS["description"]
        assert body["original_filename"] == FILE_NAME
        assert body["collector"] == {key: WITNESS[key] for key in WITNESS
                                     if key not in ("title", "description")}
        assert body["extracted"]["exif"]["gps"] == {"lat": "20.940000", "lon": "92.570000"}
        assert body["extracted"]["exif"]["model"] == "SM-A505F"
    listing = client.get(f"/api/v1/cases/{world.case.id}/evidence", headers=world.investigator)
    [listed] = listing.get_json()["items"]
    assert (listed["title"], listed["original_filename"]) == (WITNESS["title"], FILE_NAME)
    hidden = client.get(f"/api/v1/evidence/{item['id']}", headers=world.viewer)
    assert hidden.status_code == 404
    assert WITNESS["title"] not in hidden.get_data(as_text=True)


def test_a_lead_granted_later_sees_it_too(client, world):
    item = upload_witness(client, world)
    response = client.post(f"/api/v1/evidence/{item['id']}/grants", headers=world.lead,
                           json={"email": "lead@example.org"})
    assert response.status_code == 201
    body = client.get(f"/api/v1/evidence/{item['id']}", headers=world.lead).get_json()
    assert (body["title"], body["collector"]["collected_by"]) == (
        WITNESS["title"], WITNESS["collected_by"])


def test_a_grantee_sees_every_field_on_the_web(client, world):
    item = upload_witness(client, world)
    sign_in(client, "investigator@example.org")
    page = client.get(f"/evidence/{item['id']}").get_data(as_text=True)
    for value in (WITNESS["title"], WITNESS["description"], FILE_NAME, WITNESS["collected_by"],
                  WITNESS["location"], WITNESS["consent_notes"], "20.940000", "SM-A505F"):
        assert value in page, value
    listing = client.get(f"/cases/{world.case.id}/evidence").get_data(as_text=True)
    assert WITNESS["title"] in listing
    # The preview's pixel bound reads the sealed image dimensions: a restricted photo shows.
    assert client.get(f"/evidence/{item['id']}/preview").status_code == 200


def _listed_titles(client, case_id, collector: str) -> list[str]:
    page = client.get(f"/cases/{case_id}/evidence", query_string={"collector": collector})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    return [title for title in (WITNESS["title"], "Public photo of the market") if title in body]


def test_the_collector_filter_finds_a_sealed_item_by_name_through_the_blind_index(
    client, world, session
):
    upload_witness(client, world)
    upload(client, world.case.id, world.investigator, b"market photo", title="Public photo of "
           "the market", collected_by="Daw Khin Myint's colleague U Ba")
    sign_in(client, "investigator@example.org")
    case_id = world.case.id
    # The exact name, any case or Unicode form, or some of its words: found.
    fullwidth = "\uff2d\uff59\uff49\uff4e\uff54"  # "Myint" in fullwidth letters
    for query in ("Daw Khin Myint", "daw  KHIN myint", fullwidth, "Khin"):
        assert WITNESS["title"] in _listed_titles(client, case_id, query), query
    # A fragment of a word is not a token: a sealed item is found by words, not substrings
    # (a standard item still is, as before).
    assert _listed_titles(client, case_id, "Myin") == ["Public photo of the market"]
    assert _listed_titles(client, case_id, "U Ba") == ["Public photo of the market"]
    assert _listed_titles(client, case_id, "Zaw Lin") == []  # another field, not indexed
    # The index holds keyed hashes only.
    tokens = session.scalars(select(IndexToken.token_hash)).all()
    assert tokens and all(len(token) == 32 for token in tokens)

    viewer = client.application.test_client()
    sign_in(viewer, "viewer@example.org")
    for query in ("Daw Khin Myint", "Khin", "U Ba"):  # the standard item only
        assert _listed_titles(viewer, case_id, query) == ["Public photo of the market"]


def test_a_burmese_collector_is_found_by_whole_name_and_by_word(client, world):
    upload_witness(client, world, collected_by=BURMESE_COLLECTOR)
    sign_in(client, "investigator@example.org")
    for query in (BURMESE_COLLECTOR, "ဒေါ်ခင်မြင့်", "ကွတူပလောင်"):
        assert _listed_titles(client, world.case.id, query) == [WITNESS["title"]], query
    assert _listed_titles(client, world.case.id, "ခင်") == []  # part of a word


def test_after_a_kek_rotation_everything_stays_readable_and_findable(client, world, session,
                                                                    settings):
    item = upload_witness(client, world)
    old_wrapped = session.get(IndexKey, metadata.INDEX_KEY_ID).wrapped
    keys.rotate(session, settings.kek_path)
    session.expire_all()
    new_keyring = envelope.Keyring.load(settings.kek_path)
    assert envelope.key_ids(new_keyring) == [new_keyring.primary_key_id]
    row = session.get(IndexKey, metadata.INDEX_KEY_ID)
    assert row.wrapped != old_wrapped
    assert envelope.wrapped_by(row.wrapped) == new_keyring.primary_key_id

    body = client.get(f"/api/v1/evidence/{item['id']}", headers=world.investigator).get_json()
    assert (body["title"], body["original_filename"]) == (WITNESS["title"], FILE_NAME)
    assert body["extracted"]["exif"]["gps"]["lat"] == "20.940000"
    sign_in(client, "investigator@example.org")
    assert _listed_titles(client, world.case.id, "Daw Khin Myint") == [WITNESS["title"]]


def test_deletion_makes_the_sealed_metadata_unrecoverable(client, world, session):
    item = upload_witness(client, world)
    item_id = uuid.UUID(item["id"])
    client.post(f"/api/v1/evidence/{item_id}/grants", headers=world.lead,
                json={"email": "lead@example.org"})
    backup = bytes(session.get(Evidence, item_id).sealed_metadata)  # as a backup would hold it
    response = client.delete(f"/api/v1/evidence/{item_id}", headers=world.lead,
                             json={"reason": "consent withdrawn by the witness"})
    assert response.status_code == 200
    assert response.get_json()["metadata"] == "destroyed"
    assert response.get_json()["title"] == metadata.PLACEHOLDER_TITLE

    session.expire_all()
    row = session.get(Evidence, item_id)
    keyring = request_scope.keyring(client.application)
    with pytest.raises(KeyringError):
        keyring.unwrap(row.wrapped_key, item_id.bytes)
    assert metadata.reveal(keyring, row).state == "destroyed"
    assert row.sealed_metadata is None  # the ciphertext is dropped too
    assert session.scalars(select(IndexToken).where(IndexToken.evidence_id == item_id)).all() == []
    assert metadata.filename_commitment(keyring, row, FILE_NAME) is None
    assert leaks(session, needles()) == []
    assert backup  # the ciphertext alone (even from a backup) opens under no other key:
    other = keyring.new_data_key(item_id.bytes).cipher
    with pytest.raises(KeyringError):
        sealing.unseal(other, item_id, backup)

    body = client.get(f"/api/v1/evidence/{item_id}", headers=world.investigator).get_json()
    assert body["metadata"] == "destroyed"
    assert body["description"] is None and body["collector"] == {} and body["extracted"] == {}
    sign_in(client, "investigator@example.org")
    assert _listed_titles(client, world.case.id, "Daw Khin Myint") == []
    page = client.get(f"/evidence/{item_id}").get_data(as_text=True)
    assert "Destroyed with the data key of this item" in page and "Restricted item" in page
    assert WITNESS["title"] not in page and FILE_NAME not in page


def test_sending_a_restricted_items_bytes_again_records_no_file_name(client, world, session):
    upload_witness(client, world)
    again = upload(client, world.case.id, world.investigator, jpeg_with_exif(),
                   filename="second-copy-of-hla-hla.jpg", content_type="image/jpeg")
    assert again.status_code in (200, 201)
    session.expire_all()
    assert leaks(session, [*needles(), "second-copy-of-hla-hla"]) == []


def test_altered_sealed_metadata_is_reported_as_damaged(client, world, session):
    item = upload_witness(client, world)
    row = session.get(Evidence, uuid.UUID(item["id"]))
    sealed = bytearray(row.sealed_metadata)
    sealed[-5] ^= 0x01
    row.sealed_metadata = bytes(sealed)
    session.commit()
    body = client.get(f"/api/v1/evidence/{item['id']}", headers=world.investigator).get_json()
    assert body["metadata"] == "damaged"
    assert body["title"] == metadata.PLACEHOLDER_TITLE and body["collector"] == {}
    sign_in(client, "investigator@example.org")
    page = client.get(f"/evidence/{item['id']}").get_data(as_text=True)
    assert "fails authentication" in page
    app = client.application
    report = scrub.scrub(session, store=request_scope.blobs(app),
                         keyring=lambda: request_scope.keyring(app))
    assert [(str(failure.item_id), failure.reason) for failure in report.failures] == [
        (item["id"], scrub.SEALED_DAMAGED)]
    failure = session.scalars(select(CustodyEntry).where(
        CustodyEntry.item_id == uuid.UUID(item["id"]),
        CustodyEntry.action == CustodyAction.INTEGRITY_FAILURE)).one()
    assert json.loads(failure.details)["reason"] == scrub.SEALED_DAMAGED


def test_a_hidden_duplicate_is_sealed_under_the_shared_key_and_deleted_on_its_own(
    client, world, session
):
    """The lead, without a grant, sends the same bytes as restricted: an item of their own
    sharing the blob and data key. Each item's metadata is sealed and bound to its own id;
    deleting one leaves the other readable."""
    mine = upload_witness(client, world)
    theirs = upload(client, world.case.id, world.lead, jpeg_with_exif(),
                    filename="lead-copy-of-photo.jpg", content_type="image/jpeg",
                    title="Lead copy of a sensitive photo", collected_by="U Myo Lwin",
                    sensitivity="restricted").get_json()
    assert theirs["id"] != mine["id"] and theirs["metadata"] == "sealed"
    assert theirs["title"] == "Lead copy of a sensitive photo"
    session.expire_all()
    assert leaks(session, [*needles(), "Lead copy of a sensitive photo", "U Myo Lwin",
                           "lead-copy-of-photo"]) == []

    gone = client.delete(f"/api/v1/evidence/{theirs['id']}", headers=world.lead,
                         json={"reason": "sent by mistake"})
    assert gone.status_code == 200 and gone.get_json()["metadata"] == "destroyed"
    body = client.get(f"/api/v1/evidence/{mine['id']}", headers=world.investigator).get_json()
    assert (body["metadata"], body["title"]) == ("sealed", WITNESS["title"])
    assert body["extracted"]["exif"]["gps"]["lat"] == "20.940000"
