"""The activity page, the item page and the case's JSON and PDF custody reports show a member
without a grant nothing of a restricted item: redacted rows only."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from casefile.verifier.custody_verifier import verify_report
from tests.restricted_custody import (
    SECRET_NAME,
    World,
    assert_no_trace,
    build,
    check_redacted_proofs,
    shown_entries,
)
from tests.web.test_auth_web import cheap_password_hashes, sign_in, text

REDACTED_ROW = "Redacted: this entry concerns an item you have no access to."


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "".join(page.extract_text() for page in reader.pages).replace("\n", "")


@pytest.mark.parametrize("email", ["viewer@example.org", "lead@example.org"])
def test_activity_page_without_a_grant(client, world, email):
    sign_in(client, email)
    page = text(client.get(f"/cases/{world.case.id}/activity"))
    assert page.count(REDACTED_ROW) == 5
    assert 'data-action="case_created"' in page
    assert world.public["ern"] in page
    assert_no_trace(world, page)
    uploader = f"{world.uploader.display_name} &lt;{world.uploader.email}&gt;"  # actor label
    assert uploader not in page and 'data-action="member_added"' in page
    # filtered by action or person, a hidden entry is left out, not shown redacted: being
    # listed under "Downloaded" or under the uploader would tell who did what to it
    for query in ("?action=downloaded", f"?actor={world.uploader.id}",
                  "?action=access_granted"):
        filtered = text(client.get(f"/cases/{world.case.id}/activity{query}"))
        assert REDACTED_ROW not in filtered and "No entries match." in filtered, query
        assert_no_trace(world, filtered)


def test_activity_page_with_a_grant(client, world):
    sign_in(client, "lawyer@example.org")
    page = text(client.get(f"/cases/{world.case.id}/activity"))
    assert REDACTED_ROW not in page
    assert world.secret["ern"] in page
    assert SECRET_NAME not in page  # sealed with the item's metadata, not in the log
    assert f"{world.uploader.display_name} &lt;{world.uploader.email}&gt;" in page
    downloads = text(client.get(f"/cases/{world.case.id}/activity?action=downloaded"))
    assert 'data-action="downloaded"' in downloads


def test_item_page_redacts_the_transfer_with_a_hidden_receipt(client, world):
    sign_in(client, "viewer@example.org")
    page = text(client.get(f"/evidence/{world.public['id']}"))
    assert page.count(REDACTED_ROW) == 1
    assert "Physical custody transferred" not in page
    assert_no_trace(world, page)


@pytest.mark.parametrize("email", ["viewer@example.org", "lead@example.org"])
def test_reports_without_a_grant(client, world, app, email):
    sign_in(client, email)
    response = client.get(f"/cases/{world.case.id}/custody.json")
    assert response.status_code == 200
    assert_no_trace(world, response.get_data(as_text=True))
    report = json.loads(response.get_data(as_text=True))
    key = app.extensions["casefile.custody_keys"].verifier_key
    assert check_redacted_proofs(report, key) == 5
    assert verify_report(report, key).valid
    assert all(entry["actor"]["id"] != str(world.uploader.id) for entry in shown_entries(report))

    pdf = client.get(f"/cases/{world.case.id}/custody.pdf")
    assert pdf.status_code == 200
    content = pdf_text(pdf.data)
    assert "Custody report: Tula Toli" in content
    assert_no_trace(world, content)
    assert f"{world.uploader.display_name} <{world.uploader.email}>" not in content
    redacted = [entry for entry in report["entries"] if entry.get("redacted")]
    for entry in redacted:  # the leaf hashes are printed, so the PDF can be checked too
        assert entry["leaf_hash"][:16] in content


def test_reports_with_a_grant(client, world):
    sign_in(client, "lawyer@example.org")
    report = json.loads(client.get(f"/cases/{world.case.id}/custody.json").get_data(as_text=True))
    assert not [entry for entry in report["entries"] if entry.get("redacted")]
    content = pdf_text(client.get(f"/cases/{world.case.id}/custody.pdf").data)
    assert world.secret["ern"] in content
    assert SECRET_NAME not in content  # sealed with the item's metadata, not in the log


def test_verify_button_accepts_a_redacted_log(client, world):
    sign_in(client, "viewer@example.org")
    page = text(client.get(f"/cases/{world.case.id}/activity"))
    from tests.web.test_auth_web import find_form  # noqa: PLC0415

    form = find_form(page, f"/cases/{world.case.id}/activity/verify")
    response = client.post(f"/cases/{world.case.id}/activity/verify", data=form.fields)
    assert response.status_code == 303
    page = text(client.get(f"/cases/{world.case.id}/activity"))
    assert "Verified: every entry of this case is in the signed log" in page
