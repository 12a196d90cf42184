"""How the writer streams a bundle's files: each original hashed and written in threads beside
the one that reads (decrypts) it, with few chunks between them; a failure on either side stops
the bundle, named, and leaves nothing; the exhibits that get a stamped rendition are written
first, so that the index and consolidated PDFs are laid out while the other originals stream,
with the same files, rows and warnings as before."""

from __future__ import annotations

import gc
import hashlib
import threading

import pytest

from casefile.bundle import consolidated, stamping, writer
from casefile.bundle.writer import BundleError
from casefile.verifier import bundle_verifier
from tests.bundle import fakes


def listing(folder):
    return sorted(path.name for path in folder.iterdir())


def hash_threads():
    return [thread for thread in threading.enumerate() if thread.name == "bundle-hash-write"]


def with_content(sources, content):
    return type(sources)(**{**sources.__dict__, "content": content})


def test_a_file_is_hashed_and_written_beside_the_thread_that_reads_it(tmp_path, monkeypatch):
    """The chunks are taken in this thread and hashed and written in others; the bag is the
    same as ever (the manifests' digests are those of the files)."""
    plan, sources, _ = fakes.plan_and_sources()
    reader = threading.get_ident()
    streamed: dict[int, bytes] = {}  # the chunks read, kept (so that no id is reused)
    writers: set[int] = set()
    real_update = writer._Hashing.update

    def update(self, chunk):
        if streamed.get(id(chunk)) is chunk:
            writers.add(threading.get_ident())
        real_update(self, chunk)

    def content(exhibit):
        for chunk in sources.content(exhibit):
            assert threading.get_ident() == reader
            streamed[id(chunk)] = chunk
            yield chunk

    monkeypatch.setattr(writer._Hashing, "update", update)
    written = writer.write_bundle(plan, with_content(sources, content), tmp_path / "bundle")
    assert writers and reader not in writers
    assert bundle_verifier.verify(written.path, sources.verifier_key).problems == []
    for line in (written.path / "manifest-sha512.txt").read_text().splitlines():
        digest, path = line.split("  ", 1)
        assert hashlib.sha512((written.path / path).read_bytes()).hexdigest() == digest
    assert hash_threads() == []


def test_few_chunks_wait_between_reading_and_writing(tmp_path, monkeypatch):
    """While the hashing thread is held, the reader is not drained into memory: at most
    AHEAD_CHUNKS chunks wait, besides the one in each thread's hand."""
    plan, sources, _ = fakes.plan_and_sources()
    native = plan.exhibits[2]
    chunk, count = b"x" * 4096, 40
    big = fakes.exhibit(native.number, native.item_id, native.ern, chunk * count, native.mime)
    plan = type(plan)(**{**plan.__dict__, "exhibits": (big,)})
    taken = []
    held, release = threading.Event(), threading.Event()
    real_update = writer._Hashing.update

    def update(self, data):
        if data is chunk and not held.is_set():
            held.set()
            assert release.wait(60)
        real_update(self, data)

    def content(exhibit):
        for _ in range(count):
            taken.append(1)
            yield chunk

    monkeypatch.setattr(writer._Hashing, "update", update)
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(writer.write_bundle(
        plan, with_content(sources, content), tmp_path / "bundle")))
    worker.start()
    assert held.wait(60)
    while len(taken) < writer.AHEAD_CHUNKS + 1:  # the queue fills up, then the reader waits
        threading.Event().wait(0.01)
    threading.Event().wait(0.2)  # time for a reader that did not wait to take more
    assert len(taken) <= writer.AHEAD_CHUNKS + 2
    release.set()
    worker.join(60)
    assert len(taken) == count and done
    assert bundle_verifier.verify(tmp_path / "bundle", sources.verifier_key).problems == []


@pytest.mark.parametrize("as_zip", [False, True])
def test_a_failure_in_the_hashing_thread_stops_the_bundle_naming_the_exhibit(
    tmp_path, monkeypatch, as_zip
):
    """A hash (or a write) that fails in its thread stops the bundle with the exhibit and the
    cause; no further chunk of it is read, every thread has ended, and nothing is left that
    looks like a bundle (no folder, no zip, no partial file)."""
    plan, sources, _ = fakes.plan_and_sources()
    taken = []
    real_update = writer._Hashing.update

    def update(self, chunk):
        if chunk.startswith(b"boom"):
            raise OSError(5, "Input/output error")
        real_update(self, chunk)

    def content(exhibit):
        if exhibit.number != "Annex 3":
            yield from sources.content(exhibit)
            return
        for number in range(200):
            taken.append(number)
            yield b"boom" if number == 0 else b"\0" * 4096

    monkeypatch.setattr(writer._Hashing, "update", update)
    out = tmp_path / ("bundle.zip" if as_zip else "bundle")
    published = []
    with pytest.raises(BundleError, match=r"exhibit Annex 3 \(MMR-OTP-0001-0003\) could not be "
                                          r"written into the bundle: \[Errno 5\] Input/output"):
        writer.write_bundle(plan, with_content(sources, content), out, as_zip=as_zip,
                            before_publish=published.append)
    assert published == []
    assert len(taken) < 200
    assert listing(tmp_path) == []
    assert hash_threads() == []


def test_a_reader_that_fails_stops_the_threads_too(tmp_path):
    """The reading side's own error (an integrity failure) comes out as before, once the
    threads that hash and write have ended."""
    plan, sources, _ = fakes.plan_and_sources()

    def content(exhibit):
        yield from sources.content(exhibit)
        if exhibit.number == "Annex 3":
            raise ValueError("the stored blob failed authentication")

    with pytest.raises(BundleError, match=r"Annex 3 .* failed its integrity check: the stored"):
        writer.write_bundle(plan, with_content(sources, content), tmp_path / "bundle")
    assert listing(tmp_path) == []
    assert hash_threads() == []


def test_renditions_first_then_the_index_and_consolidated_pdfs_beside_the_rest(
    tmp_path, monkeypatch
):
    """The exhibits with a rendition are read first, in the plan's order, then the others in
    the plan's order; the consolidated PDF is started between the two, with every row final;
    folders, rows and warnings are in the plan's order, as before."""
    plan, sources, _ = fakes.plan_and_sources()
    pdf, image, native = plan.exhibits
    order = [native, pdf, native, image, pdf, image, native]
    plan = type(plan)(**{**plan.__dict__, "exhibits": tuple(
        type(base)(**{**base.__dict__, "number": f"Annex {n + 1}", "ern": f"ERN-{n + 1:04d}"})
        for n, base in enumerate(order))})
    assert image.size < pdf.size
    monkeypatch.setattr(stamping, "MAX_BYTES", image.size)  # the documents are too large
    events = []
    real_build = consolidated.build

    def content(exhibit):
        events.append(exhibit.number)
        return sources.content(exhibit)

    def build(root, plan_, rows, *args, **kwargs):
        events.append(tuple(bool(row["rendition"]) for row in rows))
        return real_build(root, plan_, rows, *args, **kwargs)

    monkeypatch.setattr(consolidated, "build", build)
    written = writer.write_bundle(plan, with_content(sources, content), tmp_path / "bundle")
    assert events == ["Annex 4", "Annex 6",
                      (False, False, False, True, False, True, False),
                      "Annex 1", "Annex 2", "Annex 3", "Annex 5", "Annex 7"]
    assert [w.split(": no PDF rendition: ")[0] for w in written.warnings] == [
        "exhibit Annex 2 (ERN-0002)", "exhibit Annex 5 (ERN-0005)"]
    rows = (written.path / "data/index.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [f"Annex {n}" for n in range(1, 8)]
    folders = sorted(path.name for path in (written.path / "data/exhibits").iterdir())
    assert [folder[:4] for folder in folders] == [f"{n:04d}" for n in range(1, 8)]
    assert sorted(path.parent.name[:4] for path in written.path.rglob("rendition.pdf")) == [
        "0004", "0006"]
    assert bundle_verifier.verify(written.path, sources.verifier_key).problems == []


class CyclicReader:
    """As reading.VerifiedChunks: an iterator whose generator refers back to it (a
    reference cycle, which only the collector would break)."""

    def __init__(self, number, closed):
        self.number = number
        self.closed = closed
        self._chunks = self._generate()

    def _generate(self):
        try:
            for index in range(200):
                yield b"boom" if index == 0 else b"\0" * 4096
        finally:
            self.closed.append(self.number)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def close(self):
        self._chunks.close()


def test_a_reader_stopped_by_a_failed_write_is_closed_at_once(tmp_path, monkeypatch):
    """When the writing side fails, the reader (a verified read: its blob open, its SHA-256
    thread running) is closed as the bundle stops, not whenever the garbage collector finds
    it."""
    plan, sources, _ = fakes.plan_and_sources()
    closed = []
    real_update = writer._Hashing.update

    def update(self, chunk):
        if chunk.startswith(b"boom"):
            raise OSError(5, "Input/output error")
        real_update(self, chunk)

    def content(exhibit):
        if exhibit.number != "Annex 3":
            return sources.content(exhibit)
        return CyclicReader(exhibit.number, closed)

    monkeypatch.setattr(writer._Hashing, "update", update)
    gc.disable()
    try:
        with pytest.raises(BundleError, match="could not be written"):
            writer.write_bundle(plan, with_content(sources, content), tmp_path / "bundle")
        assert closed == ["Annex 3"]
    finally:
        gc.enable()
