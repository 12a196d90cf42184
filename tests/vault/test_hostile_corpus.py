"""Every file of the hostile corpus (tests/vault/hostile.py) goes through the real intake path
(the API's streamed multipart upload): it is stored and hashed as received, the upload
completes in bounded time and memory, what else the file is (a polyglot) is flagged, and
where metadata extraction failed the item says so (`extracted.error`, `extraction_failed`)."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from types import SimpleNamespace

import pytest

from casefile.vault import extract
from tests.api.test_evidence_api import multipart
from tests.factories import bearer, make_case, make_user
from tests.vault import hostile
from tests.web.test_auth_web import cheap_password_hashes, sign_in

MIB = 1024 * 1024
SECONDS = extract.EXTRACT_SECONDS + 20  # the parser's limit, and room for a loaded machine

EXPECTED: dict[str, dict[str, object]] = {
    "png_bomb": {"mime": "image/png", "image": (50_000, 50_000)},
    "gif_huge_comment": {"mime": "image/gif", "image": (32_767, 32_767)},
    "jpeg_huge_exif": {"mime": "image/jpeg", "image": (16, 16)},
    "pdf_page_loop": {"mime": "application/pdf", "failed": True},
    "pdf_deep_nesting": {"mime": "application/pdf", "failed": True},
    "mp4_garbage_atoms": {"mime": "video/mp4", "failed": True},
    "pdf_zip_polyglot": {"mime": "application/pdf", "flags": ["polyglot", "polyglot:zip"]},
    "png_zip_polyglot": {"mime": "image/png", "flags": ["polyglot", "polyglot:zip"]},
    "zip_pdf_polyglot": {"mime": "application/zip", "flags": ["polyglot", "polyglot:pdf"]},
    "zip_bomb": {"mime": "application/zip", "flags": []},
    "nested_zip": {"mime": "application/zip", "flags": []},
    "gzip_bomb": {"mime": "application/gzip", "flags": []},
}


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    return SimpleNamespace(case=case, token=bearer(session, lead))


def _upload(client, world, content: bytes, filename: str):
    body, content_type = multipart(
        {"collected_by": "Field team"}, [("file", filename.encode(), content, None)]
    )
    return client.post(
        f"/api/v1/cases/{world.case.id}/evidence",
        data=body,
        content_type=content_type,
        headers=world.token,
    )


@pytest.mark.parametrize("name", sorted(hostile.CORPUS))
def test_a_hostile_file_is_stored_in_bounded_time_and_memory(client, world, name):
    content, filename = hostile.CORPUS[name]()
    tracemalloc.start()
    started = time.monotonic()
    try:
        response = _upload(client, world, content, filename)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 201, response.get_json()
    assert elapsed < SECONDS, f"{name}: intake took {elapsed:.1f} s"
    # The request body and the file held for extraction (at most 16 MiB), a few times over
    # for copies, and nothing in proportion to what the file inflates to (1 GiB for bombs).
    assert peak < 4 * len(content) + 48 * MIB, f"{name}: {peak / MIB:.0f} MiB"
    item = response.get_json()
    assert item["sha256"] == hashlib.sha256(content).hexdigest()
    assert item["size"] == len(content)
    stored = client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.token)
    assert stored.status_code == 200
    assert hashlib.sha256(stored.data).digest() == hashlib.sha256(content).digest()

    failed = "error" in item["extracted"]
    assert ("extraction_failed" in item["flags"]) == failed
    expected = EXPECTED.get(name, {})
    if "mime" in expected:
        assert item["mime"] == expected["mime"]
    if "failed" in expected:
        assert failed == expected["failed"], item["extracted"]
    if "image" in expected:
        width, height = expected["image"]  # type: ignore[misc]
        assert item["extracted"]["image"] == {
            "width": width,
            "height": height,
            "pixels": width * height,
        }
    if "flags" in expected:
        assert [flag for flag in item["flags"] if flag.startswith("polyglot")] == expected["flags"]


def test_a_parser_that_hangs_is_stopped_and_the_item_says_so(client, world, monkeypatch):
    monkeypatch.setattr(extract, "EXTRACT_SECONDS", 1.0)
    monkeypatch.setattr(extract, "_extractor", lambda _mime: hostile.spin)
    content, filename = hostile.pdf_page_loop()
    started = time.monotonic()
    response = _upload(client, world, content, filename)
    assert time.monotonic() - started < 10
    assert response.status_code == 201
    item = response.get_json()
    assert item["extracted"] == {"error": "extraction stopped: took longer than 1 s"}
    assert "extraction_failed" in item["flags"]


def test_an_image_over_the_pixel_bound_is_not_previewed(client, world, session):
    content, filename = hostile.png_bomb()
    item = _upload(client, world, content, filename).get_json()
    small = _upload(client, world, hostile.png(640, 480), "small.png").get_json()
    sign_in(client, "lead@example.org")

    page = client.get(f"/evidence/{item['id']}").get_data(as_text=True)
    assert 'id="preview-refused"' in page
    assert "50000 x 50000 pixels (2,500 megapixels)" in page
    assert "over the preview limit of 50 megapixels" in page
    assert "data-src=" not in page  # no inline preview frame at all
    refused = client.get(f"/evidence/{item['id']}/preview")
    assert refused.status_code == 422
    assert refused.mimetype == "text/html"

    page = client.get(f"/evidence/{small['id']}").get_data(as_text=True)
    assert 'id="preview-refused"' not in page
    assert f"/evidence/{small['id']}/preview" in page
    shown = client.get(f"/evidence/{small['id']}/preview")
    assert shown.status_code == 200
    assert shown.mimetype == "image/png"
