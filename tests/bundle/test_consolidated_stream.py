"""data/consolidated.pdf in a bag streamed into a zip (an export stored on the server): made
from renditions held in memory files, never on a disk, the same PDF as a folder bundle's
(pages, bookmarks), checked by the verifier like any payload file; a warning, never silence,
when the renditions exceed the limit or the system has no memory files; and every memory
file closed at the end and on failure."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from casefile.bundle import consolidated, writer
from casefile.bundle.writer import BundleError
from casefile.verifier import bundle_verifier
from tests.bundle import fakes

TOP = "stored"


def memory_files() -> list[str]:
    found = []
    for path in Path("/proc/self/fd").iterdir():
        try:
            target = str(path.readlink())
        except FileNotFoundError:
            continue
        if target.startswith("/memfd:"):
            found.append(target)
    return found


def streamed(plan, sources) -> tuple[writer.Written, bytes]:
    out = io.BytesIO()
    written = writer.write_bundle_stream(plan, sources, out, top=TOP)
    return written, out.getvalue()


@pytest.fixture(scope="module")
def stored():
    plan, sources, _ = fakes.plan_and_sources()
    written, data = streamed(plan, sources)
    return {"plan": plan, "sources": sources, "written": written, "zip": data}


def test_the_stored_zip_has_the_consolidated_pdf(stored, tmp_path):
    assert not any("consolidated" in warning for warning in stored["written"].warnings)
    with zipfile.ZipFile(io.BytesIO(stored["zip"])) as archive:
        pdf = archive.read(f"{TOP}/{consolidated.TARGET}")
        renditions = [PdfReader(io.BytesIO(archive.read(name))) for name in archive.namelist()
                      if name.endswith("/rendition.pdf")]
        manifest = archive.read(f"{TOP}/manifest-sha256.txt").decode()
    assert len(renditions) == 2  # a 3-page PDF and an image; the binary file has none
    reader = PdfReader(io.BytesIO(pdf))
    front = reader.get_destination_page_number(reader.outline[1])
    assert front == 2
    assert len(reader.pages) == front + sum(len(r.pages) for r in renditions) == 6
    # "Index of exhibits", then one bookmark per documentary exhibit at its first page.
    assert [reader.get_destination_page_number(item) for item in reader.outline] == [1, 2, 5]
    assert reader.outline[2].title.startswith(stored["plan"].exhibits[1].number)
    assert consolidated.TARGET in manifest
    zipped = tmp_path / "stored.zip"
    zipped.write_bytes(stored["zip"])
    report = bundle_verifier.verify(zipped, stored["sources"].verifier_key)
    assert report.valid, report.problems


def test_the_same_pages_as_the_folder_bundle(stored, tmp_path):
    folder = writer.write_bundle(stored["plan"], stored["sources"], tmp_path / "bundle").path
    on_disk = PdfReader(folder / consolidated.TARGET)
    with zipfile.ZipFile(io.BytesIO(stored["zip"])) as archive:
        in_zip = PdfReader(io.BytesIO(archive.read(f"{TOP}/{consolidated.TARGET}")))
    assert [item.title for item in in_zip.outline] == [item.title for item in on_disk.outline]
    assert [" ".join(page.extract_text().split()) for page in in_zip.pages[2:]] == [
        " ".join(page.extract_text().split()) for page in on_disk.pages[2:]]


def test_every_memory_file_is_closed_at_the_end(stored):
    streamed(stored["plan"], stored["sources"])
    assert memory_files() == []


def test_renditions_over_the_limit_give_a_warning_and_no_consolidated_pdf(
    stored, monkeypatch, tmp_path
):
    monkeypatch.setattr(writer, "MAX_HELD_RENDITIONS", 10_000)  # the image's fits, not the PDF's
    written, data = streamed(stored["plan"], stored["sources"])
    [warning] = [w for w in written.warnings if "consolidated" in w]
    assert "no consolidated PDF" in warning and "0 MiB at most" in warning
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert f"{TOP}/{consolidated.TARGET}" not in names
    assert sum(name.endswith("/rendition.pdf") for name in names) == 2  # still in the zip
    assert memory_files() == []
    zipped = tmp_path / "stored.zip"
    zipped.write_bytes(data)
    assert bundle_verifier.verify(zipped, stored["sources"].verifier_key).valid


def test_without_memory_files_a_warning(stored, monkeypatch):
    monkeypatch.delattr(writer.os, "memfd_create")
    written, data = streamed(stored["plan"], stored["sources"])
    [warning] = [w for w in written.warnings if "consolidated" in w]
    assert "no memory files" in warning
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert f"{TOP}/{consolidated.TARGET}" not in archive.namelist()


def test_a_failed_consolidation_stops_the_bundle_and_closes_the_memory_files(
    stored, monkeypatch
):
    def refuse(*_args, **_kwargs):
        assert len(memory_files()) == 3  # two renditions and the result, open while it runs
        raise consolidated.ConsolidationFailed("took longer than 1 s")

    monkeypatch.setattr(consolidated, "build_from_files", refuse)
    with pytest.raises(BundleError, match="consolidated PDF could not be made"):
        streamed(stored["plan"], stored["sources"])
    assert memory_files() == []


def test_a_failure_midway_closes_the_memory_files(stored):
    plan, sources = stored["plan"], stored["sources"]

    def broken(exhibit):
        yield from sources.content(exhibit)
        if exhibit is plan.exhibits[2]:  # after the first rendition is held
            raise OSError("the vault went away")

    failing = dataclasses.replace(sources, content=broken)
    with pytest.raises(BundleError):
        streamed(plan, failing)
    assert memory_files() == []
