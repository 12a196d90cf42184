"""The item page's "Edit details" form, the edit in the item's timeline, and the embedded
metadata shown as a table."""

from __future__ import annotations

import html
import io
import re

import pytest

from tests.api.test_evidence_api import jpeg_with_exif, pdf_bytes
from tests.factories import make_case_with_viewer
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    return {"case": make_case_with_viewer(session)}


def words(page: str) -> str:
    """A page's text as read: without its tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def add_item(client, case, name="w17.txt", body=b"statement W-17\n", **fields) -> dict:
    page = text(client.get(f"/cases/{case.id}/evidence"))
    form = find_form(page, f"/cases/{case.id}/evidence")
    data = {**form.fields, **fields, "file": [(io.BytesIO(body), name)]}
    response = client.post(f"/cases/{case.id}/evidence", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 303
    items = client.get(f"/api/v1/cases/{case.id}/evidence").get_json()["items"]
    return next(item for item in items if item["original_filename"] == name)


def test_edit_details_from_the_item_page(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"], location="Tula Toli")
    page = text(client.get(f"/evidence/{item['id']}"))
    assert f'href="/evidence/{item["id"]}/edit"' in page
    form = find_form(text(client.get(f"/evidence/{item['id']}/edit")))
    assert form.fields["title"] == "w17.txt" and form.fields["location"] == "Tula Toli"
    assert form.fields["version"] == item["metadata_version"] and form.fields["csrf_token"]
    response = client.post(f"/evidence/{item['id']}/edit",
                           data={**form.fields, "title": "Statement W-17", "location": ""})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/evidence/{item['id']}")
    page = text(client.get(f"/evidence/{item['id']}"))
    assert "Details saved: 2 fields changed, recorded in the chain of custody." in page
    assert re.search(r"lead <lead@example.org> changed MMR-OTP-0001-0001: the title from "
                     r"“w17.txt” to “Statement W-17”; the location to nothing \(it was "
                     r"“Tula Toli”\)", words(page))
    assert client.get(f"/api/v1/evidence/{item['id']}").get_json()["title"] == "Statement W-17"

    again = find_form(text(client.get(f"/evidence/{item['id']}/edit")))
    response = client.post(f"/evidence/{item['id']}/edit", data=again.fields)
    shown = text(client.get(response.headers["Location"]))
    assert "Nothing was changed, so nothing was recorded." in shown


def test_errors_are_shown_next_to_the_fields_with_the_input_kept(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"])
    form = find_form(text(client.get(f"/evidence/{item['id']}/edit")))
    response = client.post(f"/evidence/{item['id']}/edit",
                           data={**form.fields, "title": "", "lat": "north-ish",
                                 "collected_by": "Ko Zaw"})
    assert response.status_code == 422
    page = text(response)
    assert re.search(r'name="lat"[^>]*value="north-ish"', page)
    assert re.search(r'name="collected_by"[^>]*value="Ko Zaw"', page)
    assert re.search(r'<p class="error" id="title-error">', page)  # the field's own error
    assert re.search(r'<a href="#title">', page)  # and in the summary at the top
    assert client.get(f"/api/v1/evidence/{item['id']}").get_json()["collector"] == {}


def test_a_stale_form_is_refused_with_the_current_values_shown(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"])
    stale = find_form(text(client.get(f"/evidence/{item['id']}/edit")))
    newer = client.patch(f"/api/v1/evidence/{item['id']}",
                         json={"version": item["metadata_version"], "title": "Their title"},
                         headers={"X-CSRFToken": stale.fields["csrf_token"]})
    assert newer.status_code == 200, newer.get_json()
    response = client.post(f"/evidence/{item['id']}/edit",
                           data={**stale.fields, "title": "My title"})
    assert response.status_code == 409
    page = text(response)
    assert "Saved meanwhile by someone else" in page and "Their title" in page
    assert re.search(r'name="title"[^>]*value="My title"', page)
    retry = find_form(page)
    assert retry.fields["version"] == newer.get_json()["metadata_version"]
    assert client.post(f"/evidence/{item['id']}/edit", data=retry.fields).status_code == 303
    assert client.get(f"/api/v1/evidence/{item['id']}").get_json()["title"] == "My title"


def test_a_viewer_gets_no_edit_form(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"])
    client.post("/logout", data=find_form(text(client.get("/cases")), "/logout").fields)
    sign_in(client, "viewer@example.org")
    assert "/edit" not in text(client.get(f"/evidence/{item['id']}"))
    assert client.get(f"/evidence/{item['id']}/edit").status_code == 403


def test_embedded_metadata_is_a_readable_table(client, world):
    sign_in(client, "lead@example.org")
    photo = add_item(client, world["case"], name="photo.jpg", body=jpeg_with_exif())
    page = text(client.get(f"/evidence/{photo['id']}"))
    assert '<span class="gps nowrap">20.940000, 92.570000</span>' in page
    assert ('href="https://www.openstreetmap.org/?mlat=20.940000&amp;mlon=92.570000'
            '#map=16/20.940000/92.570000" target="_blank" rel="noopener noreferrer"') in page
    assert 'href="geo:20.940000,92.570000"' in page
    assert "sends this position and your address to openstreetmap.org" in page  # said first
    assert '<time datetime="2017-08-30T09:15:00">Aug 30, 2017, 9:15:00\u202fAM</time>' in page
    assert '<details class="raw"><summary>Embedded metadata as stored (JSON)' in page
    document = add_item(client, world["case"], name="statement.pdf", body=pdf_bytes())
    page = text(client.get(f"/evidence/{document['id']}"))
    created = document["extracted"]["pdf"]["info"]["creationdate"]
    assert re.search(r'<th scope="row">Created</th><td><time datetime="\d{4}-\d\d-\d\dT', page)
    assert created in words(page)  # the value as stored, beside the date
    assert "Statement W-17" in page and "\\u0027" not in page
