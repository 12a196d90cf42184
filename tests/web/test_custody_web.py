"""A case's activity page: filters, the verify button, reports, transfers of custody."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from pypdf import PdfReader

from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import log as custody_log
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


def test_activity_lists_entries_as_sentences_and_filters(client, world):
    sign_in(client, "lead@example.org")
    page = text(client.get(activity(world["case"])))
    assert 'data-action="case_created"' in page and 'data-action="member_added"' in page
    # Each action a sentence, the stored details behind a disclosure, no English keys shown.
    assert "opened the case “Tula Toli”" in page
    assert "added viewer@example.org to the case as Viewer" in page
    assert "<summary>Recorded details</summary>" in page
    assert "<dt>ern pattern</dt>" not in page
    only_members = text(client.get(activity(world["case"]) + "?action=member_added"))
    assert 'data-action="member_added"' in only_members
    assert 'data-action="case_created"' not in only_members
    by_viewer = text(client.get(activity(world["case"]) + f"?actor={world['viewer'].id}"))
    assert "No entries match." in by_viewer
    future = text(client.get(activity(world["case"]) + "?since=2999-01-01"))
    assert "No entries match." in future
    garbage = client.get(activity(world["case"]) + "?since=yesterday&actor=nobody&action=zzz")
    assert garbage.status_code == 200


def test_activity_is_paginated_and_keeps_the_filters(client, world, session, monkeypatch):
    from casefile.web import custody as custody_web  # noqa: PLC0415

    monkeypatch.setattr(custody_web, "PAGE_SIZE", 2)
    for number in range(3):
        custody_log.append(session, world["lead"], CustodyAction.CUSTODY_TRANSFERRED,
                           case_id=world["case"].id,
                           details={"from": "A", "to": f"B{number}", "reason": "r"})
    session.commit()
    sign_in(client, "lead@example.org")
    seen, url = [], activity(world["case"]) + "?action=custody_transferred"
    while url:
        page = text(client.get(url))
        rows = page.count('data-action="custody_transferred"')
        assert rows <= 2
        seen.extend(f"B{n}" for n in range(3) if f"handed physical evidence to B{n}" in page)
        match = re.search(r'rel="next" href="([^"]+)"', page)
        url = html.unescape(match.group(1)) if match else None
        if url:
            assert "action=custody_transferred" in url and "cursor=" in url
    assert seen == ["B0", "B1", "B2"]
    assert client.get(activity(world["case"]) + "?cursor=zzz").status_code == 422


def test_plurals_come_from_the_catalogue(client, world):
    sign_in(client, "lead@example.org")
    page = text(client.get(activity(world["case"])))
    assert "2 entries on this page" in page
    one = text(client.get(activity(world["case"]) + "?action=case_created"))
    assert "1 entry on this page" in one and "1 entries" not in one
    client.post("/language", data={**find_form(page, "/language").fields, "locale": "my",
                                   "next": activity(world["case"])})
    burmese = text(client.get(activity(world["case"]) + "?action=case_created"))
    assert "1 entry on this page" not in burmese
    assert "ဖွင့်ခဲ့သည်" in burmese  # the sentence for a case opened, in Burmese


def test_verify_button_runs_the_offline_verifier(client, world):
    sign_in(client, "viewer@example.org")
    response = submit(client, activity(world["case"]),
                      action=f"/cases/{world['case'].id}/activity/verify")
    assert response.status_code == 303  # Post/Redirect/Get: the verdict is on the log's page
    assert response.headers["Location"].endswith(activity(world["case"]))
    page = text(client.get(activity(world["case"])))
    assert "Verified: every entry of this case is in the signed log" in page


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
    assert response.status_code == 303
    page = text(client.get(activity(world["case"])))
    assert "Verification FAILED" in page
    assert 'class="flash error" role="alert"' in page


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
    words = " ".join(content.split())
    assert "Custody report: Tula Toli" in content
    assert data["entries"][0]["leaf_hash"][:16] in content.replace("\n", "")
    # The case and a readable sentence per entry come first; the verification appendix last.
    assert words.index("Tula Toli") < words.index("How to check this report without Casefile")
    assert words.index("added viewer@example.org") < words.index("Signed checkpoint")
    assert "International Criminal Court (ICC)" in words


def upload(client, case, name, body):
    page = text(client.get(f"/cases/{case.id}/evidence"))
    form = find_form(page, f"/cases/{case.id}/evidence")
    response = client.post(f"/cases/{case.id}/evidence",
                           data={**form.fields, "sensitivity": "standard",
                                 "file": [(io.BytesIO(body), name)]},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    items = client.get(f"/api/v1/cases/{case.id}/evidence").get_json()["items"]
    return next(item for item in items if item["original_filename"] == name)


def transfer_page(case):
    return f"/cases/{case.id}/transfers"


TRANSFER = {
    "from_party": "Investigator K.", "to_party": "Evidence unit",
    "when": "2026-11-01T10:00", "where": "Cox's Bazar", "media": "Original notebook",
    "reason": "Archiving", "condition": "good", "seal_number": "S-1",
}


def test_transfer_form_records_an_entry(client, world, session):
    sign_in(client, "lead@example.org")
    page = text(client.get(activity(world["case"])))
    assert f'href="{transfer_page(world["case"])}"' in page  # the form is a page of its own
    response = submit(client, transfer_page(world["case"]), TRANSFER,
                      action=transfer_page(world["case"]))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(activity(world["case"]))
    entries = custody_entries.entries_for(session, case_id=world["case"].id,
                                  action=CustodyAction.CUSTODY_TRANSFERRED)
    assert len(entries) == 1 and entries[0].item_id is None
    assert json.loads(entries[0].details)["seal_number"] == "S-1"
    page = text(client.get(activity(world["case"])))
    assert "Transfer of custody recorded." in page
    assert "recorded that Investigator K. handed Original notebook to Evidence unit" in page

    bad = submit(client, transfer_page(world["case"]), {**TRANSFER, "when": "2999-01-01T00:00"},
                 action=transfer_page(world["case"]))
    assert bad.status_code == 422
    assert "a transfer cannot be in the future" in text(bad)
    assert 'value="Original notebook"' in text(bad)  # the input is kept
    assert session.query(CustodyEntry).filter_by(
        action=CustodyAction.CUSTODY_TRANSFERRED).count() == 1


def test_transfer_names_items_and_shows_in_their_timelines(client, world, session):
    sign_in(client, "lead@example.org")
    card = upload(client, world["case"], "sd-card.jpg", b"\xff\xd8 photo from the card")
    notebook = upload(client, world["case"], "notebook.txt", b"field notes")
    receipt = upload(client, world["case"], "receipt.pdf", b"%PDF-1.4 receipt")
    form_page = text(client.get(transfer_page(world["case"])))
    assert card["ern"] in form_page and "sd-card.jpg" in form_page
    response = submit(client, transfer_page(world["case"]),
                      {**TRANSFER, "items": [card["id"], notebook["id"]],
                       "receipt": receipt["ern"]},
                      action=transfer_page(world["case"]))
    assert response.status_code == 303
    assert "Transfer of custody recorded for 2 items." in text(client.get(activity(world["case"])))
    entries = custody_entries.entries_for(session, case_id=world["case"].id,
                                  action=CustodyAction.CUSTODY_TRANSFERRED)
    assert sorted(str(entry.item_id) for entry in entries) == sorted([card["id"], notebook["id"]])
    assert len({json.loads(entry.details)["transfer"] for entry in entries}) == 1
    for item in (card, notebook):
        timeline = text(client.get(f"/evidence/{item['id']}"))
        # The ERN is kept on one line (a token), the sentence otherwise plain text.
        assert f'handed <span class="token">{item["ern"]}</span> to Evidence unit' in timeline
        # The receipt is a link to its item, not JSON.
        assert f'href="/evidence/{receipt["id"]}">{receipt["ern"]}</a>' in timeline
    untouched = text(client.get(f"/evidence/{receipt['id']}"))
    assert "handed" not in untouched


def test_transfer_refuses_items_of_other_cases_and_records_nothing(client, world, session):
    sign_in(client, "lead@example.org")
    other = make_case(session, world["lead"], title="Other case")
    foreign = upload(client, other, "foreign.txt", b"another case's file")
    before = session.query(CustodyEntry).count()
    response = submit(client, transfer_page(world["case"]), {**TRANSFER, "items": [foreign["id"]]},
                      action=transfer_page(world["case"]))
    assert response.status_code == 422
    assert "is not a valid choice" in text(response)
    assert session.query(CustodyEntry).count() == before


def test_viewer_cannot_record_transfers_and_outsiders_see_nothing(client, world, session):
    make_user(session, "outsider@example.org")
    sign_in(client, "viewer@example.org")
    page = text(client.get(activity(world["case"])))
    assert f"/cases/{world['case'].id}/transfers" not in page
    assert client.get(f"/cases/{world['case'].id}/transfers").status_code == 403
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
