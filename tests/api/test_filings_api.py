"""Filings and exhibits through the API: forum types, classification, numbering per forum,
reorder, versions of filed filings, warnings, custody entries and restricted items."""

from __future__ import annotations

import io
import json
import uuid
from types import SimpleNamespace

import pytest
from reportlab.pdfgen import canvas
from sqlalchemy import select

from casefile.logic.cases import cases
from casefile.logic.cases.cases import CaseInput
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.verify import verify_log
from casefile.model import (
    CustodyAction,
    CustodyEntry,
    Derivation,
    Evidence,
    Exhibit,
    Filing,
    Forum,
    Role,
)
from tests.api.test_evidence_api import png_bytes, upload
from tests.factories import add_member, bearer, make_user


def make_forum_case(session, lead, forum: Forum, title: str = "Rakhine"):
    data = CaseInput(
        title=title,
        forum=forum,
        ern_pattern="MMR-{seq:04d}",
        languages=["en", "my"],
    )
    return cases.create_case(session, lead, data)


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    lawyer = make_user(session, "lawyer@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    icc = make_forum_case(session, lead, Forum.ICC)
    for user, role in ((lawyer, Role.LAWYER), (investigator, Role.INVESTIGATOR),
                       (viewer, Role.VIEWER)):
        add_member(session, icc, lead, user, role)
    headers = {name: bearer(session, user) for name, user in (
        ("lead", lead), ("lawyer", lawyer), ("investigator", investigator), ("viewer", viewer),
        ("outsider", outsider))}
    return SimpleNamespace(session=session, client=client, icc=icc, users=SimpleNamespace(
        lead=lead, lawyer=lawyer, investigator=investigator), **headers)


def add_item(w, case, content: bytes, *, headers=None, filename="item.txt",
             content_type="text/plain", **fields) -> dict:
    response = upload(w.client, case.id, headers or w.lead, content, filename=filename,
                      content_type=content_type, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_filing(w, case, headers=None, **fields):
    body = {"title": "Request for provisional measures", "type": "request_or_submission",
            "classification": "public", **fields}
    return w.client.post(f"/api/v1/cases/{case.id}/filings", json=body,
                         headers=headers or w.lawyer)


def add_exhibit(w, filing_id, item_id, headers=None, **fields):
    return w.client.post(f"/api/v1/filings/{filing_id}/exhibits",
                         json={"evidence_id": item_id, **fields}, headers=headers or w.lawyer)


def entries(session, action: CustodyAction) -> list[dict]:
    found = session.scalars(select(CustodyEntry).where(CustodyEntry.action == action)
                            .order_by(CustodyEntry.seq))
    return [{"item": entry.item_id, **json.loads(entry.details)} for entry in found]


def filing_rows(session) -> int:
    return len(session.scalars(select(Filing)).all())


# --- filings --------------------------------------------------------------------------------


def test_a_lawyer_creates_a_filing_and_everyone_in_the_case_reads_it(world):
    response = new_filing(world, world.icc, court_document_number="ICC-01/19-7",
                          filing_date="2026-11-30", language="en")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft" and body["version"] == 1 and body["exhibits"] == []
    assert body["court_document_number"] == "ICC-01/19-7"
    assert body["filing_date"] == "2026-11-30"
    assert body["exhibit_prefix"] == "Anx" and body["exhibit_start"] == 1
    for reader in (world.viewer, world.investigator, world.lead):
        got = world.client.get(f"/api/v1/filings/{body['id']}", headers=reader)
        assert got.status_code == 200 and got.get_json() == body
        listed = world.client.get(f"/api/v1/cases/{world.icc.id}/filings", headers=reader)
        assert [each["id"] for each in listed.get_json()["items"]] == [body["id"]]
    assert world.client.get(f"/api/v1/filings/{body['id']}",
                            headers=world.outsider).status_code == 404
    [entry] = entries(world.session, CustodyAction.CASE_UPDATED)
    assert entry["change"] == "filing_created"
    assert entry["filing"]["id"] == body["id"]
    assert entry["fields"]["court_document_number"] == "ICC-01/19-7"


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("investigator", 403),
                                             ("outsider", 404), ("lead", 201)])
def test_only_lawyers_and_leads_create_filings(world, who, status):
    assert new_filing(world, world.icc, headers=getattr(world, who)).status_code == status


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "memorial"}, "type"),  # an ICJ type, in an ICC case
    ({"type": "criminal_complaint"}, "type"),
    ({"type": "no_such_type"}, "type"),
    ({"classification": "secret"}, "classification"),
    ({"classification": "under_seal"}, "classification_basis"),  # no basis
    ({"classification": "confidential", "classification_basis": "  "}, "classification_basis"),
    ({"title": ""}, "title"),
    ({"language": "English"}, "language"),
    ({"filing_date": "30/11/2026"}, "filing_date"),
    ({"colour": "red"}, "colour"),
])
def test_bad_filings_are_refused_and_nothing_is_written(world, fields, field):
    response = new_filing(world, world.icc, **fields)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"
    assert field in response.get_json()["error"]["fields"]
    assert filing_rows(world.session) == 0
    assert entries(world.session, CustodyAction.CASE_UPDATED) == []


def test_each_forum_has_its_types(world, session):
    icj = make_forum_case(session, world.users.lead, Forum.ICJ)
    uj = make_forum_case(session, world.users.lead, Forum.UJ)
    assert new_filing(world, icj, world.lead, type="memorial").status_code == 201
    assert new_filing(world, icj, world.lead, type="article_15_communication").status_code == 422
    assert new_filing(world, uj, world.lead, type="criminal_complaint").status_code == 201
    assert new_filing(world, uj, world.lead, type="memorial").status_code == 422
    assert new_filing(world, world.icc, type="article_15_communication",
                      classification="ex_parte",
                      classification_basis="Rule 81(2) order of 3 May").status_code == 201


def test_status_moves_on_and_each_change_is_a_case_entry(world):
    filing = new_filing(world, world.icc).get_json()
    url = f"/api/v1/filings/{filing['id']}"
    assert world.client.patch(url, json={"status": "filed"},
                              headers=world.lawyer).status_code == 409  # draft → filed: no
    response = world.client.patch(url, json={"status": "final", "title": "Submission"},
                                  headers=world.lawyer)
    assert response.status_code == 200 and response.get_json()["status"] == "final"
    refused = world.client.patch(url, json={"status": "filed"}, headers=world.lawyer)
    assert refused.status_code == 422  # no filing date yet
    assert "filing_date" in refused.get_json()["error"]["fields"]
    done = world.client.patch(url, json={"status": "filed", "filing_date": "2026-12-01"},
                              headers=world.lawyer)
    assert done.status_code == 200 and done.get_json()["status"] == "filed"
    assert world.client.patch(url, json={"title": "x"}, headers=world.viewer).status_code == 403
    updates = [entry for entry in entries(world.session, CustodyAction.CASE_UPDATED)
               if entry["change"] == "filing_updated"]
    assert [entry.get("status") for entry in updates] == [
        {"from": "draft", "to": "final"}, {"from": "final", "to": "filed"}]
    assert updates[0]["changes"] == {
        "title": {"from": "Request for provisional measures", "to": "Submission"}}
    assert updates[1]["changes"] == {"filing_date": {"from": None, "to": "2026-12-01"}}


def file_it(world, filing_id):
    url = f"/api/v1/filings/{filing_id}"
    for body in ({"status": "final"}, {"status": "filed", "filing_date": "2026-12-01"}):
        assert world.client.patch(url, json=body, headers=world.lawyer).status_code == 200


def test_a_filed_filing_is_frozen_and_changes_make_a_new_version(world):
    item = add_item(world, world.icc, b"report one")
    filing = new_filing(world, world.icc).get_json()
    assert add_exhibit(world, filing["id"], item["id"]).status_code == 201
    file_it(world, filing["id"])
    url = f"/api/v1/filings/{filing['id']}"
    filed = world.client.get(url, headers=world.lawyer).get_json()
    frozen = world.client.patch(url, json={"title": "Corrigendum"}, headers=world.lawyer)
    assert frozen.status_code == 409
    assert frozen.get_json()["error"]["code"] == "filing_filed"
    other = add_item(world, world.icc, b"report two")
    assert add_exhibit(world, filing["id"], other["id"]).status_code == 409
    exhibit_id = filed["exhibits"][0]["id"]
    assert world.client.delete(f"{url}/exhibits/{exhibit_id}",
                               headers=world.lawyer).status_code == 409
    assert world.client.put(f"{url}/exhibits/order", headers=world.lawyer, json={
        "exhibits_version": filed["exhibits_version"], "exhibit_ids": [exhibit_id]},
    ).status_code == 409
    assert world.client.get(url, headers=world.lawyer).get_json() == filed

    response = world.client.patch(url, json={"title": "Corrigendum", "new_version": True},
                                  headers=world.lawyer)
    assert response.status_code == 201, response.get_json()
    new = response.get_json()
    assert new["id"] != filing["id"] and new["version"] == 2 and new["status"] == "draft"
    assert new["supersedes_id"] == filing["id"] and new["title"] == "Corrigendum"
    assert [each["evidence_id"] for each in new["exhibits"]] == [item["id"]]
    old = world.client.get(url, headers=world.lawyer).get_json()
    assert old["superseded_by_id"] == new["id"]
    assert {**old, "superseded_by_id": None} == filed  # kept as it was
    again = world.client.patch(url, json={"new_version": True}, headers=world.lawyer)
    assert again.status_code == 409  # only the latest version has a successor
    draft = world.client.patch(f"/api/v1/filings/{new['id']}",
                               json={"new_version": True}, headers=world.lawyer)
    assert draft.status_code == 409  # not filed: changed as it is
    assert add_exhibit(world, new["id"], other["id"]).status_code == 201
    listed = world.client.get(f"/api/v1/cases/{world.icc.id}/filings", headers=world.viewer)
    assert [each["version"] for each in listed.get_json()["items"]] == [1, 2]
    [version] = [entry for entry in entries(world.session, CustodyAction.CASE_UPDATED)
                 if entry["change"] == "filing_new_version"]
    assert version["supersedes"]["id"] == filing["id"]
    assert version["changes"]["title"]["to"] == "Corrigendum"
    linked = entries(world.session, CustodyAction.LINKED)
    assert [(entry["change"], entry["filing"]["version"]) for entry in linked
            if entry["item"] == uuid.UUID(item["id"])] == [
        ("exhibit_added", 1), ("exhibit_added", 2)]


# --- exhibits -------------------------------------------------------------------------------


@pytest.mark.parametrize(("forum", "fields", "numbers"), [
    (Forum.ICJ, {"type": "memorial"}, ["Annex 1", "Annex 2", "Annex 3"]),
    (Forum.ICC, {"type": "list_of_evidence"}, ["Anx 1", "Anx 2", "Anx 3"]),
    (Forum.UJ, {"type": "criminal_complaint"}, ["Exhibit 1", "Exhibit 2", "Exhibit 3"]),
    (Forum.UJ, {"type": "criminal_complaint", "exhibit_prefix": "Pièce", "exhibit_start": 12},
     ["Pièce 12", "Pièce 13", "Pièce 14"]),
])
def test_exhibits_are_numbered_by_the_forums_convention(world, session, forum, fields, numbers):
    case = make_forum_case(session, world.users.lead, forum)
    items = [add_item(world, case, f"item {n}".encode()) for n in range(3)]
    filing = new_filing(world, case, world.lead, **fields).get_json()
    for item in items:
        assert add_exhibit(world, filing["id"], item["id"], world.lead).status_code == 201
    body = world.client.get(f"/api/v1/filings/{filing['id']}", headers=world.lead).get_json()
    assert [each["number"] for each in body["exhibits"]] == numbers
    assert [each["ern"] for each in body["exhibits"]] == [item["ern"] for item in items]


def test_adding_exhibits_and_what_is_refused(world, session):
    item = add_item(world, world.icc, b"situation report", title="Sitrep")
    filing = new_filing(world, world.icc).get_json()
    response = add_exhibit(world, filing["id"], item["id"], classification="confidential",
                           description="Sitrep of 30 August")
    assert response.status_code == 201, response.get_json()
    [exhibit] = response.get_json()["exhibits"]
    assert exhibit == {**exhibit, "number": "Anx 1", "evidence_id": item["id"],
                       "ern": item["ern"], "title": "Sitrep", "classification": "confidential",
                       "description": "Sitrep of 30 August"}
    version = response.get_json()["exhibits_version"]
    other_case = make_forum_case(session, world.users.lead, Forum.ICC, "Other")
    foreign = add_item(world, other_case, b"elsewhere")
    add_member(session, other_case, world.users.lead, world.users.lawyer, Role.LAWYER)
    for body, status in (
        ({"evidence_id": item["id"]}, 409),  # already an exhibit
        ({"evidence_id": foreign["id"]}, 422),  # another case's item
        ({"evidence_id": str(uuid.uuid4())}, 404),
        ({"evidence_id": item["id"], "classification": "top_secret"}, 422),
        ({"evidence_id": "not-an-id"}, 422),
    ):
        got = world.client.post(f"/api/v1/filings/{filing['id']}/exhibits", json=body,
                                headers=world.lawyer)
        assert got.status_code == status, (body, got.get_json())
    assert add_exhibit(world, filing["id"], item["id"], world.investigator).status_code == 403
    after = world.client.get(f"/api/v1/filings/{filing['id']}", headers=world.lawyer).get_json()
    assert len(after["exhibits"]) == 1 and after["exhibits_version"] == version
    [entry] = entries(world.session, CustodyAction.LINKED)
    assert entry["item"] == uuid.UUID(item["id"])
    assert entry["change"] == "exhibit_added" and entry["number"] == "Anx 1"
    assert entry["filing"]["id"] == filing["id"] and entry["ern"] == item["ern"]
    # on the item's own custody report
    custody = world.client.get(f"/api/v1/evidence/{item['id']}/custody",
                               headers=world.viewer).get_json()
    assert "linked" in [each.get("action") for each in custody["entries"]]


def test_reorder_and_remove_renumber_with_an_entry_per_moved_exhibit(world):
    items = [add_item(world, world.icc, f"doc {n}".encode()) for n in range(3)]
    filing = new_filing(world, world.icc).get_json()
    for item in items:
        body = add_exhibit(world, filing["id"], item["id"]).get_json()
    ids = [each["id"] for each in body["exhibits"]]
    url = f"/api/v1/filings/{filing['id']}/exhibits/order"
    stale = world.client.put(url, headers=world.lawyer, json={
        "exhibits_version": body["exhibits_version"] - 1, "exhibit_ids": ids[::-1]})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    for wrong in (ids[:2], [*ids, ids[0]], [ids[0], ids[1], str(uuid.uuid4())]):
        bad = world.client.put(url, headers=world.lawyer, json={
            "exhibits_version": body["exhibits_version"], "exhibit_ids": wrong})
        assert bad.status_code == 422, wrong
    assert world.client.put(url, headers=world.viewer, json={
        "exhibits_version": body["exhibits_version"], "exhibit_ids": ids}).status_code == 403
    assert entries(world.session, CustodyAction.LINKED)[-1]["change"] == "exhibit_added"
    done = world.client.put(url, headers=world.lawyer, json={
        "exhibits_version": body["exhibits_version"], "exhibit_ids": [ids[2], ids[0], ids[1]]})
    assert done.status_code == 200, done.get_json()
    got = done.get_json()
    assert [each["evidence_id"] for each in got["exhibits"]] == [
        items[2]["id"], items[0]["id"], items[1]["id"]]
    assert [each["number"] for each in got["exhibits"]] == ["Anx 1", "Anx 2", "Anx 3"]
    moves = [(entry["ern"], entry["from"], entry["to"])
             for entry in entries(world.session, CustodyAction.LINKED)
             if entry["change"] == "exhibit_renumbered"]
    assert sorted(moves) == sorted([(items[2]["ern"], "Anx 3", "Anx 1"),
                                    (items[0]["ern"], "Anx 1", "Anx 2"),
                                    (items[1]["ern"], "Anx 2", "Anx 3")])
    removed = world.client.delete(f"/api/v1/filings/{filing['id']}/exhibits/{ids[2]}",
                                  headers=world.lawyer)
    assert removed.status_code == 200
    assert [each["number"] for each in removed.get_json()["exhibits"]] == ["Anx 1", "Anx 2"]
    changes = [(entry["change"], entry["ern"]) for entry in
               entries(world.session, CustodyAction.LINKED)][-3:]
    assert changes == [("exhibit_removed", items[2]["ern"]),
                       ("exhibit_renumbered", items[0]["ern"]),
                       ("exhibit_renumbered", items[1]["ern"])]
    assert world.client.delete(f"/api/v1/filings/{filing['id']}/exhibits/{ids[2]}",
                               headers=world.lawyer).status_code == 404


def test_the_custody_log_verifies_after_filing_work(world, app):
    test_reorder_and_remove_renumber_with_an_entry_per_moved_exhibit(world)
    report = verify_log(world.session, app.extensions["casefile.custody_keys"].verifier_key)
    assert report.mismatch is None


# --- restricted items -----------------------------------------------------------------------


def test_a_filing_holding_a_restricted_item_is_not_there_for_those_without_a_grant(world):
    # The investigator uploads a restricted item (and so holds a grant); the lead does not.
    secret = add_item(world, world.icc, b"statement of witness W-17", headers=world.investigator,
                      sensitivity="restricted", title="W-17 statement")
    filing = new_filing(world, world.icc, headers=world.lead).get_json()
    # Neither the lead nor the lawyer may see it, so neither may add it: as if it did not exist.
    for who in (world.lead, world.lawyer):
        assert add_exhibit(world, filing["id"], secret["id"], who).status_code == 404
    assert world.client.get(f"/api/v1/filings/{filing['id']}",
                            headers=world.lead).get_json()["exhibits"] == []
    grant = world.client.post(f"/api/v1/evidence/{secret['id']}/grants",
                              json={"email": "lawyer@example.org"}, headers=world.lead)
    assert grant.status_code == 201
    added = add_exhibit(world, filing["id"], secret["id"], description="W-17's account")
    assert added.status_code == 201
    assert added.get_json()["exhibits"][0]["description"] == "W-17's account"
    [row] = world.session.scalars(select(Exhibit)).all()
    world.session.refresh(row)
    assert row.description is None and b"W-17" not in row.sealed_description  # sealed
    assert added.get_json()["exhibits"][0]["title"] == "W-17 statement"
    base = f"/api/v1/filings/{filing['id']}"
    for method, url, body in (
        ("GET", base, None),
        ("GET", f"{base}/warnings", None),
        ("PATCH", base, {"title": "x"}),
        ("POST", f"{base}/exhibits", {"evidence_id": secret["id"]}),
        ("PUT", f"{base}/exhibits/order", {"exhibits_version": 1, "exhibit_ids": []}),
        ("DELETE", f"{base}/exhibits/{added.get_json()['exhibits'][0]['id']}", None),
    ):
        response = world.client.open(url, method=method, json=body, headers=world.lead)
        assert response.status_code == 404, (method, url)
        text = response.get_data(as_text=True)
        assert secret["ern"] not in text and "W-17" not in text
    listed = world.client.get(f"/api/v1/cases/{world.icc.id}/filings", headers=world.lead)
    assert listed.get_json()["items"] == []
    assert world.client.get(base, headers=world.lawyer).status_code == 200
    assert world.client.get(base, headers=world.investigator).status_code == 200
    # the lead's view of the case's log: the exhibit's entry is redacted
    log = world.client.get(f"/api/v1/cases/{world.icc.id}/custody?limit=200",
                           headers=world.lead).get_data(as_text=True)
    assert secret["ern"] not in log and secret["id"] not in log


# --- warnings -------------------------------------------------------------------------------


def warning_codes(world, filing_id, headers=None) -> dict[str, dict]:
    response = world.client.get(f"/api/v1/filings/{filing_id}/warnings",
                                headers=headers or world.viewer)
    assert response.status_code == 200, response.get_json()
    return {each["code"]: each for each in response.get_json()["items"]}


def test_language_warnings_and_a_linked_translation(world, session):
    burmese = add_item(world, world.icc, b"Burmese statement", language="my")
    english = add_item(world, world.icc, b"English report", language="English")
    unknown = add_item(world, world.icc, b"no language recorded")
    filing = new_filing(world, world.icc).get_json()
    for item in (burmese, english, unknown):
        add_exhibit(world, filing["id"], item["id"])
    found = warning_codes(world, filing["id"])
    assert found["translation_missing"]["exhibits"] == ["Anx 1 (my)"]
    assert found["language_unknown"]["exhibits"] == ["Anx 3"]
    translation = add_item(world, world.icc, b"English translation of the statement")
    row = session.get(Evidence, uuid.UUID(translation["id"]))
    row.derived_from_id, row.derivation, row.language = (
        uuid.UUID(burmese["id"]), Derivation.TRANSLATION, "en")
    session.commit()
    assert "translation_missing" not in warning_codes(world, filing["id"])
    # universal jurisdiction: no working-language rule
    uj = make_forum_case(session, world.users.lead, Forum.UJ)
    item = add_item(world, uj, b"Burmese only", language="my")
    other = new_filing(world, uj, world.lead, type="criminal_complaint").get_json()
    add_exhibit(world, other["id"], item["id"], world.lead)
    assert warning_codes(world, other["id"], world.lead) == {}


def test_restricted_item_in_a_public_filing_integrity_and_type_warnings(world, session):
    secret = add_item(world, world.icc, b"witness list", headers=world.lead,
                      sensitivity="restricted", language="en")
    forged = add_item(world, world.icc, b"%PDF-not really, plain text", filename="scan.png",
                      content_type="image/png", language="en")
    broken = add_item(world, world.icc, b"a report", language="en")
    filing = new_filing(world, world.icc, headers=world.lead).get_json()
    for item in (secret, forged, broken):
        assert add_exhibit(world, filing["id"], item["id"], world.lead).status_code == 201
    custody_log.append(session, None, CustodyAction.INTEGRITY_FAILURE,
                       case_id=world.icc.id, item_id=uuid.UUID(broken["id"]),
                       details={"ern": broken["ern"], "reason": "test"})
    session.commit()
    found = warning_codes(world, filing["id"], world.lead)
    assert found["restricted_in_public_filing"]["exhibits"] == ["Anx 1"]
    assert found["type_mismatch"]["exhibits"] == ["Anx 2"]
    assert found["integrity_failure"]["exhibits"] == ["Anx 3"]
    custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED,
                       case_id=world.icc.id, item_id=uuid.UUID(broken["id"]),
                       details={"ern": broken["ern"], "result": "ok"})
    session.commit()
    assert "integrity_failure" not in warning_codes(world, filing["id"], world.lead)
    url = f"/api/v1/filings/{filing['id']}"
    assert world.client.patch(url, json={"classification": "confidential",
                                         "classification_basis": "protective order"},
                              headers=world.lead).status_code == 200
    assert "restricted_in_public_filing" not in warning_codes(world, filing["id"], world.lead)


def pdf_of(pages: int) -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out)
    for number in range(pages):
        document.drawString(72, 720, f"page {number + 1}")
        document.showPage()
    document.save()
    return out.getvalue()


def test_icj_annexes_over_750_pages_are_counted_and_warned_of(world, session):
    icj = make_forum_case(session, world.users.lead, Forum.ICJ)
    first = add_item(world, icj, pdf_of(400), filename="a.pdf", content_type="application/pdf",
                     language="en")
    second = add_item(world, icj, pdf_of(340), filename="b.pdf",
                      content_type="application/pdf", language="fr")
    photo = add_item(world, icj, png_bytes(), filename="p.png",
                     content_type="image/png", language="en")
    filing = new_filing(world, icj, world.lead, type="memorial").get_json()
    for item in (first, second):
        add_exhibit(world, filing["id"], item["id"], world.lead)
    found = warning_codes(world, filing["id"], world.lead)
    assert "icj_annex_pages" not in found  # 740 pages
    assert session.get(Evidence, uuid.UUID(first["id"])).page_count == 400
    assert session.get(Evidence, uuid.UUID(second["id"])).page_count == 340
    add_exhibit(world, filing["id"], photo["id"], world.lead)
    assert "icj_annex_pages" not in warning_codes(world, filing["id"], world.lead)  # 741
    big = add_item(world, icj, pdf_of(10), filename="c.pdf", content_type="application/pdf",
                   language="en")
    assert add_exhibit(world, filing["id"], big["id"], world.lead).status_code == 201
    found = warning_codes(world, filing["id"], world.lead)
    assert found["icj_annex_pages"]["total_pages"] == 751
    assert "page_count_unknown" not in found
    text = add_item(world, icj, b"plain text notes", language="en")
    add_exhibit(world, filing["id"], text["id"], world.lead)
    found = warning_codes(world, filing["id"], world.lead)
    assert found["page_count_unknown"]["exhibits"] == ["Annex 5"]


def test_exhibit_rows_are_one_per_item_per_filing(world):
    item = add_item(world, world.icc, b"one")
    filing = new_filing(world, world.icc).get_json()
    add_exhibit(world, filing["id"], item["id"])
    add_exhibit(world, filing["id"], item["id"])
    assert len(world.session.scalars(select(Exhibit)).all()) == 1
