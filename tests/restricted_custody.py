"""A case whose custody log mentions a restricted item in every way it can: its intake, a
download, the same file submitted again, a grant, a transfer whose receipt it is (of a
standard item). Shared by the API and web tests of redaction."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from casefile.model import Case, Role, User
from casefile.verifier import merkle
from casefile.verifier.signed_note import Checkpoint, open_note
from tests.factories import add_member, bearer, make_case, make_user

SECRET_BYTES = b"name and address of witness W-17, Kutupalong block C\n"
SECRET_NAME = "witness-W17-identity.txt"
REDACTED_KEYS = {"seq", "time", "leaf_hash", "redacted", "inclusion_proof"}


@dataclass
class World:
    case: Case
    lead: User
    uploader: User  # an investigator: uploaded the restricted item, so holds a grant
    grantee: User  # a lawyer the lead granted access to
    viewer: User  # no grant
    headers: dict[str, dict[str, str]]
    secret: dict[str, Any]  # the restricted item as its uploader sees it
    public: dict[str, Any]  # a standard item

    def traces(self) -> list[str]:
        """What must not appear anywhere for a member without a grant."""
        return [
            self.secret["id"],
            self.secret["ern"],
            self.secret["sha256"],
            SECRET_NAME,
            "witness-W17",
            self.secret["sha256"][:16],
        ]


def _upload(
    client: FlaskClient, case: Case, headers: dict[str, str], body: bytes, name: str, **fields: str
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/cases/{case.id}/evidence",
        headers=headers,
        data={**fields, "file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code in (200, 201), response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def build(session: Session, client: FlaskClient) -> World:
    lead = make_user(session, "lead@example.org")
    uploader = make_user(session, "investigator@example.org")
    grantee = make_user(session, "lawyer@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, uploader, Role.INVESTIGATOR)
    add_member(session, case, lead, grantee, Role.LAWYER)
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = {
        name: bearer(session, user)
        for name, user in (
            ("lead", lead),
            ("uploader", uploader),
            ("grantee", grantee),
            ("viewer", viewer),
        )
    }
    secret = _upload(
        client, case, headers["uploader"], SECRET_BYTES, SECRET_NAME, sensitivity="restricted"
    )
    public = _upload(client, case, headers["lead"], b"%PDF-1.4 a public report\n", "report.pdf")
    again = _upload(client, case, headers["uploader"], SECRET_BYTES, "copy.txt")
    assert again["id"] == secret["id"]  # submitted again: the same item
    download = client.get(f"/api/v1/evidence/{secret['id']}/content", headers=headers["uploader"])
    assert download.status_code == 200 and download.data == SECRET_BYTES
    granted = client.post(
        f"/api/v1/evidence/{secret['id']}/grants",
        headers=headers["lead"],
        json={"email": grantee.email},
    )
    assert granted.status_code == 201, granted.get_json()
    transfer = client.post(
        f"/api/v1/cases/{case.id}/custody/transfers",
        headers=headers["uploader"],
        json={
            "from": "Investigator K.",
            "to": "Evidence unit",
            "when": "2026-11-20T09:30:00Z",
            "reason": "original report handed over",
            "item_id": public["id"],
            "receipt_evidence_id": secret["id"],
        },
    )
    assert transfer.status_code == 201, transfer.get_json()
    return World(case, lead, uploader, grantee, viewer, headers, secret, public)


def check_redacted_proofs(report: dict[str, Any], verifier_key: str) -> int:
    """Every redacted entry's leaf hash is in the tree the report's checkpoint signs, by its
    inclusion proof alone (RFC 9162), checked here without the report verifier. Returns how
    many entries were redacted."""
    checkpoint = Checkpoint.parse(open_note(report["checkpoint"], verifier_key))
    redacted = [entry for entry in report["entries"] if entry.get("redacted")]
    for entry in redacted:
        assert set(entry) == REDACTED_KEYS, entry
        proof = entry["inclusion_proof"]
        assert proof["leaf_index"] == entry["seq"] and proof["tree_size"] == checkpoint.size
        merkle.verify_inclusion(
            bytes.fromhex(entry["leaf_hash"]),
            entry["seq"],
            checkpoint.size,
            [bytes.fromhex(value) for value in proof["hashes"]],
            checkpoint.root,
        )
    return len(redacted)


def assert_no_trace(world: World, body: str) -> None:
    for trace in world.traces():
        assert trace.lower() not in body.lower(), trace


def shown_entries(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for entry in report["entries"] if not entry.get("redacted")]


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False)
