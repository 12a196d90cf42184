"""Evidence pages: list, multi-file upload, item page with custody and verify, download."""

from __future__ import annotations

import hashlib
import io
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from casefile.logic.evidence.intake import IntakeStream
from casefile.model import CustodyEntry, Evidence
from tests.factories import make_case_with_viewer
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    return {"case": make_case_with_viewer(session)}


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
    assert "0 files added. 1 was already in the case." in listing

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


# --- the upload form: the API's fields, limits shown and kept, errors by their field --------


def field_box(page: str, name: str) -> str:
    """The markup of the form field `name` (its label, input, hint and errors)."""
    for box in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.DOTALL):
        if f'name="{name}"' in box:
            return box
    raise AssertionError(f"no field {name!r} on the page")


def api_item(client, case, ern):
    items = client.get(f"/api/v1/cases/{case.id}/evidence").get_json()["items"]
    return next(item for item in items if item["ern"] == ern)


def test_the_form_takes_title_time_collected_source_and_declared_hashes(client, world):
    sign_in(client, "lead@example.org")
    content = b"Witness statement W-12, taken in Kutupalong.\n"
    digest = hashlib.sha256(content).hexdigest()
    md5 = hashlib.md5(content).hexdigest()  # noqa: S324 - a collector's tool declares MD5
    page = text(client.get(f"/cases/{world['case'].id}/evidence"))
    assert 'maxlength="20000"' in field_box(page, "description")
    assert 'maxlength="500"' in field_box(page, "title")
    assert 'type="datetime-local"' in field_box(page, "collected_at")
    assert "WhatsApp from witness W-12" in unescape(field_box(page, "source"))
    # The digests are typed as a collector's tool prints them: capitals, in groups.
    spaced = " ".join(digest[i : i + 8].upper() for i in range(0, 64, 8))
    response = upload(client, world["case"], [("statement.txt", content)],
                      title="Statement of W-12", collected_at="2017-08-30T09:15",
                      collected_offset="+06:30", source="WhatsApp from witness W-12",
                      declared_sha256=spaced, declared_md5=md5)
    assert response.status_code == 303
    assert "1 file added." in text(client.get(response.headers["Location"]))
    item = api_item(client, world["case"], "MMR-OTP-0001-0001")
    assert item["title"] == "Statement of W-12"
    assert item["declared_hashes"] == {"sha256": digest, "md5": md5}
    assert "declared_hash_mismatch" not in item["flags"]
    # In UTC, and as entered with its offset.
    assert item["collector"]["collected_at"] == "2017-08-30T02:45:00+00:00"
    assert item["collector"]["collected_at_entered"] == "2017-08-30T09:15:00+06:30"
    assert item["collector"]["source"] == "WhatsApp from witness W-12"
    shown = text(client.get(f"/evidence/{item['id']}"))
    assert "Statement of W-12" in shown and digest in shown
    assert "August 30, 2017" in shown and "2:45:00" in shown  # in UTC, as a date
    assert "9:15:00" in shown and "(UTC+06:30)" in shown  # and as the collector entered it


def test_a_declared_hash_that_does_not_match_flags_the_item_as_the_api_does(client, world):
    sign_in(client, "lead@example.org")
    response = upload(client, world["case"], [("clip.txt", b"clip\n")], declared_sha1="0" * 40)
    assert response.status_code == 303
    item = api_item(client, world["case"], "MMR-OTP-0001-0001")
    assert "declared_hash_mismatch" in item["flags"]
    assert item["declared_hashes"] == {"sha1": "0" * 40}
    assert "Declared hash mismatch" in text(client.get(f"/evidence/{item['id']}"))


@pytest.fixture
def aborted(monkeypatch):
    states: list[str] = []
    real = IntakeStream.abort

    def spy(self):
        states.append(self.state)
        real(self)

    monkeypatch.setattr(IntakeStream, "abort", spy)
    return states


def stored_state(session):
    return (session.scalar(select(func.count()).select_from(Evidence)),
            session.scalar(select(func.count()).select_from(CustodyEntry)))


KEPT = {"location": "Tula Toli", "source": "witness W-17"}


@pytest.mark.parametrize(
    ("bad", "field", "says"),
    [
        ({"description": "x" * 20001}, "description",
         "Too long: 20,001 characters, at most 20,000. Nothing was cut"),
        ({"title": "t" * 501}, "title", "Too long: 501 characters, at most 500."),
        ({"collected_by": "c" * 2001}, "collected_by",
         "Too long: 2,001 characters, at most 2,000."),
        ({"declared_sha1": "abc123"}, "declared_sha1", "sha1 must be 40 hex digits"),
        ({"declared_md5": "z" * 32}, "declared_md5", "md5 must be 32 hex digits"),
        ({"collected_at": "30 August"}, "collected_at", "datetime"),
    ],
    ids=["description", "title", "collected_by", "sha1", "md5", "collected_at"],
)
def test_a_refused_field_is_named_next_to_it_the_input_kept_and_nothing_stored(  # noqa: PLR0917
    client, world, session, aborted, bad, field, says
):
    sign_in(client, "lead@example.org")
    before = stored_state(session)
    response = upload(client, world["case"], [("a.txt", b"statement\n")], **KEPT, **bad)
    assert response.status_code == 422
    page = text(response)
    box = unescape(field_box(page, field))
    assert 'class="field invalid"' in box and 'class="error"' in box, box
    assert says in box, box
    value = next(iter(bad.values()))
    assert value in box  # what was typed is still there, whole
    for name, kept in KEPT.items():
        assert f'value="{kept}"' in field_box(page, name)
    assert stored_state(session) == before
    assert aborted == ["open"]


def test_no_file_chosen_is_said_by_the_file_input_keeping_the_fields(client, world, session):
    sign_in(client, "lead@example.org")
    before = stored_state(session)
    response = upload(client, world["case"], [("", b"")], **KEPT, description="Long account")
    assert response.status_code == 422
    page = text(response)
    assert "Choose at least one file." in field_box(page, "file")
    assert "Long account</textarea>" in field_box(page, "description")
    assert stored_state(session) == before


def test_a_line_break_counts_as_one_character_as_in_the_form(client, world):
    sign_in(client, "lead@example.org")
    # As a browser sends a textarea: CRLF line breaks; 20,000 characters as the page counts.
    description = "\r\n".join(["x" * 1999] * 10) + "y"
    assert len(description.replace("\r\n", "\n")) == 20000 < len(description)
    response = upload(client, world["case"], [("a.txt", b"statement\n")], description=description)
    assert response.status_code == 303
    item = api_item(client, world["case"], "MMR-OTP-0001-0001")
    assert item["description"] == description.replace("\r\n", "\n")
