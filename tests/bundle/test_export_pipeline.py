"""How the writer gets its custody PDFs and renditions made while it streams bytes, and how it
makes its files durable: each exhibit gets exactly its own report and PDF, in order, with a
bounded number in flight; a failed batch stops the bundle and leaves nothing; nothing is
published before one sync of the whole bundle (or, without syncfs, an fsync of every file and
folder), and a failed sync publishes nothing."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from pypdf import PdfReader

from casefile.bundle import custody_pdfs, durable, writer
from casefile.bundle.writer import BundleError
from casefile.vault import blobstore, bounded
from casefile.verifier import bundle_verifier
from tests.bundle import fakes


def many_exhibits(count: int):
    """A plan of `count` small exhibits (the fakes' three, repeated under new numbers)."""
    plan, sources, _ = fakes.plan_and_sources()
    exhibits = tuple(
        type(base)(**{**base.__dict__, "number": f"Annex {n + 1}", "ern": f"ERN-{n + 1:04d}"})
        for n, base in ((n, plan.exhibits[n % 3]) for n in range(count))
    )
    return type(plan)(**{**plan.__dict__, "exhibits": exhibits}), sources


def test_each_exhibit_gets_its_own_report_and_pdf_in_order_with_few_in_flight():
    plan, _ = many_exhibits(23)
    fetched: list[str] = []
    batches: list[list[str]] = []
    lock = threading.Lock()

    def report_of(exhibit):
        assert threading.current_thread() is threading.main_thread()  # the session's thread
        fetched.append(exhibit.number)
        return {"for": exhibit.number}

    def renderer(plan_, batch):
        with lock:
            batches.append([exhibit.number for exhibit, _ in batch])
        return [f"pdf of {report['for']}".encode() for _, report in batch]

    seen = []
    with custody_pdfs.Ahead(plan, report_of, renderer=renderer, batch=4, ahead=2) as ahead:
        for exhibit, report, pdf in ahead:
            # never more than `ahead` batches fetched beyond the one being written
            assert len(fetched) - len(seen) <= 2 * 4
            seen.append((exhibit.number, report["for"], pdf()))
    numbers = [e.number for e in plan.exhibits]
    assert seen == [(n, n, f"pdf of {n}".encode()) for n in numbers]
    assert fetched == numbers  # each report built once, in order
    assert sorted(batches, key=lambda b: numbers.index(b[0])) == [
        numbers[i:i + 4] for i in range(0, 23, 4)]


def test_a_batch_splits_into_each_exhibits_own_pdf():
    """Laid out in the helper: one PDF per exhibit, each naming only its own exhibit, with
    its own page count, the Burmese case title kept (checked by eye: bench/README.md)."""
    plan, sources = many_exhibits(3)
    plan = type(plan)(**{**plan.__dict__, "case_title": fakes.BURMESE_TITLE})
    batch = [(exhibit, sources.custody_report(exhibit)) for exhibit in plan.exhibits]
    pdfs = custody_pdfs.render_batch(plan, batch)
    assert len(pdfs) == 3
    for (exhibit, _), pdf in zip(batch, pdfs, strict=True):
        reader = PdfReader(io.BytesIO(pdf))
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert f"Custody report: {exhibit.number}, {exhibit.ern}" in text
        assert f"Page {len(reader.pages)} of {len(reader.pages)}" in text
        others = [e.ern for e, _ in batch if e.ern != exhibit.ern]
        assert not any(other in text for other in others)
        assert reader.metadata.title == f"Custody report: {exhibit.number}, {exhibit.ern}"


@pytest.mark.parametrize("as_zip", [False, True])
def test_a_failed_batch_stops_the_bundle_and_leaves_nothing(tmp_path, monkeypatch, as_zip):
    plan, sources = many_exhibits(12)
    real = bounded.run

    def run(function, data, **limits):
        if function is custody_pdfs.render_in_helper and b"Annex 6" in data:
            raise bounded.LimitExceeded("took longer than 180 s")
        return real(function, data, **limits)

    monkeypatch.setattr(bounded, "run", run)
    published = []
    out = tmp_path / ("bundle.zip" if as_zip else "bundle")
    with pytest.raises(BundleError, match=r"exhibit Annex 5 \(ERN-0005\): its custody report "
                                          r"PDF could not be laid out \(took longer"):
        writer.write_bundle(plan, sources, out, as_zip=as_zip, before_publish=published.append)
    assert published == []
    assert list(tmp_path.iterdir()) == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("custody-pdf")] == []


@pytest.mark.parametrize("as_zip", [False, True])
def test_the_bytes_stream_without_waiting_for_the_custody_pdfs(tmp_path, monkeypatch, as_zip):
    """The custody PDFs are laid out beside the stream, not in its way: every original is
    written while the first batch is still being laid out (its helper waits for the last
    original to be read), and each exhibit still gets its own report and PDF."""
    plan, sources = many_exhibits(9)
    last_read = threading.Event()
    real = bounded.run

    def run(function, data, **limits):
        if function is custody_pdfs.render_in_helper and b"Annex 1," in data:
            assert last_read.wait(60), "the writer waited for the custody PDFs"
        return real(function, data, **limits)

    def content(exhibit):
        if exhibit.number == plan.exhibits[-1].number:
            last_read.set()
        return sources.content(exhibit)

    monkeypatch.setattr(bounded, "run", run)
    watched = type(sources)(**{**sources.__dict__, "content": content})
    out = tmp_path / ("bundle.zip" if as_zip else "bundle")
    written = writer.write_bundle(plan, watched, out, as_zip=as_zip)
    assert last_read.is_set()
    assert bundle_verifier.verify(written.path, sources.verifier_key).problems == []


def test_one_syncfs_before_publishing_on_a_descriptor_opened_first(tmp_path, monkeypatch):
    plan, sources, _ = fakes.plan_and_sources()
    calls: list[tuple[str, list[str]]] = []
    fsyncs = []
    opened_at: list[int] = []

    def syncfs(descriptor: int) -> None:
        folder = Path(f"/proc/self/fd/{descriptor}").readlink()
        calls.append((folder.name, sorted(p.name for p in folder.iterdir())))

    real_open = durable.os.open

    def recording_open(path, flags, *args):
        descriptor = real_open(path, flags, *args)
        opened_at.append(len(list(Path(path).rglob("*"))))
        return descriptor

    monkeypatch.setattr(blobstore, "SYNCFS", syncfs)
    monkeypatch.setattr(durable.os, "open", recording_open)
    monkeypatch.setattr(
        durable.os, "fsync", lambda fd: fsyncs.append(Path(f"/proc/self/fd/{fd}").readlink())
    )
    published = []
    written = writer.write_bundle(
        plan, sources, tmp_path / "bundle",
        before_publish=lambda _written: published.append(len(calls)),
    )
    assert opened_at[0] == 0  # the descriptor was opened on the empty folder
    assert len(calls) == 1 and calls[0][0].startswith(".bundle.partial-")
    assert "tagmanifest-sha256.txt.sig" in calls[0][1]  # after the last file
    assert published == [1]  # synced before the entries commit and the name appears
    assert fsyncs == [tmp_path]  # no fsync per file: only the new name's, once published
    assert bundle_verifier.verify(written.path, sources.verifier_key).problems == []


def test_a_failed_syncfs_publishes_nothing(tmp_path, monkeypatch):
    plan, sources, _ = fakes.plan_and_sources()

    def syncfs(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(blobstore, "SYNCFS", syncfs)
    published = []
    with pytest.raises(OSError, match="Input/output error"):
        writer.write_bundle(plan, sources, tmp_path / "bundle", before_publish=published.append)
    assert published == [] and list(tmp_path.iterdir()) == []


def test_without_syncfs_every_file_and_folder_is_fsynced(tmp_path, monkeypatch):
    plan, sources, _ = fakes.plan_and_sources()
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{descriptor}").readlink()))
        real_fsync(descriptor)

    monkeypatch.setattr(blobstore, "SYNCFS", None)
    monkeypatch.setattr(durable.os, "fsync", fsync)
    monkeypatch.setattr(blobstore.os, "fsync", fsync)
    before: list[list[str]] = []
    writer.write_bundle(plan, sources, tmp_path / "bundle",
                        before_publish=lambda _written: before.append(list(synced)))
    partial = next(Path(s) for s in synced if Path(s).name.startswith(".bundle.partial-"))
    relative = {Path(s).relative_to(partial).as_posix() for s in before[0]}
    bundle = tmp_path / "bundle"
    expected = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")} | {"."}
    assert relative == expected  # every file and every folder, before publishing
