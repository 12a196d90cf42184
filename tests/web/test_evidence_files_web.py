"""The item page's type flags in words, and PDF pages rendered to images on the server."""

from __future__ import annotations

import io
import json
import uuid
import wave

import pytest
from flask_babel import force_locale, gettext
from PIL import Image
from sqlalchemy import select

from casefile.logic.evidence import reading
from casefile.model import CustodyAction, CustodyEntry, Evidence
from tests.api.test_evidence_api import pdf_bytes
from tests.factories import make_case_with_viewer, make_user
from tests.web.test_auth_web import cheap_password_hashes, find_form, logout, sign_in, submit, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    return {"case": make_case_with_viewer(session)}


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


def only_item(session, case) -> Evidence:
    session.expire_all()
    [item] = session.scalars(select(Evidence).where(Evidence.case_id == case.id))
    return item


def views(session, item_id) -> list[dict]:
    session.expire_all()
    entries = session.scalars(
        select(CustodyEntry)
        .where(CustodyEntry.item_id == item_id, CustodyEntry.action == CustodyAction.VIEWED)
        .order_by(CustodyEntry.seq)
    )
    return [json.loads(entry.details) for entry in entries]


def put(client, case, name, content, content_type):
    page = text(client.get(f"/cases/{case.id}/evidence"))
    form = find_form(page, f"/cases/{case.id}/evidence")
    data = {**form.fields, "file": [(io.BytesIO(content), name, content_type)]}
    response = client.post(f"/cases/{case.id}/evidence", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 303


# --- equivalent types -----------------------------------------------------------------------


@pytest.mark.parametrize("declared", ["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"])
def test_a_wav_declared_under_any_of_its_names_is_no_mismatch(client, world, session, declared):
    sign_in(client, "lead@example.org")
    put(client, world["case"], "interview.wav", wav(), declared)
    item = only_item(session, world["case"])
    assert item.mime == "audio/x-wav"
    assert not [flag for flag in item.flags if flag.startswith("type_mismatch")]
    page = text(client.get(f"/evidence/{item.id}"))
    assert 'id="type-flags"' not in page and "Type mismatch" not in page


def test_a_real_mismatch_is_said_in_words_with_the_code_in_small_print(
    app, client, world, session
):
    sign_in(client, "lead@example.org")
    put(client, world["case"], "holiday.jpg", pdf_bytes(1), "image/jpeg")
    item = only_item(session, world["case"])
    assert {"type_mismatch", "type_mismatch:declared_type", "type_mismatch:extension"} <= set(
        item.flags
    )
    page = text(client.get(f"/evidence/{item.id}"))
    assert 'class="flash error" role="alert" id="type-flags"' in page
    assert (
        "The file&#39;s content is a PDF document (application/pdf), but the uploader&#39;s "
        "browser or program declared it as a JPEG image (image/jpeg)."
    ) in page
    assert "but the extension of its file name is used for a JPEG image (image/jpeg)" in page
    assert '<small class="muted"><code>type_mismatch:declared_type</code></small>' in page
    assert '<small class="muted"><code>type_mismatch:extension</code></small>' in page

    submit(client, f"/evidence/{item.id}", {"locale": "my"}, action="/language")
    burmese = text(client.get(f"/evidence/{item.id}"))
    with app.test_request_context(), force_locale("my"):
        pdf_words, jpeg_words = gettext("a PDF document"), gettext("a JPEG image")
    assert pdf_words != "a PDF document"
    assert (
        f"ဖိုင်၏ အကြောင်းအရာသည် {pdf_words} (application/pdf) ဖြစ်သော်လည်း တင်သူ၏ "
        f"ဘရောက်ဇာ သို့မဟုတ် ပရိုဂရမ်က ၎င်းကို {jpeg_words} (image/jpeg) ဟု ကြေညာခဲ့သည်။"
    ) in burmese
    assert "The file&#39;s content is" not in burmese
    assert "<code>type_mismatch:declared_type</code>" in burmese


def test_a_flag_recorded_before_types_were_equivalent_is_explained_not_removed(
    client, world, session
):
    sign_in(client, "lead@example.org")
    put(client, world["case"], "interview.wav", wav(), "audio/wav")
    item = only_item(session, world["case"])
    item.flags = ["type_mismatch", "type_mismatch:declared_type", *item.flags]  # as stored once
    session.commit()
    page = text(client.get(f"/evidence/{item.id}"))
    assert 'role="status" id="type-flags"' in page and 'role="alert" id="type-flags"' not in page
    assert (
        "Recorded at intake, when audio/wav and audio/x-wav were not yet treated as names of "
        "the same type. They are the same type: this is not a mismatch."
    ) in page
    assert "<code>type_mismatch:declared_type</code>" in page
    assert "type_mismatch:declared_type" in only_item(session, world["case"]).flags  # kept


# --- PDF pages as images --------------------------------------------------------------------


def test_a_pdf_page_is_served_as_an_image_and_each_served_page_is_one_view(
    client, world, session
):
    sign_in(client, "lead@example.org")
    put(client, world["case"], "statement.pdf", pdf_bytes(2), "application/pdf")
    item = only_item(session, world["case"])
    page = text(client.get(f"/evidence/{item.id}"))
    assert f'data-src="/evidence/{item.id}/pages/1.png"' in page
    assert "Page 1 of 2" in page and f"/evidence/{item.id}?page=2#pdf-preview" in page
    assert "<iframe" not in page
    assert views(session, item.id) == []  # showing the item page views nothing

    first = client.get(f"/evidence/{item.id}/pages/1.png")
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert first.headers["Cache-Control"] == "no-store"
    image = Image.open(io.BytesIO(first.data))
    assert image.format == "PNG" and 0 < max(image.size) <= 1600
    assert first.headers["X-Casefile-Pages"] == "2"
    assert views(session, item.id) == [{"ern": item.ern, "page": 1}]

    second = client.get(f"/evidence/{item.id}/pages/2.png")
    assert second.status_code == 200 and second.data != first.data
    assert views(session, item.id) == [{"ern": item.ern, "page": 1}, {"ern": item.ern, "page": 2}]

    paged = text(client.get(f"/evidence/{item.id}?page=2"))
    assert "Page 2 of 2" in paged and f'data-src="/evidence/{item.id}/pages/2.png"' in paged
    assert 'id="pdf-preview" open' in paged and "?page=1#pdf-preview" in paged

    missing = client.get(f"/evidence/{item.id}/pages/3.png")
    assert missing.status_code == 422
    assert len(views(session, item.id)) == 2  # a page not served is no view
    assert client.get(f"/evidence/{item.id}/preview").status_code == 422  # no PDF in a frame


def test_a_pdf_that_cannot_be_rendered_logs_no_view(client, world, session):
    sign_in(client, "lead@example.org")
    broken = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\n" + bytes(range(256)) * 8
    put(client, world["case"], "broken.pdf", broken, "application/pdf")
    item = only_item(session, world["case"])
    assert item.mime == "application/pdf"
    response = client.get(f"/evidence/{item.id}/pages/1.png")
    assert response.status_code == 422
    assert views(session, item.id) == []
    page = text(client.get(f"/evidence/{item.id}"))
    assert "This page could not be shown" in page  # shown by the page's script on failure


def test_someone_outside_the_case_gets_no_page(client, world, session):
    sign_in(client, "lead@example.org")
    put(client, world["case"], "statement.pdf", pdf_bytes(1), "application/pdf")
    item = only_item(session, world["case"])
    make_user(session, "outsider@example.org")
    logout(client)
    sign_in(client, "outsider@example.org")
    assert client.get(f"/evidence/{item.id}/pages/1.png").status_code == 404
    assert client.get(f"/evidence/{uuid.uuid4()}/pages/1.png").status_code == 404
    assert views(session, item.id) == []


def test_pages_beyond_the_renders_at_once_are_told_to_come_back(
    client, world, session, monkeypatch
):
    """Each render holds the whole PDF and a helper process: past RENDERS_AT_ONCE a request
    waits a moment, then gets 503 busy with Retry-After, and no view is recorded."""
    monkeypatch.setattr(reading, "RENDER_WAIT_SECONDS", 0.2)
    sign_in(client, "lead@example.org")
    put(client, world["case"], "statement.pdf", pdf_bytes(1), "application/pdf")
    item = only_item(session, world["case"])
    taken = 0
    while reading.RENDERS_AT_ONCE.acquire(blocking=False):  # as if others were rendering
        taken += 1
    try:
        busy = client.get(f"/evidence/{item.id}/pages/1.png")
    finally:
        for _ in range(taken):
            reading.RENDERS_AT_ONCE.release()
    assert taken == 2
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
    assert views(session, item.id) == []
    assert client.get(f"/evidence/{item.id}/pages/1.png").status_code == 200
    assert views(session, item.id) == [{"ern": item.ern, "page": 1}]
