"""Custody routes of the JSON API."""

from __future__ import annotations

import base64
import json

import pytest

from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.model import CustodyAction, Role
from casefile.verifier import merkle
from casefile.verifier.custody_verifier import verify_report
from casefile.verifier.signed_note import Checkpoint, open_note
from tests.factories import add_member, bearer, make_case, make_user


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    return {
        "case": case,
        "lead": bearer(session, lead),
        "viewer": bearer(session, viewer),
        "outsider": bearer(session, outsider),
    }


def test_public_key_is_published_without_signing_in(client, app):
    response = client.get("/api/v1/custody/public-key")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    key = response.get_data(as_text=True).strip()
    assert key == app.extensions["casefile.custody_keys"].verifier_key
    name, key_id, encoded = key.split("+", 2)  # base64 may hold "+" too
    assert name == "casefile.local/custody" and len(key_id) == 8
    assert base64.b64decode(encoded)[0] == 1  # Ed25519


def test_case_custody_report_verifies_with_the_published_key(client, world):
    response = client.get(f"/api/v1/cases/{world['case'].id}/custody", headers=world["viewer"])
    assert response.status_code == 200
    report = response.get_json()
    assert [e["action"] for e in report["entries"]] == ["case_created", "member_added"]
    assert [e["inclusion_proof"]["leaf_index"] for e in report["entries"]] == [
        e["seq"] for e in report["entries"]
    ]
    key = client.get("/api/v1/custody/public-key").get_data(as_text=True).strip()
    verdict = verify_report(report, key)
    assert verdict.valid, verdict.problems
    latest = client.get("/api/v1/custody/checkpoint", headers=world["viewer"])
    assert latest.status_code == 200
    assert latest.get_data(as_text=True) == report["checkpoint"]
    outsider = client.get(f"/api/v1/cases/{world['case'].id}/custody", headers=world["outsider"])
    assert outsider.status_code == 404
    assert outsider.get_json()["error"]["code"] == "not_found"


def test_checkpoints_history_and_consistency(client, world, app, session):
    keys = app.extensions["casefile.custody_keys"]
    first = custody_checkpoints.make_checkpoint(session, keys)
    custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED, details={"n": 1})
    second = custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    listing = client.get("/api/v1/custody/checkpoints?from=0", headers=world["lead"]).get_json()
    sizes = [c["size"] for c in listing["items"]]
    assert sizes[-2:] == [first.size, second.size]
    assert sizes == sorted(set(sizes))
    later = client.get(f"/api/v1/custody/checkpoints?from={second.size}", headers=world["lead"])
    assert [c["size"] for c in later.get_json()["items"]] == [second.size]
    bad = client.get("/api/v1/custody/checkpoints?from=x", headers=world["lead"])
    assert bad.status_code == 422
    body = open_note(listing["items"][-2]["note"], keys.verifier_key)
    assert Checkpoint.parse(body).size == first.size

    response = client.get(f"/api/v1/custody/consistency?old={first.size}&new={second.size}",
                          headers=world["lead"])
    assert response.status_code == 200
    proof = [bytes.fromhex(h) for h in response.get_json()["hashes"]]
    merkle.verify_consistency(first.size, second.size, first.root, second.root, proof)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("old=5&new=3", 422, "validation_error"),
        ("old=1&new=99999", 404, "not_found"),
        ("old=abc&new=3", 422, "validation_error"),
        ("old=-1&new=3", 422, "validation_error"),
        ("new=3", 422, "validation_error"),
    ],
)
def test_consistency_bad_input(client, world, query, status, code):
    response = client.get(f"/api/v1/custody/consistency?{query}", headers=world["lead"])
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_custody_routes_need_an_account(client, world):
    for path in ("/api/v1/custody/checkpoint", "/api/v1/custody/checkpoints",
                 "/api/v1/custody/consistency?old=0&new=0",
                 f"/api/v1/cases/{world['case'].id}/custody"):
        assert client.get(path).status_code == 401


def test_transfer_of_custody_is_recorded_by_members_who_may(client, world):
    case_id = world["case"].id
    transfer = {
        "from": "Field investigator A. (Cox's Bazar)",
        "to": "Evidence unit, The Hague",
        "when": "2026-11-20T09:30:00+06:30",
        "where": "Kutupalong camp office",
        "reason": "original SD card for forensic imaging",
        "condition": "sealed bag, intact",
        "seal_number": "CF-SEAL-00042",
        "media": "SanDisk 64 GB SD card",
    }
    response = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                           headers=world["lead"])
    assert response.status_code == 201, response.get_json()
    entry = response.get_json()
    assert entry["action"] == "custody_transferred"
    assert entry["details"]["seal_number"] == "CF-SEAL-00042"
    assert entry["details"]["when"] == "2026-11-20T03:00:00+00:00"
    report = client.get(f"/api/v1/cases/{case_id}/custody", headers=world["lead"]).get_json()
    assert report["entries"][-1]["details"]["to"] == "Evidence unit, The Hague"

    viewer = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                         headers=world["viewer"])
    assert viewer.status_code == 403
    outsider = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                           headers=world["outsider"])
    assert outsider.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"when": "2026-11-20T09:30:00"}, "when"),  # no zone: ambiguous
        ({"when": "2999-01-01T00:00:00Z"}, "when"),
        ({"from": ""}, "from"),
        ({"reason": None}, "reason"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_transfer_bad_input_changes_nothing(client, world, change, field):
    case_id = world["case"].id
    transfer = {"from": "A", "to": "B", "when": "2026-11-20T09:30:00Z", "reason": "r", **change}
    before = len(client.get(f"/api/v1/cases/{case_id}/custody",
                            headers=world["lead"]).get_json()["entries"])
    response = client.post(f"/api/v1/cases/{case_id}/custody/transfers",
                           data=json.dumps(transfer), content_type="application/json",
                           headers=world["lead"])
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    after = client.get(f"/api/v1/cases/{case_id}/custody", headers=world["lead"]).get_json()
    assert len(after["entries"]) == before


def test_transfer_links_a_scanned_receipt_of_the_same_case(client, world, session):
    import io  # noqa: PLC0415

    case_id = world["case"].id
    upload = client.post(
        f"/api/v1/cases/{case_id}/evidence", headers=world["lead"],
        data={"file": (io.BytesIO(b"%PDF-1.4 receipt signed by both parties\n"), "receipt.pdf")},
        content_type="multipart/form-data",
    )
    receipt = upload.get_json()
    transfer = {"from": "A", "to": "B", "when": "2026-11-20T09:30:00Z", "reason": "r",
                "receipt_evidence_id": receipt["id"]}
    response = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                           headers=world["lead"])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["details"]["receipt"] == {
        "id": receipt["id"], "ern": receipt["ern"], "sha256": receipt["sha256"]}
    other = make_case(session, make_user(session, "other-lead@example.org"), title="Other")
    wrong = {**transfer, "receipt_evidence_id": str(other.id)}
    refused = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=wrong,
                          headers=world["lead"])
    assert refused.status_code == 422
    assert "receipt_evidence_id" in refused.get_json()["error"]["fields"]


def _pages(client, path, headers, limit):
    pages, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(path + query, headers=headers)
        assert response.status_code == 200, response.get_json()
        pages.append(response.get_json())
        cursor = pages[-1]["next"]
        if cursor is None:
            return pages


def test_case_custody_comes_in_pages_that_each_verify(client, world):
    case_id = world["case"].id
    for number in range(5):
        transfer = {"from": "A", "to": f"B{number}", "when": "2026-11-20T09:30:00Z", "reason": "r"}
        assert client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                           headers=world["lead"]).status_code == 201  # fmt: skip
    key = client.get("/api/v1/custody/public-key").get_data(as_text=True).strip()
    path = f"/api/v1/cases/{case_id}/custody"
    whole = client.get(path, headers=world["viewer"]).get_json()  # default page: 50
    assert len(whole["entries"]) == 7 and whole["next"] is None
    pages = _pages(client, path, world["viewer"], limit=3)
    assert [len(page["entries"]) for page in pages] == [3, 3, 1]
    for page in pages:
        assert page["case"] == str(case_id)
        assert verify_report(page, key).valid
    seqs = [entry["seq"] for page in pages for entry in page["entries"]]
    assert seqs == [entry["seq"] for entry in whole["entries"]]


def test_item_custody_comes_in_pages_that_each_verify(client, world):
    import io  # noqa: PLC0415

    upload = client.post(
        f"/api/v1/cases/{world['case'].id}/evidence", headers=world["lead"],
        data={"file": (io.BytesIO(b"statement of W-3\n"), "w3.txt")},
        content_type="multipart/form-data",
    )  # fmt: skip
    item = upload.get_json()["id"]
    for _ in range(4):
        assert client.get(f"/api/v1/evidence/{item}/content",
                          headers=world["viewer"]).status_code == 200  # fmt: skip
    key = client.get("/api/v1/custody/public-key").get_data(as_text=True).strip()
    pages = _pages(client, f"/api/v1/evidence/{item}/custody", world["viewer"], limit=2)
    assert [len(page["entries"]) for page in pages] == [2, 2, 1]
    actions = [entry["action"] for page in pages for entry in page["entries"]]
    assert actions == ["intake"] + ["downloaded"] * 4
    for page in pages:
        assert page["item"] == item
        assert verify_report(page, key).valid


@pytest.mark.parametrize("query", ["?cursor=bm90LWEtY3Vyc29y", "?cursor=WyJzZXEiLCAtMV0",
                                   "?limit=0", "?limit=201", "?limit=x"])  # fmt: skip
def test_custody_paging_errors_are_422_after_authorization(client, world, query):
    path = f"/api/v1/cases/{world['case'].id}/custody{query}"
    response = client.get(path, headers=world["viewer"])
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) & {"cursor", "limit"}
    assert client.get(path, headers=world["outsider"]).status_code == 404


def test_transfer_names_items_each_of_which_gets_the_entry(client, world, session):
    import io  # noqa: PLC0415

    case_id = world["case"].id
    items = [
        client.post(f"/api/v1/cases/{case_id}/evidence", headers=world["lead"],
                    data={"file": (io.BytesIO(body), name)},
                    content_type="multipart/form-data").get_json()
        for name, body in (("card.jpg", b"\xff\xd8 card"), ("notes.txt", b"notes"))
    ]
    transfer = {"from": "A", "to": "B", "when": "2026-11-20T09:30:00Z", "reason": "r",
                "item_ids": [item["id"] for item in items]}
    response = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                           headers=world["lead"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [entry["item"] for entry in body["entries"]] == transfer["item_ids"]
    assert body["seq"] == body["entries"][0]["seq"]
    assert body["entries"][1]["details"]["item"]["ern"] == items[1]["ern"]
    for item in items:
        report = client.get(f"/api/v1/evidence/{item['id']}/custody",
                            headers=world["lead"]).get_json()
        assert report["entries"][-1]["action"] == "custody_transferred"

    # An item of another case (or none at all): 422, and nothing is recorded, not even for
    # the valid items named beside it.
    other = make_case(session, make_user(session, "other-lead@example.org"), title="Other")
    before = len(client.get(f"/api/v1/cases/{case_id}/custody?limit=200",
                            headers=world["lead"]).get_json()["entries"])
    for wrong in (str(other.id), "6f1c1e9e-0000-4000-8000-000000000000"):
        refused = client.post(f"/api/v1/cases/{case_id}/custody/transfers",
                              json={**transfer, "item_ids": [items[0]["id"], wrong]},
                              headers=world["lead"])
        assert refused.status_code == 422
        assert "item_ids" in refused.get_json()["error"]["fields"]
    after = client.get(f"/api/v1/cases/{case_id}/custody?limit=200",
                       headers=world["lead"]).get_json()["entries"]
    assert len(after) == before


def test_a_transfer_entry_does_not_tell_of_a_hidden_item_handed_over_with_it(client, world):
    """The lead hands over a standard item together with a restricted one; a viewer without a
    grant sees the standard item's entry, and nothing in it (no count of the items) says that
    another item went with it."""
    import io  # noqa: PLC0415

    case_id = world["case"].id
    shown, hidden = (
        client.post(f"/api/v1/cases/{case_id}/evidence", headers=world["lead"],
                    data={"file": (io.BytesIO(body), name), "sensitivity": sensitivity},
                    content_type="multipart/form-data").get_json()
        for name, body, sensitivity in (("card.jpg", b"\xff\xd8 card", "standard"),
                                        ("witness.txt", b"a witness", "restricted"))
    )
    transfer = {"from": "A", "to": "B", "when": "2026-11-20T09:30:00Z", "reason": "r",
                "item_ids": [shown["id"], hidden["id"]]}
    response = client.post(f"/api/v1/cases/{case_id}/custody/transfers", json=transfer,
                           headers=world["lead"])
    assert response.status_code == 201, response.get_json()

    report = client.get(f"/api/v1/evidence/{shown['id']}/custody",
                        headers=world["viewer"]).get_json()
    entry = report["entries"][-1]
    assert entry["action"] == "custody_transferred"
    text = json.dumps(entry)
    assert hidden["id"] not in text and hidden["ern"] not in text
    assert "2" not in {str(value) for value in entry["details"].values()}
    assert set(entry["details"]) <= {"from", "to", "when", "where", "media", "reason", "condition",
                                     "seal_number", "receipt", "item", "transfer"}
