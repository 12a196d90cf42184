"""Evidence pages: list, multi-file upload, item page with custody and verify, download."""

from __future__ import annotations

import hashlib
import io

import pytest

from casefile.model import Role
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    return {"case": case}


def upload(client, case, files, **fields):
    page = text(client.get(f"/cases/{case.id}/evidence"))
    form = find_form(page, f"/cases/{case.id}/evidence")
    data = {**form.fields, **fields, "file": [(io.BytesIO(body), name) for name, body in files]}
    return client.post(f"/cases/{case.id}/evidence", data=data,
                       content_type="multipart/form-data")


def test_upload_several_files_and_open_an_item(client, world):
    sign_in(client, "lead@example.org")
    response = upload(client, world["case"], [("a.txt", b"first statement\n"),
                                              ("b.txt", b"second statement\n")],
                      collected_by="Investigator K.", sensitivity="standard")
    assert response.status_code == 303
    listing = text(client.get(f"/cases/{world['case'].id}/evidence"))
    assert "MMR-OTP-0001-0001" in listing and "MMR-OTP-0001-0002" in listing
    again = upload(client, world["case"], [("copy.txt", b"first statement\n")])
    assert again.status_code == 303
    listing = text(client.get(f"/cases/{world['case'].id}/evidence"))
    assert "0 item(s) added, 1 already in the case." in listing

    api_items = client.get(f"/api/v1/cases/{world['case'].id}/evidence").get_json()["items"]
    first = next(item for item in api_items if item["ern"].endswith("0001"))
    page = text(client.get(f"/evidence/{first['id']}"))
    assert first["sha256"] in page
    assert "Investigator K." in page
    assert "Evidence received" in page and "Same file submitted again" in page
    verify = find_form(page, f"/evidence/{first['id']}/verify")
    verified = client.post(f"/evidence/{first['id']}/verify", data=verify.fields)
    assert verified.status_code == 303
    verified_page = text(client.get(f"/evidence/{first['id']}"))
    assert "Verified: every entry of this item is in the signed log" in verified_page
    download = client.get(f"/evidence/{first['id']}/download")
    assert hashlib.sha256(download.data).hexdigest() == first["sha256"]
    assert "attachment" in download.headers["Content-Disposition"]
    assert client.get(f"/evidence/{first['id']}/custody.pdf").mimetype == "application/pdf"
    assert client.get(f"/evidence/{first['id']}/custody.json").get_json()["ern"] == first["ern"]


def test_viewer_sees_but_cannot_upload(client, world, session):
    sign_in(client, "lead@example.org")
    upload(client, world["case"], [("a.txt", b"statement\n")])
    client.post("/logout", data=find_form(text(client.get("/cases")), "/logout").fields)
    sign_in(client, "viewer@example.org")
    page = text(client.get(f"/cases/{world['case'].id}/evidence"))
    assert "MMR-OTP-0001-0001" in page
    assert 'id="upload-form"' not in page
    token = find_form(page, "/logout").fields
    response = client.post(f"/cases/{world['case'].id}/evidence",
                           data={**token, "file": (io.BytesIO(b"x"), "x.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 403


def test_files_are_refused_on_other_routes(client, world):
    sign_in(client, "lead@example.org")
    token = find_form(text(client.get("/cases")), "/logout").fields
    response = client.post("/cases/new", data={**token, "file": (io.BytesIO(b"x"), "x.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 400


def test_evidence_table_filters_and_sorts(client, world):
    sign_in(client, "lead@example.org")
    upload(client, world["case"], [("note.txt", b"plain text note\n")], collected_by="Aung")
    upload(client, world["case"], [("doc.pdf", b"%PDF-1.4\n%%EOF\n")], collected_by="Mya")
    base = f"/cases/{world['case'].id}/evidence"
    only_pdf = text(client.get(base + "?kind=application/pdf"))
    assert "MMR-OTP-0001-0002" in only_pdf and "MMR-OTP-0001-0001" not in only_pdf
    by_aung = text(client.get(base + "?collector=aun"))
    assert "MMR-OTP-0001-0001" in by_aung and "MMR-OTP-0001-0002" not in by_aung
    by_size = text(client.get(base + "?sort=size"))
    assert by_size.index("MMR-OTP-0001-0001") < by_size.index("MMR-OTP-0001-0002")
    none = text(client.get(base + "?since=2999-01-01"))
    assert "No items match." in none
