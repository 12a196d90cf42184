# ruff: noqa: F811 - `world`, the fixture imported from test_filings_api, is every test's
"""A stored export (through the job) of a filing with documentary exhibits has
data/consolidated.pdf in its zip: the cover and index, then every stamped rendition, one
bookmark per documentary exhibit; the verifier accepts the zip; and no file appears on the
server's disk while it is made (the renditions and the PDF live in memory files) except the
encrypted blob."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from casefile.verifier import bundle_verifier
from tests.api.test_evidence_api import png_bytes
from tests.api.test_exports_api import WITNESS_TEXT
from tests.api.test_filings_api import (
    add_exhibit,
    add_item,
    new_filing,
    pdf_of,
    world,  # noqa: F401 - the fixture
)


def files_under(*folders: Path) -> set[Path]:
    return {path for folder in folders for path in folder.rglob("*") if path.is_file()}


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A temporary folder of our own for this process and its helpers (TMPDIR)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_stored_export_has_the_consolidated_pdf_and_leaves_nothing_on_disk(
    world, tmp_path, scratch
):
    pdf = add_item(world, world.icc, pdf_of(3), filename="report.pdf",
                   content_type="application/pdf", title="Report", language="en")
    statement = add_item(world, world.icc, WITNESS_TEXT, filename="statement.txt",
                         content_type="text/plain", title="Statement", language="en")
    photo = add_item(world, world.icc, png_bytes(), filename="village.png",
                     content_type="image/png", title="Village", language="en")
    filing = new_filing(world, world.icc).get_json()
    for item in (pdf, statement, photo):
        assert add_exhibit(world, filing["id"], item["id"]).status_code == 201

    before = files_under(tmp_path, Path.cwd())
    response = world.client.post(f"/api/v1/filings/{filing['id']}/exports",
                                 headers=world.lawyer)
    assert response.status_code == 202, response.get_json()
    body = world.client.get(f"/api/v1/exports/{response.get_json()['id']}",
                            headers=world.lawyer).get_json()
    assert body["status"] == "done", body
    assert not any("consolidated" in warning["message"] for warning in body["warnings"])
    appeared = files_under(tmp_path, Path.cwd()) - before
    # The encrypted blob in the store, and nothing else: no rendition, no PDF, no scratch file.
    storage = tmp_path / "storage"
    assert all(path.is_relative_to(storage) for path in appeared), appeared
    assert len(appeared) <= 2, appeared  # the blob (and its store's sidecar, if it keeps one)
    for path in appeared:
        assert b"%PDF" not in path.read_bytes()
    assert list(scratch.iterdir()) == []

    data = world.client.get(body["download_url"], headers=world.lawyer).get_data()
    zipped = tmp_path / "export.zip"
    zipped.write_bytes(data)
    key = world.client.get("/api/v1/custody/public-key",
                           headers=world.lawyer).get_data(as_text=True).strip()
    report = bundle_verifier.verify(zipped, key)
    assert report.valid, report.problems
    with zipfile.ZipFile(zipped) as archive:
        [consolidated] = [n for n in archive.namelist() if n.endswith("/data/consolidated.pdf")]
        reader = PdfReader(io.BytesIO(archive.read(consolidated)))
        renditions = [PdfReader(io.BytesIO(archive.read(name)))
                      for name in sorted(archive.namelist()) if name.endswith("/rendition.pdf")]
    assert [len(r.pages) for r in renditions] == [3, 1]  # the PDF and the image, not the text
    front = reader.get_destination_page_number(reader.outline[1])
    assert len(reader.pages) == front + 4
    assert reader.outline[0].title == "Index of exhibits"
    bookmarks = [(item.title, reader.get_destination_page_number(item))
                 for item in reader.outline[1:]]
    assert len(bookmarks) == 2  # one per documentary exhibit
    assert bookmarks[0][0].startswith("Anx 1") and "Report" in bookmarks[0][0]
    assert bookmarks[1][0].startswith("Anx 3") and "Village" in bookmarks[1][0]
    assert [page for _, page in bookmarks] == [front, front + 3]


def test_renditions_over_the_limit_leave_a_warning_on_the_export(world, monkeypatch):
    from casefile.bundle import writer  # noqa: PLC0415

    monkeypatch.setattr(writer, "MAX_HELD_RENDITIONS", 1000)  # less than one rendition
    photo = add_item(world, world.icc, png_bytes(), filename="village.png",
                     content_type="image/png", title="Village", language="en")
    filing = new_filing(world, world.icc).get_json()
    assert add_exhibit(world, filing["id"], photo["id"]).status_code == 201
    response = world.client.post(f"/api/v1/filings/{filing['id']}/exports",
                                 headers=world.lawyer)
    body = world.client.get(response.headers["Location"], headers=world.lawyer).get_json()
    assert body["status"] == "done", body
    [warning] = [w for w in body["warnings"] if w["code"] == "bundle_warning"]
    assert warning["message"].startswith("no consolidated PDF")
    assert "0 MiB at most" in warning["message"]
    data = world.client.get(body["download_url"], headers=world.lawyer).get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert not any(name.endswith("/data/consolidated.pdf") for name in names)
    assert any(name.endswith("/rendition.pdf") for name in names)
