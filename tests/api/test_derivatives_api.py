"""Derivatives through the API: translations uploaded and linked, redacted versions made on
the server with the content under each box gone (text extracted and pixels looked at), and
every refusal leaving nothing behind (no item, no blob, no custody entry)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from PIL.ExifTags import IFD
from sqlalchemy import func, select

from casefile.model import CustodyAction, CustodyEntry, Evidence, Role
from tests.api.test_evidence_api import multipart, upload
from tests.factories import add_member, bearer, make_case, make_user
from tests.vault.test_redaction import (
    KEPT,
    PATCH_BOX,
    SECRET,
    SECRET_BOX,
    assert_black,
    interior,
    patch_photo,
    pdf_text,
    rendered,
    two_page_pdf,
)

BOX = {"page": 1, "x": SECRET_BOX.x, "y": SECRET_BOX.y, "width": SECRET_BOX.width,
       "height": SECRET_BOX.height}


@pytest.fixture
def world(session, tmp_path):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    lawyer = make_user(session, "lawyer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    add_member(session, case, lead, lawyer, Role.LAWYER)
    return SimpleNamespace(
        case=case,
        lead=bearer(session, lead),
        investigator=bearer(session, investigator),
        viewer=bearer(session, viewer),
        lawyer=bearer(session, lawyer),
        viewer_email="viewer@example.org",
        storage=tmp_path / "storage",
    )


def uploaded(client, world, content, filename, content_type, *, headers=None, **fields):
    response = upload(client, world.case.id, headers or world.lead, content, filename=filename,
                      content_type=content_type, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def content_of(client, item_id, headers) -> bytes:
    response = client.get(f"/api/v1/evidence/{item_id}/content", headers=headers)
    assert response.status_code == 200
    return response.data


def entries(session, item_id) -> list[CustodyEntry]:
    session.expire_all()
    return list(session.scalars(
        select(CustodyEntry).where(CustodyEntry.item_id == uuid.UUID(str(item_id)))
        .order_by(CustodyEntry.seq)
    ))


def counts(session, storage: Path) -> tuple[int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Evidence)),
        session.scalar(select(func.count()).select_from(CustodyEntry)),
        sum(1 for path in storage.rglob("*") if path.is_file()),
    )


def translation(client, item_id, headers, content=b"Translation into French", **fields):
    body, mimetype = multipart(
        {"language": "fr", "translator": "A. Translator", **fields},
        [("file", b"translation-fr.txt", content, "text/plain")],
    )
    return client.post(f"/api/v1/evidence/{item_id}/translations", data=body,
                       content_type=mimetype, headers=headers)


# --- redactions ---------------------------------------------------------------------------


def test_redacted_pdf_has_nothing_under_the_box(client, world, session):
    original = uploaded(client, world, two_page_pdf(), "statement.pdf", "application/pdf")
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions", headers=world.lawyer,
                           json={"boxes": [BOX], "reason": "witness_identity"})
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["derivation"] == "redaction"
    assert made["derived_from"] == original["id"]
    assert made["mime"] == "application/pdf"
    assert made["sensitivity"] == "standard"
    assert made["ern"] != original["ern"]
    assert made["title"] == f"{original['title']} (redacted)"
    assert made["original_filename"] == "statement-redacted.pdf"

    content = content_of(client, made["id"], world.lawyer)
    assert SECRET in pdf_text(content_of(client, original["id"], world.lawyer))
    assert SECRET not in pdf_text(content)
    assert KEPT not in pdf_text(content)  # image-only: no text layer at all
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True,
                              check=True).stdout.decode()
        assert SECRET not in text
    page = rendered(content, 0)
    page.save(Path(world.storage).parent / "redacted-page-1.png")
    assert_black(interior(page, SECRET_BOX))
    assert page.convert("L").getextrema() == (0, 255) or page.convert("L").getextrema()[1] > 200
    outside = page.crop((0, int(page.height * 0.45), page.width, int(page.height * 0.55)))
    assert outside.convert("L").getextrema()[0] < 100, "the page outside the box is blank"

    # Custody: the new item's intake names the original, the reason and the boxes; the
    # original's entry names the redaction.
    [intake] = [e for e in entries(session, made["id"]) if e.action == CustodyAction.INTAKE]
    origin = f'"derived_from":{{"derivation":"redaction","ern":"{original["ern"]}"}}'
    assert origin in intake.details
    assert '"reason":"witness_identity"' in intake.details
    assert '"boxes":1' in intake.details
    linked = [e for e in entries(session, original["id"]) if e.action == CustodyAction.LINKED]
    assert len(linked) == 1
    assert '"change":"redaction_made"' in linked[0].details
    assert made["ern"] in linked[0].details


def test_redacted_image_is_black_under_the_box_and_has_no_gps(client, world):
    original = uploaded(client, world, patch_photo(), "photo.jpg", "image/jpeg")
    assert original["extracted"].get("exif", {}) or True
    box = {"page": 1, "x": PATCH_BOX.x, "y": PATCH_BOX.y, "width": PATCH_BOX.width,
           "height": PATCH_BOX.height}
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions",
                           headers=world.investigator,
                           json={"boxes": [box], "reason": "victim_identity", "title": "Photo"})
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["mime"] == "image/jpeg"
    assert made["title"] == "Photo"
    with Image.open(io.BytesIO(content_of(client, made["id"], world.investigator))) as image:
        assert not image.getexif().get_ifd(IFD.GPSInfo)
        assert not image.getexif()
        pixels = image.convert("RGB")
    assert_black(interior(pixels, PATCH_BOX, margin=2))
    assert "gps_latitude" not in str(made["extracted"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"boxes": [{**BOX, "x": 0.9, "width": 0.2}], "reason": "other"}, "boxes.0"),
        ({"boxes": [{**BOX, "width": 0}], "reason": "other"}, "boxes.0.width"),
        ({"boxes": [{**BOX, "x": -0.1}], "reason": "other"}, "boxes.0.x"),
        ({"boxes": [BOX], "reason": "because"}, "reason"),
        ({"boxes": [], "reason": "other"}, "boxes"),
        ({"boxes": [BOX]}, "reason"),
    ],
)
def test_bad_redactions_are_refused_and_leave_nothing(client, world, session, body, field):
    original = uploaded(client, world, two_page_pdf(), "statement.pdf", "application/pdf")
    before = counts(session, world.storage)
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions",
                           headers=world.lead, json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert any(name.startswith(field) for name in error["fields"]), error
    assert counts(session, world.storage) == before


def test_a_redaction_refused_after_the_read_leaves_only_a_trace_of_the_read(
    client, world, session
):
    """A box on a page the document lacks is found only once the original is decrypted and in
    the helper: no item, no blob, but the read is in the log, on the original, and the custody
    page says it in a sentence."""
    original = uploaded(client, world, two_page_pdf(), "statement.pdf", "application/pdf")
    items, entries_before, blobs = counts(session, world.storage)
    seen_before = [e.seq for e in entries(session, original["id"])]
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions", headers=world.lead,
                           json={"boxes": [{**BOX, "page": 3}], "reason": "other"})
    assert response.status_code == 422, response.get_json()
    assert "boxes" in response.get_json()["error"]["fields"]
    assert counts(session, world.storage) == (items, entries_before + 1, blobs)
    [trace] = [e for e in entries(session, original["id"]) if e.seq not in seen_before]
    assert trace.action == CustodyAction.VIEWED
    details = json.loads(trace.details)
    assert details["ern"] == original["ern"]
    assert (details["purpose"], details["outcome"]) == ("redaction", "failed")
    assert details["reason"] == "boxes: the document has 2 pages; there is no page 3"
    assert trace.actor_label.endswith("<lead@example.org>")
    from casefile.web.labels import entry_sentence  # noqa: PLC0415

    sentence = entry_sentence(trace.action, "Lead", details)
    assert sentence.startswith(f"Lead read {original['ern']} to make a redacted version; "
                               "the redaction failed (")


def test_a_redaction_that_fails_in_the_helper_is_recorded_on_the_original(
    client, world, session, monkeypatch
):
    from casefile.vault import redaction  # noqa: PLC0415

    def broken(content, mime, boxes):
        raise redaction.RedactionFailed("the helper process was killed (memory)")

    monkeypatch.setattr(redaction, "redact", broken)
    original = uploaded(client, world, two_page_pdf(), "statement.pdf", "application/pdf")
    items, entries_before, blobs = counts(session, world.storage)
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions", headers=world.lead,
                           json={"boxes": [BOX], "reason": "other"})
    assert response.status_code == 422
    assert counts(session, world.storage) == (items, entries_before + 1, blobs)
    trace = entries(session, original["id"])[-1]
    assert trace.action == CustodyAction.VIEWED
    assert json.loads(trace.details) == {
        "ern": original["ern"], "purpose": "redaction", "outcome": "failed",
        "reason": "item: the helper process was killed (memory)"}


def test_an_unsupported_type_is_refused_and_leaves_nothing(client, world, session):
    original = uploaded(client, world, b"plain words", "notes.txt", "text/plain")
    before = counts(session, world.storage)
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions", headers=world.lead,
                           json={"boxes": [BOX], "reason": "other"})
    assert response.status_code == 422
    assert "item" in response.get_json()["error"]["fields"]
    assert counts(session, world.storage) == before


def test_an_image_box_past_page_one_is_refused(client, world, session):
    original = uploaded(client, world, patch_photo(), "photo.jpg", "image/jpeg")
    before = counts(session, world.storage)
    response = client.post(f"/api/v1/evidence/{original['id']}/redactions", headers=world.lead,
                           json={"boxes": [{**BOX, "page": 2}], "reason": "other"})
    assert response.status_code == 422
    assert counts(session, world.storage) == before


def test_restricted_original_without_grant_is_404_and_viewers_may_not_redact(
    client, world, session
):
    secret = uploaded(client, world, two_page_pdf(), "w17.pdf", "application/pdf",
                      headers=world.investigator, sensitivity="restricted")
    plain = uploaded(client, world, two_page_pdf(), "other.pdf", "application/pdf")
    before = counts(session, world.storage)
    body = {"boxes": [BOX], "reason": "other"}
    # The lead holds no grant to the investigator's restricted item: it does not exist.
    assert client.post(f"/api/v1/evidence/{secret['id']}/redactions", headers=world.lead,
                       json=body).status_code == 404
    assert translation(client, secret["id"], world.lead).status_code == 404
    # A viewer sees the standard item but may not add evidence.
    assert client.post(f"/api/v1/evidence/{plain['id']}/redactions", headers=world.viewer,
                       json=body).status_code == 403
    assert counts(session, world.storage) == before


def test_a_standard_redaction_of_a_restricted_item_says_nothing_of_it(client, world, session):
    secret = uploaded(client, world, two_page_pdf(), "w17-statement.pdf", "application/pdf",
                      headers=world.investigator, sensitivity="restricted",
                      title="Statement of W-17")
    response = client.post(f"/api/v1/evidence/{secret['id']}/redactions",
                           headers=world.investigator,
                           json={"boxes": [BOX], "reason": "witness_identity"})
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["sensitivity"] == "standard"
    assert made["title"] == "Redacted version"
    assert made["original_filename"] == "redacted.pdf"
    # The lead, who may not see the original, sees the redaction, not where it came from.
    seen = client.get(f"/api/v1/evidence/{made['id']}", headers=world.lead).get_json()
    assert seen["derivation"] == "redaction"
    assert seen["derived_from"] is None
    [intake] = [e for e in entries(session, made["id"]) if e.action == CustodyAction.INTAKE]
    assert secret["ern"] not in intake.details
    assert "W-17" not in intake.details and "w17" not in intake.details
    report = client.get(f"/api/v1/evidence/{made['id']}/custody", headers=world.lead).get_json()
    assert secret["ern"] not in str(report)
    # The uploader, who sees both, is told.
    mine = client.get(f"/api/v1/evidence/{made['id']}", headers=world.investigator).get_json()
    assert mine["derived_from"] == secret["id"]


# --- translations ---------------------------------------------------------------------------


def test_a_translation_is_a_linked_item_with_its_own_custody(client, world, session):
    original = uploaded(client, world, two_page_pdf(), "statement.pdf", "application/pdf",
                        language="my")
    assert original["language"] == "my"
    response = translation(client, original["id"], world.investigator,
                           certification="I certify this translation is accurate.")
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["derivation"] == "translation"
    assert made["derived_from"] == original["id"]
    assert made["language"] == "fr"
    assert made["collector"]["translator"] == "A. Translator"
    assert made["collector"]["certification"] == "I certify this translation is accurate."
    assert made["title"] == f"{original['title']} (fr)"
    assert made["ern"] != original["ern"]
    [intake] = [e for e in entries(session, made["id"]) if e.action == CustodyAction.INTAKE]
    assert f'"ern":"{original["ern"]}"' in intake.details
    assert '"language":"fr"' in intake.details
    [linked] = [e for e in entries(session, original["id"]) if e.action == CustodyAction.LINKED]
    assert '"change":"translation_added"' in linked.details
    assert made["ern"] in linked.details


def test_translation_input_is_checked_and_a_refusal_leaves_nothing(client, world, session):
    pdf = two_page_pdf()
    original = uploaded(client, world, pdf, "statement.pdf", "application/pdf")
    before = counts(session, world.storage)
    bad = [
        {"language": "French!"},
        {"translator": ""},
        {"colour": "blue"},
    ]
    for fields in bad:
        body, mimetype = multipart(
            {"language": "fr", "translator": "T", **fields},
            [("file", b"t.txt", b"text", "text/plain")],
        )
        response = client.post(f"/api/v1/evidence/{original['id']}/translations", data=body,
                               content_type=mimetype, headers=world.lead)
        assert response.status_code == 422, (fields, response.get_json())
    # The same bytes as an item of the case are not a new translation.
    response = translation(client, original["id"], world.lead, content=pdf)
    assert response.status_code == 409
    assert counts(session, world.storage) == before


def test_a_translation_of_a_restricted_item_is_restricted_to_the_same_people(
    client, world, session
):
    secret = uploaded(client, world, two_page_pdf(), "w17.pdf", "application/pdf",
                      headers=world.investigator, sensitivity="restricted")
    granted = client.post(f"/api/v1/evidence/{secret['id']}/grants", headers=world.lead,
                          json={"email": world.viewer_email})
    assert granted.status_code == 201, granted.get_json()
    response = translation(client, secret["id"], world.investigator)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["sensitivity"] == "restricted"
    assert made["metadata"] == "sealed"
    assert made["collector"]["translator"] == "A. Translator"  # opened for the uploader
    # The viewer, granted the original, sees it; the lead, who is not, does not.
    assert client.get(f"/api/v1/evidence/{made['id']}", headers=world.viewer).status_code == 200
    assert client.get(f"/api/v1/evidence/{made['id']}", headers=world.lead).status_code == 404
    session.expire_all()
    row = session.get(Evidence, uuid.UUID(made["id"]))
    assert row.collector == {}  # sealed: nothing in the clear
    assert "A. Translator" not in str(row.__dict__)


def test_translation_missing_warning_goes_once_a_french_translation_is_linked(
    client, world, session
):
    original = uploaded(client, world, two_page_pdf(), "statement.pdf", "application/pdf",
                        language="my")
    filing = client.post(f"/api/v1/cases/{world.case.id}/filings", headers=world.lead,
                         json={"title": "Submission", "type": "request_or_submission",
                               "classification": "public"})
    assert filing.status_code == 201, filing.get_json()
    filing_id = filing.get_json()["id"]
    added = client.post(f"/api/v1/filings/{filing_id}/exhibits", headers=world.lead,
                        json={"evidence_id": original["id"]})
    assert added.status_code == 201, added.get_json()

    def codes():
        response = client.get(f"/api/v1/filings/{filing_id}/warnings", headers=world.lead)
        assert response.status_code == 200
        return {warning["code"] for warning in response.get_json()["items"]}

    assert "translation_missing" in codes()
    # A translation into Burmese's neighbour does not count; one into French does.
    assert translation(client, original["id"], world.lead, content=b"bn", language="bn",
                       ).status_code == 201
    assert "translation_missing" in codes()
    assert translation(client, original["id"], world.lead).status_code == 201
    assert "translation_missing" not in codes()


def test_the_language_is_set_at_upload_and_changed_by_an_edit(client, world):
    item = uploaded(client, world, b"words", "a.txt", "text/plain", language="MY")
    assert item["language"] == "my"
    free = uploaded(client, world, b"other words", "b.txt", "text/plain", language="Burmese")
    assert free["language"] is None  # not a tag: kept as the collector wrote it
    assert free["collector"]["language"] == "Burmese"
    edited = client.patch(f"/api/v1/evidence/{item['id']}", headers=world.lead,
                          json={"version": item["metadata_version"], "language": "fr-ca"})
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["language"] == "fr-CA"
