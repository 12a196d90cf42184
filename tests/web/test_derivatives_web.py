"""Derivatives in the browser: the item page's links and buttons, the translation form, the
redaction page (boxes drawn with redact.js, or one typed in without script), CSRF on both,
refusals re-rendered with 422 and the input kept."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from PIL import Image

from tests.factories import make_case_with_viewer
from tests.vault.test_redaction import (
    PATCH_BOX,
    SECRET,
    SECRET_BOX,
    assert_black,
    interior,
    patch_photo,
    pdf_text,
    rendered,
    two_page_pdf,
)
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, text
from tests.web.test_evidence_edit_web import add_item, words


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    return {"case": make_case_with_viewer(session)}


def test_redact_a_pdf_by_drawn_boxes(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"], name="statement.pdf", body=two_page_pdf())
    page = text(client.get(f"/evidence/{item['id']}"))
    assert f'href="/evidence/{item["id"]}/redact"' in page
    assert f'href="/evidence/{item["id"]}/translations"' in page
    redact_page = text(client.get(f"/evidence/{item['id']}/redact"))
    assert f'src="/evidence/{item["id"]}/pages/1.png"' in redact_page
    assert "Page 1 of 2" in redact_page
    assert 'src="/static/redact.js' in redact_page
    form = find_form(redact_page, f"/evidence/{item['id']}/redact")
    assert form.fields["csrf_token"]
    drawn = [{"page": 1, "x": SECRET_BOX.x, "y": SECRET_BOX.y, "width": SECRET_BOX.width,
              "height": SECRET_BOX.height}]
    response = client.post(f"/evidence/{item['id']}/redact",
                           data={**form.fields, "boxes": json.dumps(drawn),
                                 "reason": "witness_identity"})
    assert response.status_code == 303, text(response)
    made_page = text(client.get(response.headers["Location"]))
    assert "Redacted version made" in made_page
    assert "Redacted version of" in words(made_page)
    made_id = response.headers["Location"].rsplit("/", 1)[-1]
    content = client.get(f"/api/v1/evidence/{made_id}/content").data
    assert SECRET not in pdf_text(content)
    assert_black(interior(rendered(content, 0), SECRET_BOX))
    # Both item pages show the link.
    original_page = words(text(client.get(f"/evidence/{item['id']}")))
    assert "Redacted version (MMR-OTP-0001-0002)" in original_page
    assert "made MMR-OTP-0001-0002, a redacted version of MMR-OTP-0001-0001" in original_page


def test_redact_an_image_with_one_typed_box(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"], name="photo.jpg", body=patch_photo())
    redact_page = text(client.get(f"/evidence/{item['id']}/redact"))
    assert f'src="/evidence/{item["id"]}/preview"' in redact_page
    form = find_form(redact_page, f"/evidence/{item['id']}/redact")
    typed = {"left": str(PATCH_BOX.x * 100), "top": str(PATCH_BOX.y * 100),
             "width": str(PATCH_BOX.width * 100), "height": str(PATCH_BOX.height * 100)}
    response = client.post(f"/evidence/{item['id']}/redact",
                           data={**form.fields, **typed, "reason": "victim_identity"})
    assert response.status_code == 303, text(response)
    made_id = response.headers["Location"].rsplit("/", 1)[-1]
    content = client.get(f"/api/v1/evidence/{made_id}/content").data
    with Image.open(io.BytesIO(content)) as image:
        assert not image.getexif()
        assert_black(interior(image.convert("RGB"), PATCH_BOX, margin=2))


def test_a_refused_redaction_keeps_the_input_and_makes_nothing(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"], name="statement.pdf", body=two_page_pdf())
    form = find_form(text(client.get(f"/evidence/{item['id']}/redact")),
                     f"/evidence/{item['id']}/redact")
    before = len(client.get(f"/api/v1/cases/{world['case'].id}/evidence").get_json()["items"])
    response = client.post(f"/evidence/{item['id']}/redact",
                           data={**form.fields, "reason": "", "title": "Kept title"})
    assert response.status_code == 422
    page = text(response)
    assert "There is a problem" in page
    assert "Draw at least one box" in page
    assert re.search(r'name="title"[^>]*value="Kept title"', page)
    response = client.post(f"/evidence/{item['id']}/redact",
                           data={**form.fields, "page": "5", "left": "10", "top": "10",
                                 "width": "10", "height": "10", "reason": "other"})
    assert response.status_code == 422
    assert "there is no page 5" in text(response)
    after = len(client.get(f"/api/v1/cases/{world['case'].id}/evidence").get_json()["items"])
    assert after == before
    # Without the CSRF token: refused before anything.
    response = client.post(f"/evidence/{item['id']}/redact",
                           data={"left": "10", "top": "10", "width": "10", "height": "10",
                                 "reason": "other"})
    assert response.status_code == 400


def test_viewers_get_no_buttons_and_a_text_file_no_redact_button(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"])
    page = text(client.get(f"/evidence/{item['id']}"))
    assert f'href="/evidence/{item["id"]}/redact"' not in page
    assert f'href="/evidence/{item["id"]}/translations"' in page
    client.post("/logout", data={"csrf_token": find_form(page, "/logout").fields["csrf_token"]})
    sign_in(client, "viewer@example.org")
    page = text(client.get(f"/evidence/{item['id']}"))
    assert "/translations" not in page and "/redact" not in page
    assert client.get(f"/evidence/{item['id']}/translations").status_code == 403


def test_add_a_translation(client, world):
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"], language="my")
    assert item["language"] == "my"
    page = text(client.get(f"/evidence/{item['id']}/translations"))
    form = find_form(page, f"/evidence/{item['id']}/translations")
    refused = client.post(f"/evidence/{item['id']}/translations",
                          data={**form.fields, "language": "French!", "translator": "Daw Khin",
                                "file": [(io.BytesIO(b"traduction"), "fr.txt")]},
                          content_type="multipart/form-data")
    assert refused.status_code == 422
    assert re.search(r'name="translator"[^>]*value="Daw Khin"', text(refused))
    assert "BCP 47" in text(refused)
    response = client.post(f"/evidence/{item['id']}/translations",
                           data={**form.fields, "language": "fr", "translator": "Daw Khin",
                                 "certification": "Certified accurate.",
                                 "file": [(io.BytesIO(b"traduction"), "fr.txt")]},
                           content_type="multipart/form-data")
    assert response.status_code == 303, text(response)
    made = words(text(client.get(response.headers["Location"])))
    assert "Translation added as MMR-OTP-0001-0002." in made
    assert "Translation of MMR-OTP-0001-0001" in made
    assert "Daw Khin" in made and "Certified accurate." in made
    original = words(text(client.get(f"/evidence/{item['id']}")))
    assert "Translation into French (fr) (MMR-OTP-0001-0002)" in original


def test_the_redaction_page_counts_pages_when_intake_did_not(client, world, session, monkeypatch):
    """A PDF whose intake metadata holds no page count (too big, or pypdf gave up) is counted
    by PDFium for the page; a redaction made from a page showing another count than the
    document has is refused, so no page goes out unseen."""
    from casefile.logic.evidence import metadata  # noqa: PLC0415
    from casefile.model import Evidence  # noqa: PLC0415

    real_reveal = metadata.reveal

    def without_pages(keyring, item):
        shown = real_reveal(keyring, item)
        shown.extracted.pop("pdf", None)
        return shown

    monkeypatch.setattr(metadata, "reveal", without_pages)
    sign_in(client, "lead@example.org")
    item = add_item(client, world["case"], name="statement.pdf", body=two_page_pdf())
    assert session.get(Evidence, uuid.UUID(item["id"])).page_count is None
    redact_page = text(client.get(f"/evidence/{item['id']}/redact"))
    assert "Page 1 of 2" in redact_page
    form = find_form(redact_page, f"/evidence/{item['id']}/redact")
    assert form.fields["pages"] == "2"
    drawn = [{"page": 1, "x": SECRET_BOX.x, "y": SECRET_BOX.y, "width": SECRET_BOX.width,
              "height": SECRET_BOX.height}]
    refused = client.post(f"/evidence/{item['id']}/redact",
                          data={**form.fields, "pages": "1", "boxes": json.dumps(drawn),
                                "reason": "witness_identity"})
    assert refused.status_code == 422
    assert "the document has 2 pages, not the 1 shown" in text(refused)
    assert session.query(Evidence).count() == 1
