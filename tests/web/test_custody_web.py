"""A case's activity page: filters, the verify button, reports, transfers of custody."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from casefile.logic.custody import entries as custody_entries
from casefile.model import CustodyAction, CustodyEntry, Role
from casefile.verifier.custody_verifier import verify_report
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, submit, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, viewer, Role.VIEWER)
    return {"lead": lead, "viewer": viewer, "case": case}


def activity(case):
    return f"/cases/{case.id}/activity"


def test_activity_lists_entries_and_filters(client, world):
    sign_in(client, "lead@example.org")
    page = text(client.get(activity(world["case"])))
    assert "<td>Case created</td>" in page and "<td>Member added</td>" in page
    assert "viewer@example.org" in page
    only_members = text(client.get(activity(world["case"]) + "?action=member_added"))
    assert "<td>Member added</td>" in only_members
    assert "<td>Case created</td>" not in only_members
    by_viewer = text(client.get(activity(world["case"]) + f"?actor={world['viewer'].id}"))
    assert "No entries match." in by_viewer
    future = text(client.get(activity(world["case"]) + "?since=2999-01-01"))
    assert "No entries match." in future
    garbage = client.get(activity(world["case"]) + "?since=yesterday&actor=nobody&action=zzz")
    assert garbage.status_code == 200


def test_verify_button_runs_the_offline_verifier(client, world):
    sign_in(client, "viewer@example.org")
    response = submit(client, activity(world["case"]),
                      action=f"/cases/{world['case'].id}/activity/verify")
    assert response.status_code == 200
    assert "Verified: every entry of this case is in the signed log" in text(response)


def test_verify_button_reports_a_failure(client, world, session, monkeypatch):
    sign_in(client, "lead@example.org")
    page = text(client.get(activity(world["case"])))
    form = find_form(page, f"/cases/{world['case'].id}/activity/verify")
    original = custody_entries.entry_json

    def tampered(entry):
        data = original(entry)
        data["details"] = {**data["details"], "title": "something else"}
        return data

    monkeypatch.setattr(custody_entries, "entry_json", tampered)
    response = client.post(f"/cases/{world['case'].id}/activity/verify", data=form.fields)
    assert "Verification FAILED" in text(response)


def test_reports_download_as_json_and_pdf(client, world, app):
    sign_in(client, "lead@example.org")
    report = client.get(f"/cases/{world['case'].id}/custody.json")
    assert report.status_code == 200
    assert "attachment" in report.headers["Content-Disposition"]
    data = json.loads(report.get_data(as_text=True))
    assert verify_report(data, app.extensions["casefile.custody_keys"].verifier_key).valid
    pdf = client.get(f"/cases/{world['case'].id}/custody.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.data))
    content = "\n".join(page.extract_text() for page in reader.pages)
    assert "Custody report: Tula Toli" in content
    assert data["entries"][0]["leaf_hash"][:16] in content.replace("\n", "")
    assert "How to check this report without Casefile" in content


def test_transfer_form_records_an_entry(client, world, session):
    sign_in(client, "lead@example.org")
    fields = {
        "from_party": "Investigator K.", "to_party": "Evidence unit",
        "when": "2026-11-01T10:00", "where": "Cox's Bazar", "media": "Original notebook",
        "reason": "Archiving", "condition": "good", "seal_number": "S-1",
    }
    response = submit(client, activity(world["case"]), fields,
                      action=f"/cases/{world['case'].id}/transfers")
    assert response.status_code == 302
    entries = custody_entries.entries_for(session, case_id=world["case"].id,
                                  action=CustodyAction.CUSTODY_TRANSFERRED)
    assert len(entries) == 1
    assert json.loads(entries[0].details)["seal_number"] == "S-1"
    page = text(client.get(activity(world["case"])))
    assert "<td>Physical custody transferred</td>" in page and "Original notebook" in page

    bad = submit(client, activity(world["case"]), {**fields, "when": "2999-01-01T00:00"},
                 action=f"/cases/{world['case'].id}/transfers")
    assert bad.status_code == 200
    assert "a transfer cannot be in the future" in text(bad)
    assert session.query(CustodyEntry).filter_by(
        action=CustodyAction.CUSTODY_TRANSFERRED).count() == 1


def test_viewer_cannot_record_transfers_and_outsiders_see_nothing(client, world, session):
    make_user(session, "outsider@example.org")
    sign_in(client, "viewer@example.org")
    page = text(client.get(activity(world["case"])))
    assert f"/cases/{world['case'].id}/transfers" not in page
    token = find_form(page, f"/cases/{world['case'].id}/activity/verify").fields
    response = client.post(f"/cases/{world['case'].id}/transfers",
                           data={**token, "from_party": "a", "to_party": "b",
                                 "when": "2026-11-01T10:00", "reason": "r"})
    assert response.status_code == 403
    # An invalid transfer too: the viewer's role is checked before the form is read.
    for bad in ({"when": "2999-01-01T00:00"}, {"when": "not a date"}, {"from_party": ""}):
        response = client.post(f"/cases/{world['case'].id}/transfers",
                               data={**token, "from_party": "a", "to_party": "b",
                                     "when": "2026-11-01T10:00", "reason": "r", **bad})
        assert response.status_code == 403, bad
    client.post("/logout", data=token)
    sign_in(client, "outsider@example.org")
    for path in (activity(world["case"]), f"/cases/{world['case'].id}/custody.json",
                 f"/cases/{world['case'].id}/custody.pdf"):
        assert client.get(path).status_code == 404
