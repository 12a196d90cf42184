"""Case-level custody through the API shows nothing of a restricted item to a member without
a grant (leads included), only redacted entries whose leaf hashes still verify."""

from __future__ import annotations

import io

import pytest

from casefile.verifier.custody_verifier import verify_report
from tests.api.test_openapi import Contract
from tests.restricted_custody import (
    SECRET_BYTES,
    SECRET_NAME,
    World,
    assert_no_trace,
    build,
    check_redacted_proofs,
    dumps,
    shown_entries,
)

HIDDEN_ACTIONS = ["intake", "submitted_again", "downloaded", "access_granted",
                  "custody_transferred"]


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


def case_report(client, world, who):
    response = client.get(f"/api/v1/cases/{world.case.id}/custody", headers=world.headers[who])
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.parametrize("who", ["viewer", "lead"])
def test_member_without_a_grant_sees_no_trace_of_the_item(client, world, app, who):
    report = case_report(client, world, who)
    assert_no_trace(world, dumps(report))
    shown = shown_entries(report)
    assert [entry["action"] for entry in shown] == [
        "case_created", "member_added", "member_added", "member_added", "intake"]
    assert shown[-1]["item"] == world.public["id"]
    # the uploader acted only on the restricted item: nothing shows her at work
    assert all(entry["actor"]["id"] != str(world.uploader.id) for entry in shown)
    assert all(entry["details"].get("size") != len(SECRET_BYTES) for entry in shown)
    key = app.extensions["casefile.custody_keys"].verifier_key
    assert check_redacted_proofs(report, key) == len(HIDDEN_ACTIONS)
    verdict = verify_report(report, key)
    assert verdict.valid, verdict.problems
    assert verdict.entries_checked == len(report["entries"])


@pytest.mark.parametrize("who", ["uploader", "grantee"])
def test_grantees_see_every_entry_in_full(client, world, who):
    report = case_report(client, world, who)
    assert not [entry for entry in report["entries"] if entry.get("redacted")]
    actions = [entry["action"] for entry in report["entries"]]
    assert actions[4:] == ["intake", "intake", "submitted_again", "downloaded",
                           "access_granted", "custody_transferred"]
    body = dumps(report)
    for trace in (world.secret["id"], world.secret["ern"], world.secret["sha256"]):
        assert trace in body
    # The file name of a restricted item is sealed with its metadata, never in the log: not
    # even a grantee reads it there, only a commitment to it.
    assert SECRET_NAME not in body
    intake = report["entries"][4]
    assert intake["details"]["metadata"] == "sealed"
    assert intake["details"]["filename_commitment"].startswith("hmac-sha256:")
    assert intake["details"]["size"] == len(SECRET_BYTES)
    assert intake["actor"]["id"] == str(world.uploader.id)


def test_redacted_entries_stand_where_the_full_ones_do(client, world):
    """The same sequence numbers and leaf hashes for both readers: the redacted report is the
    full one with contents withheld, nothing left out."""
    full = case_report(client, world, "grantee")
    redacted = case_report(client, world, "viewer")
    assert [(e["seq"], e["leaf_hash"]) for e in redacted["entries"]] == [
        (e["seq"], e["leaf_hash"]) for e in full["entries"]]
    by_seq = {entry["seq"]: entry for entry in full["entries"]}
    hidden = [entry for entry in redacted["entries"] if entry.get("redacted")]
    assert [by_seq[entry["seq"]]["action"] for entry in hidden] == HIDDEN_ACTIONS
    assert [entry["time"] for entry in hidden] == [by_seq[e["seq"]]["time"] for e in hidden]


def test_item_report_redacts_a_transfer_whose_receipt_is_hidden(client, world, app):
    url = f"/api/v1/evidence/{world.public['id']}/custody"
    viewer = client.get(url, headers=world.headers["viewer"]).get_json()
    assert [entry.get("action", "redacted") for entry in viewer["entries"]] == [
        "intake", "redacted"]
    assert_no_trace(world, dumps(viewer))
    key = app.extensions["casefile.custody_keys"].verifier_key
    assert check_redacted_proofs(viewer, key) == 1
    assert verify_report(viewer, key).valid
    grantee = client.get(url, headers=world.headers["grantee"]).get_json()
    transfer = grantee["entries"][-1]
    assert transfer["action"] == "custody_transferred"
    assert transfer["details"]["receipt"]["ern"] == world.secret["ern"]


def test_redacted_report_matches_its_documented_schema(client, world):
    document = client.get("/api/v1/openapi.json").get_json()
    response = client.get(f"/api/v1/cases/{world.case.id}/custody",
                          headers=world.headers["viewer"])
    Contract(document).check(response, "/api/v1/cases/{case_id}/custody", "get")


def test_a_tampered_redacted_leaf_hash_fails_verification(client, world, app):
    report = case_report(client, world, "viewer")
    entry = next(entry for entry in report["entries"] if entry.get("redacted"))
    entry["leaf_hash"] = "00" * 32
    verdict = verify_report(report, app.extensions["casefile.custody_keys"].verifier_key)
    assert not verdict.valid
    assert any(problem.startswith(f"entry {entry['seq']}:") for problem in verdict.problems)


def test_deleting_a_restricted_item_leaves_no_trace_either(client, world, app):
    granted = client.post(f"/api/v1/evidence/{world.secret['id']}/grants",
                          headers=world.headers["lead"], json={"email": world.lead.email})
    assert granted.status_code == 201
    deleted = client.open(f"/api/v1/evidence/{world.secret['id']}", method="DELETE",
                          headers=world.headers["lead"], json={"reason": "witness withdrew"})
    assert deleted.status_code in (200, 204), deleted.get_json()
    viewer = case_report(client, world, "viewer")
    assert_no_trace(world, dumps(viewer))
    assert "witness withdrew" not in dumps(viewer)
    key = app.extensions["casefile.custody_keys"].verifier_key
    assert check_redacted_proofs(viewer, key) == len(HIDDEN_ACTIONS) + 2  # grant, deletion
    lead = case_report(client, world, "lead")
    assert lead["entries"][-1]["action"] == "deleted"
    assert lead["entries"][-1]["details"]["ern"] == world.secret["ern"]


def test_a_members_own_copy_of_the_same_bytes_is_not_redacted(client, world, app):
    """Uploading bytes a hidden item holds gives the member an item of their own; its entries
    name the same SHA-256, but they are about the member's item: shown in full, or the
    redaction itself would tell that a hidden item holds those bytes."""
    own = client.post(
        f"/api/v1/cases/{world.case.id}/evidence", headers=world.headers["lead"],
        data={"file": (io.BytesIO(SECRET_BYTES), "my-copy.txt")},
        content_type="multipart/form-data",
    )
    assert own.status_code == 201, own.get_json()
    mine = own.get_json()
    assert mine["id"] != world.secret["id"] and mine["sha256"] == world.secret["sha256"]
    report = case_report(client, world, "lead")
    intake = report["entries"][-1]
    assert intake.get("redacted") is None and intake["item"] == mine["id"]
    assert intake["details"]["sha256"] == world.secret["sha256"]
    body = dumps(report)
    for trace in (world.secret["id"], world.secret["ern"], SECRET_NAME):
        assert trace not in body
    key = app.extensions["casefile.custody_keys"].verifier_key
    # and the hidden item's own log records the resubmission: redacted for the lead
    assert check_redacted_proofs(report, key) == len(HIDDEN_ACTIONS) + 1
    full = case_report(client, world, "grantee")
    resubmitted = [entry for entry in full["entries"][-2:] if entry["item"] == world.secret["id"]]
    assert len(resubmitted) == 1
    assert report["entries"][full["entries"].index(resubmitted[0])].get("redacted") is True
    item = client.get(f"/api/v1/evidence/{mine['id']}/custody", headers=world.headers["lead"])
    assert [entry.get("action") for entry in item.get_json()["entries"]] == ["intake"]
