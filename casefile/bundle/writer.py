"""Writes a court bundle: a BagIt bag (RFC 8493) as a folder, or the same bag streamed into a
zip, in bounded memory whatever its size.

Everything is written under a temporary name beside the output (`.NAME.partial-XXXX`), the
detached signature last, and renamed to NAME only when every file is written and flushed to
disk and the caller's `before_publish` (the custody entries, logic/export/) has succeeded.
Any failure removes the temporary files: an exhibit whose bytes fail their check, a full
disk, a refused commit. A process killed midway leaves a hidden `.partial` folder without
its signature (or, for a zip, a hidden truncated zip file), which does not verify, never
something that looks complete. A zip is streamed straight into that one file (through the
age encryptor when it is encrypted: then no plaintext byte of the bundle reaches the disk);
no bag folder is written first.

Each exhibit's original is written as it streams from `Sources.content`, hashed with SHA-256
and SHA-512 in the same pass (the manifests), and compared with the SHA-256 and size the
plan states: the bundle says what the vault recorded, or it is not written. The hashing and
the writing each run in a thread beside the one that decrypts (`_beside`): hashlib and the
file's write release the GIL on large buffers, so they overlap on two cores, with at most
AHEAD_CHUNKS chunks waiting for each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import mimetypes
import os
import queue
import re
import secrets
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from casefile.bundle import (
    age,
    consolidated,
    custody_pdfs,
    direct_file,
    durable,
    index,
    renditions,
    stamping,
    verifier_file,
    warm,
)
from casefile.bundle.plan import CLASSIFICATIONS, BundlePlan, ExhibitPlan, Hashed, Sources
from casefile.vault import bounded
from casefile.verifier import bundle_verifier as layout

CHUNK = 1 << 20
# Chunks (CHUNK each, as the vault's reader gives them) read and decrypted ahead of the threads
# that hash and write them: what a streamed file adds to the process's memory, about.
AHEAD_CHUNKS = 4
# What a bag streamed into a zip keeps of its renditions in memory files for the consolidated
# PDF (os.memfd_create: RAM or swap, never a disk): past it, no consolidated PDF, a warning.
MAX_HELD_RENDITIONS = 1 << 30
RENDITION_NAME = "rendition.pdf"
BAGIT_TEXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
VERIFY_TEXT = "VERIFY.txt"
EXTENSIONS = {
    "application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
    "image/tiff": ".tif", "image/webp": ".webp", "text/plain": ".txt", "video/mp4": ".mp4",
    "audio/mpeg": ".mp3", "application/zip": ".zip", "application/octet-stream": ".bin",
}


class BundleError(Exception):
    """The bundle was not written (the reason names the exhibit when one is the cause)."""


class _WritingFailed(BundleError):
    """A streamed file could not be hashed or written (its cause as __cause__)."""


_END = object()


class _Lanes:
    """Consumers of one file's chunks, each in its own thread, fed in order through its own
    queue of at most AHEAD_CHUNKS chunks. The first failure is kept, and from then on (or once
    `stop` is set: the taking side failed) what reaches the queues is drained, unconsumed, so
    that the taking side never waits on a full queue."""

    def __init__(self, consumers: Sequence[Callable[[bytes], object]]) -> None:
        self.failed: list[BaseException] = []
        self.stop = threading.Event()
        self._lanes: list[tuple[queue.Queue[object], threading.Thread]] = []
        try:
            for consume in consumers:
                handoff: queue.Queue[object] = queue.Queue(maxsize=AHEAD_CHUNKS)
                thread = threading.Thread(target=self._work, args=(consume, handoff),
                                          name="bundle-hash-write", daemon=True)
                thread.start()
                self._lanes.append((handoff, thread))
        except BaseException:
            self.close()  # a thread that could not start: those started end
            raise

    def _work(self, consume: Callable[[bytes], object], handoff: queue.Queue[object]) -> None:
        while (chunk := handoff.get()) is not _END:
            if self.failed or self.stop.is_set():
                continue
            try:
                consume(chunk)  # type: ignore[arg-type]
            except BaseException as error:  # noqa: BLE001 - handed to the taking thread
                self.failed.append(error)

    def put(self, chunk: bytes) -> None:
        for handoff, _ in self._lanes:
            handoff.put(chunk)

    def close(self) -> None:
        """Once every chunk is put (or the taking side failed): every thread ends."""
        for handoff, _ in self._lanes:
            handoff.put(_END)
        for _, thread in self._lanes:
            thread.join()

    def check(self, relative: str) -> None:
        """The first consumer's failure, if any: a BundleError as it is, any other error as
        _WritingFailed naming the file."""
        if not self.failed:
            return
        error = self.failed[0]
        if not isinstance(error, Exception) or isinstance(error, BundleError):
            raise error
        raise _WritingFailed(
            f"{relative} could not be written ({type(error).__name__}: {error})"
        ) from error


def _beside(relative: str, chunks: Iterable[bytes], *consumers: Callable[[bytes], object]) -> int:
    """Each of `consumers` (the hashing, the writing) called with every chunk of `chunks`, in
    order, each in its own thread beside this one, which takes the chunks (decrypts them, for
    an original); their total size. Chunks given as a list or a tuple (a file made in memory)
    are consumed here. If taking a chunk raises, that error comes out as it is; if a consumer
    fails, no further chunk is taken and _WritingFailed says so (a BundleError as it is);
    either way every thread has stopped first: nothing of the file is written after this
    returns or raises."""
    if isinstance(chunks, list | tuple):
        for chunk in chunks:
            for consume in consumers:
                consume(chunk)
        return sum(len(chunk) for chunk in chunks)
    lanes = _Lanes(consumers)
    size = 0
    try:
        for chunk in chunks:
            if lanes.failed:
                break
            lanes.put(chunk)
            size += len(chunk)
    except BaseException:
        lanes.stop.set()
        raise
    finally:
        lanes.close()
        # A reader stopped early (a consumer failed) is closed now, not when the garbage
        # collector finds it: its blob, and its SHA-256 thread (threaded_digest.py), end.
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    lanes.check(relative)
    return size


@dataclass
class Written:
    """A finished bundle, before or after it takes its final name."""

    path: Path
    tagmanifest_sha256: str
    payload_bytes: int
    payload_files: int
    exhibits: int
    warnings: list[str] = field(default_factory=list)
    zip_size: int | None = None  # write_bundle_stream: the zip as written
    zip_sha256: str | None = None


class _Hashing:
    """A file's SHA-256 and SHA-512 (the manifests'), each computed once per byte: when the
    chunks are Hashed (an original read verified: reading.VerifiedChunks), their reader's
    SHA-256, the one its check against the recorded digest computed, is taken instead of
    hashing the bytes again; it is None unless every chunk was read and checked."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._hashed = chunks if isinstance(chunks, Hashed) else None
        self._hashers = {
            name: hashlib.new(name) for name in layout.ALGORITHMS
            if not (name == "sha256" and self._hashed is not None)
        }
        self._update = [hasher.update for hasher in self._hashers.values()]

    def update(self, chunk: bytes) -> None:
        for update in self._update:
            update(chunk)

    def digests(self, relative: str) -> dict[str, str]:
        digests = {name: hasher.hexdigest() for name, hasher in self._hashers.items()}
        if self._hashed is not None:
            if self._hashed.sha256 is None:
                raise BundleError(f"{relative}: its reader gave no checked SHA-256")
            digests["sha256"] = self._hashed.sha256
        return {name: digests[name] for name in layout.ALGORITHMS}


@dataclass
class _Bag:
    root: Path
    durability: durable.Durability
    digests: dict[str, dict[str, str]] = field(default_factory=dict)  # payload path -> digests
    sizes: dict[str, int] = field(default_factory=dict)

    def write(self, relative: str, chunks: Iterable[bytes]) -> dict[str, str]:
        """A payload or tag file from chunks, hashed as written (durable once the bundle's
        files are settled: durable.py)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        hashing = _Hashing(chunks)
        # Around the page cache where the file system allows it (direct_file.py).
        with direct_file.DirectFile(path) as handle:
            size = _beside(relative, chunks, hashing.update, handle.write)
            self.durability.written(handle)
        digests = hashing.digests(relative)
        if relative.startswith("data/"):
            self.digests[relative] = digests
            self.sizes[relative] = size
        return digests

    def write_bytes(self, relative: str, data: bytes) -> dict[str, str]:
        return self.write(relative, [data])

    def read_bytes(self, relative: str) -> bytes:
        """A file written before (a small original for its rendition, the tag manifest)."""
        return (self.root / relative).read_bytes()

    def consolidating(
        self, plan: BundlePlan, rows: list[dict[str, str]], sources: Sources,
        warnings: list[str], pool: ThreadPoolExecutor,
    ) -> _Consolidating:
        """data/consolidated.pdf, when any exhibit has a rendition (bundle/consolidated.py),
        started on `pool`: its helper reads the renditions from the bag and writes it there;
        `finish` hashes it as a payload file."""
        del warnings  # a folder bag always has one when it is wanted
        if not consolidated.wanted(rows):
            return _Consolidating(None)
        future = pool.submit(consolidated.build, self.root, plan, rows, sources.checkpoint,
                             sources.verifier_key)
        return _Consolidating(future, then=lambda: self.adopt(consolidated.TARGET))

    def adopt(self, relative: str) -> dict[str, str]:
        """A payload file another process wrote into the bag: hashed as read, made durable
        with the bag's other files."""
        path = self.root / relative
        hashers = {name: hashlib.new(name) for name in layout.ALGORITHMS}
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
                size += len(chunk)
            self.durability.written(handle)  # durable with the rest (durable.py)
        digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
        self.digests[relative] = digests
        self.sizes[relative] = size
        return digests


class _Consolidating:
    """The consolidated PDF being made by its helper (or nothing to make): `finish` waits for
    it and puts it in the bag (BundleError if it could not be made); `close`, always called,
    waits for it too and then frees what it was made from."""

    def __init__(
        self, future: Future[Any] | None, *, then: Callable[[], object] | None = None,
        cleanup: Callable[[], object] | None = None,
    ) -> None:
        self._future = future
        self._then = then
        self._cleanup = cleanup

    def finish(self) -> None:
        if self._future is None:
            return
        try:
            self._future.result()
        except consolidated.ConsolidationFailed as error:
            raise BundleError(f"the consolidated PDF could not be made ({error})") from None
        if self._then is not None:
            self._then()

    def close(self) -> None:
        if self._future is not None:
            futures.wait([self._future])  # its helper is done with what it reads and writes
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()


def _encode_path(path: str) -> str:
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def _manifest(entries: dict[str, dict[str, str]], algorithm: str) -> bytes:
    return "".join(
        f"{digests[algorithm]}  {_encode_path(path)}\n" for path, digests in sorted(entries.items())
    ).encode("utf-8")


def _folder_name(exhibit: ExhibitPlan, position: int) -> str:
    """A file-system-safe folder per exhibit: its position, then its number and ERN."""
    words = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{exhibit.number}_{exhibit.ern}").strip("-.")
    return f"{position:04d}_{words[:80]}"


def _extension(exhibit: ExhibitPlan) -> str:
    return EXTENSIONS.get(exhibit.mime) or mimetypes.guess_extension(exhibit.mime) or ".bin"


def _checked(plan: BundlePlan) -> None:
    if not plan.exhibits:
        raise BundleError("a bundle needs at least one exhibit")
    numbers = [exhibit.number for exhibit in plan.exhibits]
    if len(set(numbers)) != len(numbers):
        raise BundleError("two exhibits have the same number")
    for classification in {plan.classification, *(e.classification for e in plan.exhibits)}:
        if classification not in CLASSIFICATIONS:
            raise BundleError(f"unknown classification {classification!r}")


def _verified_original(
    bag: _Bag, relative: str, exhibit: ExhibitPlan, chunks: Iterable[bytes]
) -> None:
    label = f"exhibit {exhibit.number} ({exhibit.ern})"
    try:
        digests = bag.write(relative, chunks)
    except _WritingFailed as error:
        raise BundleError(
            f"{label} could not be written into the bundle: {error.__cause__}"
        ) from error.__cause__
    except BundleError:
        raise
    except Exception as error:
        raise BundleError(f"{label} failed its integrity check: {error}") from error
    if bag.sizes[relative] != exhibit.size or digests["sha256"] != exhibit.sha256:
        raise BundleError(
            f"{label} failed its integrity check: its bytes do not match the SHA-256 recorded "
            "at intake"
        )


def _read(path: Path) -> Iterable[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _row(exhibit: ExhibitPlan, position: int) -> dict[str, str]:
    """The exhibit's index row ("rendition" filled in once its stamped PDF is written)."""
    folder = f"data/exhibits/{_folder_name(exhibit, position)}"
    return {
        "number": exhibit.number, "ern": exhibit.ern, "title": exhibit.title,
        "date": exhibit.date, "type": exhibit.mime, "source": exhibit.source,
        "classification": exhibit.classification, "language": exhibit.language,
        "original_name": exhibit.original_name, "size": str(exhibit.size),
        "sha256": exhibit.sha256, "file": f"{folder}/original{_extension(exhibit)}",
        "rendition": "", "custody_report": f"{folder}/custody.json",
    }


def _exhibit(
    bag: _Bag,
    sources: Sources,
    exhibit: ExhibitPlan,
    *,
    row: dict[str, str],
    stamped: renditions.Renditions | None,
) -> None:
    """The exhibit's original, checked, and its rendition started (unless `stamped` is
    None: an exhibit that gets none)."""
    original = row["file"]
    _verified_original(bag, original, exhibit, sources.content(exhibit))
    if stamped is not None:
        # Read back now, before the next file is written: a zip bag keeps only the last one.
        rendition = f"{original.rpartition('/')[0]}/{RENDITION_NAME}"
        stamped.add(exhibit, lambda: bag.read_bytes(original), rendition, row)


def _rendition_first(exhibit: ExhibitPlan) -> bool:
    """Whether the exhibit is a document or an image small enough for a stamped rendition:
    the writer streams those first (renditions.py)."""
    return stamping.wants_rendition(exhibit.mime, exhibit.size)


def _custody(bag: _Bag, sources: Sources, done: custody_pdfs.Done) -> None:
    """An exhibit's custody report, as JSON and as PDF (laid out by a helper)."""
    index, exhibit, report, custody_pdf = done
    folder = f"data/exhibits/{_folder_name(exhibit, index + 1)}"
    if report.get("checkpoint") != sources.checkpoint:
        raise BundleError(
            f"exhibit {exhibit.number} ({exhibit.ern}): its custody report is not against the "
            "bundle's checkpoint"
        )
    bag.write_bytes(
        f"{folder}/custody.json",
        json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"),
    )
    try:
        pdf = custody_pdf()
    except custody_pdfs.RenderFailed as error:
        raise BundleError(
            f"exhibit {exhibit.number} ({exhibit.ern}): its custody report PDF could not be "
            f"laid out ({error})"
        ) from None
    bag.write_bytes(f"{folder}/custody.pdf", pdf)


def _verify_text(plan: BundlePlan, key: str) -> str:
    return f"""How to check this bundle
========================

Filing: {plan.filing_title} ({plan.filing_id})
Signed by the custody key: {key}
Compare this key with the one the instance publishes (GET /api/v1/custody/public-key);
a bundle can be rewritten and re-signed whole only with another key.

1. All of it, with the verifier in this bundle (Python 3.11+ and `pip install cryptography`):

     python3 verify_bundle.py .  --key '{key}'

   It checks every file against both manifests and Payload-Oxum, every exhibit against
   data/index.csv (SHA-256 and size), the signature over tagmanifest-sha256.txt, the signed
   checkpoint, and every custody report's inclusion proofs against that checkpoint, and
   names each failure (exit status 1). Casefile's own `casefile verify-bundle PATH --key KEY`
   runs the same code. On a zip, give the zip's path.

2. BagIt fixity with the Library of Congress validator (pip install bagit):

     python3 -m bagit --validate .

3. The exhibits' hashes with coreutils (from this folder):

     sha256sum -c manifest-sha256.txt && sha512sum -c manifest-sha512.txt
     sha256sum -c tagmanifest-sha256.txt

   and compare each exhibit's SHA-256 with its row in data/index.csv.

4. The Ed25519 signature over the tag manifest, with OpenSSL 3 (the key is also in
   data/custody/public-key.pem; use the one the instance publishes, not only that copy):

     openssl pkeyutl -verify -pubin -inkey data/custody/public-key.pem -rawin \\
       -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig

5. The custody reports by hand: docs/custody.md of Casefile shows how to recompute each
   entry's leaf hash (SHA-256 of 0x00 and the entry's canonical JSON) and check its
   inclusion proof (RFC 9162) against the root in data/custody/checkpoint.txt, a C2SP
   signed note whose signature the same key verifies. Keep that checkpoint: the custody log
   must extend it from now on (`casefile custody verify --trusted checkpoint.txt`).

6. Reading: data/index.pdf lists every exhibit. data/consolidated.pdf (when any exhibit has
   a PDF rendition) is one PDF of the documentary exhibits: a cover with the checkpoint and
   the key above, an index with each exhibit's page range in it, then every stamped
   rendition in order, a bookmark per exhibit. It is a payload file like the others, checked
   by steps 1-3; the renditions in data/exhibits/ are the same pages.

If the bundle came encrypted with age (bundle.zip.age), decrypt it first with the private
key whose public key (age1...) it was encrypted to, then check the zip as above:

     age -d -i key.txt bundle.zip.age > bundle.zip
"""


def _bag_info(plan: BundlePlan, bag: _Bag) -> bytes:
    octets = sum(bag.sizes.values())
    fields = [
        ("Source-Organization", plan.organization),
        ("External-Identifier", plan.filing_id),
        ("External-Description", plan.filing_title),
        ("Bagging-Date", dt.datetime.now(dt.UTC).date().isoformat()),
        ("Payload-Oxum", f"{octets}.{len(bag.sizes)}"),
        ("Bag-Software-Agent", "Casefile (casefile.bundle)"),
    ]
    # One line per field: values lose line breaks (RFC 8493 allows folding; one line is simpler).
    return "".join(f"{name}: {' '.join(value.split())}\n" for name, value in fields).encode("utf-8")


def _index_pdf(
    plan: BundlePlan, rows: list[dict[str, str]], sources: Sources
) -> bytes:
    try:
        return index.pdf_bytes(plan, rows, sources.checkpoint, sources.verifier_key)
    except (bounded.LimitExceeded, bounded.ParserFailed) as error:
        raise BundleError(f"the index PDF could not be laid out ({error})") from None


def _write_bag(
    bag: _Bag, plan: BundlePlan, sources: Sources, warnings: list[str]
) -> str:
    warm.start()  # a no-op when the caller started them already (idle helpers count)
    rows = [_row(exhibit, position) for position, exhibit in enumerate(plan.exhibits, start=1)]
    # The custody PDFs, the renditions, the index PDF and the consolidated PDF are laid out in
    # helper processes (custody_pdfs.py, renditions.py, index.py, consolidated.py): this
    # process never loads WeasyPrint nor the custody report's writer. The originals stream
    # without waiting for the custody PDFs (written as they come, in order). The exhibits that
    # get a stamped rendition (small documents and images) are written first, in the plan's
    # order, then the others (the large files: video, audio, extractions), in the plan's
    # order: once the last rendition is written every row is final, so the index and
    # consolidated PDFs are laid out while the large files still stream, not after them. What
    # each file holds does not depend on that order; the warnings keep the plan's order (a
    # document too large for a rendition gets its warning in the first pass, its original in
    # the second).
    with contextlib.ExitStack() as stack:
        reports = stack.enter_context(custody_pdfs.Ahead(plan, sources.custody_report))
        stamped = stack.enter_context(renditions.Renditions(bag.write_bytes, warnings))
        reports.submit()
        for exhibit, row in zip(plan.exhibits, rows, strict=True):
            if _rendition_first(exhibit):
                _exhibit(bag, sources, exhibit, row=row, stamped=stamped)
                for done in reports.ready():
                    _custody(bag, sources, done)
            else:
                stamped.without(exhibit)  # a warning for a document too large, if it is one
        stamped.finish()
        # Left last (after `reports` has waited for its helpers): the helper that makes the
        # consolidated PDF writes into the bag, which a failure removes only once it is done.
        joined = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="consolidated"))
        consolidating = bag.consolidating(plan, rows, sources, warnings, joined)
        stack.callback(consolidating.close)
        index_pdf = reports.also(_index_pdf, plan, rows, sources)
        for exhibit, row in zip(plan.exhibits, rows, strict=True):
            if not _rendition_first(exhibit):
                _exhibit(bag, sources, exhibit, row=row, stamped=None)
                for done in reports.ready():
                    _custody(bag, sources, done)
        for done in reports.rest():
            _custody(bag, sources, done)
        bag.write_bytes(layout.INDEX_CSV, index.csv_bytes(rows))
        bag.write_bytes(layout.INDEX_PDF, index_pdf.result())
        consolidating.finish()
    bag.write_bytes(layout.CHECKPOINT, sources.checkpoint.encode("utf-8"))
    bag.write_bytes(layout.PUBLIC_KEY, f"{sources.verifier_key}\n".encode())
    pem = sources.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bag.write_bytes(layout.PUBLIC_KEY_PEM, pem)
    tags: dict[str, dict[str, str]] = {}
    for algorithm in layout.ALGORITHMS:
        name = f"manifest-{algorithm}.txt"
        tags[name] = bag.write_bytes(name, _manifest(bag.digests, algorithm))
    tags[layout.BAGIT] = bag.write_bytes(layout.BAGIT, BAGIT_TEXT.encode())
    tags[layout.BAG_INFO] = bag.write_bytes(layout.BAG_INFO, _bag_info(plan, bag))
    tags[VERIFY_TEXT] = bag.write_bytes(
        VERIFY_TEXT, _verify_text(plan, sources.verifier_key).encode("utf-8")
    )
    tags[verifier_file.FILE_NAME] = bag.write_bytes(
        verifier_file.FILE_NAME, verifier_file.text().encode("utf-8")
    )
    for algorithm in reversed(layout.ALGORITHMS):  # sha512 first: sha256's is the one signed
        name = f"tagmanifest-{algorithm}.txt"
        bag.write_bytes(name, _manifest(tags, algorithm))
    signed = bag.read_bytes(layout.TAG_MANIFEST)
    bag.write_bytes(layout.SIGNATURE, sources.signing_key.sign(signed))  # last of all
    return hashlib.sha256(signed).hexdigest()


def _payload_sizes(folder: Path) -> list[int]:
    return [path.stat().st_size for path in (folder / "data").rglob("*") if path.is_file()]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _checked_recipients(age_recipients: Sequence[str], *, as_zip: bool) -> None:
    """Age recipients are checked before anything is read or written."""
    if not age_recipients:
        return
    if not as_zip:
        raise BundleError("only a zip bundle can be encrypted with age")
    try:
        age.recipients_of(age_recipients)
    except age.BadRecipient as error:
        raise BundleError(str(error)) from None


def _zip_top(out: Path) -> str:
    """The zip's one top folder: OUT's name without .zip(.age), file-system safe."""
    stem = Path(out.name.removesuffix(age.SUFFIX)).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "bundle"


def _write_zip(
    plan: BundlePlan,
    sources: Sources,
    out: Path,
    partial: Path,
    *,
    before_publish: Callable[[Written], None] | None,
    age_recipients: Sequence[str],
) -> Written:
    """The bag streamed straight into one zip file, `partial` (hidden, beside `out`), through
    the age encryptor when there are recipients (bundle/age.py): no bag folder, no plaintext
    zip, so with age no plaintext byte of the bundle reaches the disk, even if the process is
    killed. The file is fsynced, `before_publish` runs, then it is renamed to `out`; any
    failure removes it."""
    try:
        # Readable by the operator alone, as the vault's own files: it holds the evidence.
        # Around the page cache where the file system allows it (direct_file.py).
        with direct_file.DirectFile(partial, 0o600) as handle:
            encrypting = (
                age.encrypting(age_recipients, handle) if age_recipients
                else contextlib.nullcontext(handle)
            )
            try:
                with encrypting as stream:
                    written = write_bundle_stream(plan, sources, stream, top=_zip_top(out))
            except age.EncryptionFailed as error:
                raise BundleError(str(error)) from None
            handle.flush()
            os.fsync(handle.fileno())
        # With age, the zip's own size and SHA-256 describe no file on disk: not given.
        written = replace(written, path=out, zip_size=None, zip_sha256=None) if age_recipients \
            else replace(written, path=out)
        if before_publish is not None:
            before_publish(written)
        partial.rename(out)
        _fsync_dir(out.parent)
    except BaseException:
        _remove(partial)
        raise
    return written


def write_bundle(
    plan: BundlePlan,
    sources: Sources,
    out: Path,
    *,
    as_zip: bool = False,
    before_publish: Callable[[Written], None] | None = None,
    age_recipients: Sequence[str] = (),
) -> Written:
    """Write the bundle to `out` (a folder, or a zip with `as_zip`), which must not exist.
    With `age_recipients` (age public keys, zip only) `out` is the zip encrypted to them.
    `before_publish(written)` runs once every file is on disk and before `out` appears; if
    it raises, nothing is left. BundleError names what stopped the bundle."""
    _checked(plan)
    _checked_recipients(age_recipients, as_zip=as_zip)
    out = out.absolute()
    if out.exists() or out.is_symlink():
        raise BundleError(f"{out} exists already: give a new name")
    if not out.parent.is_dir():
        raise BundleError(f"{out.parent} is not a folder")
    partial = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    if as_zip:
        return _write_zip(plan, sources, out, partial, before_publish=before_publish,
                          age_recipients=age_recipients)
    warnings: list[str] = []
    durability: durable.Durability | None = None
    try:
        partial.mkdir()
        # Before the first byte: the descriptor syncfs reports write-back errors to.
        durability = durable.Durability(partial)
        digest = _write_bag(_Bag(partial, durability), plan, sources, warnings)
        durability.settle()  # every file and folder on disk before anything is published
        written = Written(
            path=out,
            tagmanifest_sha256=digest,
            payload_bytes=sum(bag_sizes := _payload_sizes(partial)),
            payload_files=len(bag_sizes),
            exhibits=len(plan.exhibits),
            warnings=warnings,
        )
        if before_publish is not None:
            before_publish(written)
        partial.rename(out)
        _fsync_dir(out.parent)
    except BaseException:
        _remove(partial)
        raise
    finally:
        if durability is not None:
            durability.close()
    return written


# --- the bag streamed into a zip on any writable stream (an export job's encrypted blob) -----


class CountingSink:
    """What zipfile writes to: the caller's stream, counted and hashed (the zip's own size
    and SHA-256). It offers no tell() or seek(), so zipfile writes each member's sizes after
    its data (data descriptors) and never goes back: nothing needs a file on disk."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._stream.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """zipfile flushes; the stream's owner decides when its bytes are durable."""

    def close(self) -> None:
        """The stream's owner closes it (after this zip, it may still have bytes to write)."""


def _memory_files_refused() -> str:
    return (
        "no consolidated PDF: a zip bundle holds the renditions it is made "
        f"from in memory, {MAX_HELD_RENDITIONS // (1024 * 1024)} MiB at most; "
    )


class _ZipBag(_Bag):
    """A bag whose files are zip members written once, in order, to a stream. What the bag
    reads back is held in memory: the tag files (small), and the last original written if it
    is small enough to get a rendition (stamping.MAX_BYTES); a larger one gets none, so it is
    never read back. Each rendition is also kept in an anonymous memory file (memfd, never on
    a disk), up to MAX_HELD_RENDITIONS in all, for the consolidated PDF; `close` closes them."""

    def __init__(self, archive: zipfile.ZipFile, top: str) -> None:
        super().__init__(Path(top), durable.Durability(Path(top), needed=False))
        self._archive = archive
        self._top = top
        self._kept: dict[str, bytes] = {}
        self._stamp = dt.datetime.now(dt.UTC).timetuple()[:6]
        self._held: dict[str, int] = {}  # rendition's path -> its memory file's descriptor
        self._held_bytes = 0
        self._not_held: str | None = (
            None if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir()
            else "this system has no memory files (Linux only)"
        )

    def close(self) -> None:
        """Close every memory file (their pages are freed): at the end and on failure."""
        held, self._held = self._held, {}
        for descriptor in held.values():
            os.close(descriptor)

    def _hold(self, relative: str, chunks: Iterable[bytes]) -> Iterable[bytes]:
        """The rendition's chunks as they are written to the zip, copied to a memory file
        while the total stays within MAX_HELD_RENDITIONS."""
        if self._not_held is not None:
            yield from chunks
            return
        descriptor = os.memfd_create("rendition", os.MFD_CLOEXEC)
        self._held[relative] = descriptor
        for chunk in chunks:
            if self._not_held is None:
                self._held_bytes += len(chunk)
                if self._held_bytes > MAX_HELD_RENDITIONS:
                    self._not_held = "these renditions are more"
                    self.close()
                else:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(descriptor, view):]
            yield chunk

    def consolidating(
        self, plan: BundlePlan, rows: list[dict[str, str]], sources: Sources,
        warnings: list[str], pool: ThreadPoolExecutor,
    ) -> _Consolidating:
        """data/consolidated.pdf from the renditions held, made on `pool` by a helper process
        into another memory file, which `finish` streams into the zip; or a warning saying
        why not."""
        if not consolidated.wanted(rows):
            return _Consolidating(None)
        if self._not_held is not None:
            warnings.append(_memory_files_refused() + self._not_held)
            self.close()
            return _Consolidating(None)
        target = os.memfd_create("consolidated", os.MFD_CLOEXEC)
        future = pool.submit(
            consolidated.build_from_files,
            {row["rendition"]: self._held[row["rendition"]] for row in rows if row["rendition"]},
            target, plan, rows, sources.checkpoint, sources.verifier_key,
        )

        def then() -> None:
            self.close()  # the renditions are in the zip already
            os.lseek(target, 0, os.SEEK_SET)
            with os.fdopen(target, "rb", closefd=False) as result:
                self.write(consolidated.TARGET, iter(lambda: result.read(CHUNK), b""))

        def cleanup() -> None:
            self.close()
            os.close(target)

        return _Consolidating(future, then=then, cleanup=cleanup)

    def write(self, relative: str, chunks: Iterable[bytes]) -> dict[str, str]:
        if relative.startswith("data/exhibits/") and relative.endswith(f"/{RENDITION_NAME}"):
            chunks = self._hold(relative, chunks)
        info = zipfile.ZipInfo(f"{self._top}/{relative}", date_time=self._stamp)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        hashing = _Hashing(chunks)
        kept: bytearray | None = bytearray()
        with self._archive.open(info, "w", force_zip64=True) as member:

            def consume(chunk: bytes) -> None:
                nonlocal kept
                member.write(chunk)
                if kept is not None and len(kept) + len(chunk) <= stamping.MAX_BYTES:
                    kept += chunk
                else:
                    kept = None

            size = _beside(relative, chunks, hashing.update, consume)
        if relative.startswith("data/exhibits/"):
            self._kept = {key: value for key, value in self._kept.items()
                          if not key.startswith("data/exhibits/")}
        if kept is not None:
            self._kept[relative] = bytes(kept)
        digests = hashing.digests(relative)
        if relative.startswith("data/"):
            self.digests[relative] = digests
            self.sizes[relative] = size
        return digests

    def read_bytes(self, relative: str) -> bytes:
        try:
            return self._kept[relative]
        except KeyError:
            raise BundleError(f"{relative} is not held for reading back") from None


def write_bundle_stream(plan: BundlePlan, sources: Sources, stream: Any, *, top: str) -> Written:
    """Write the bag as a zip (stored members under the folder `top`) to `stream`, anything
    with write(): nothing touches the disk. The caller owns the stream and decides what a
    failure means for it (the export job aborts its encrypted blob); BundleError names what
    stopped the bundle. `Written.path` is `top`; `Written.zip_size`/`zip_sha256` describe
    the zip as written."""
    _checked(plan)
    sink = CountingSink(stream)
    warnings: list[str] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        bag = _ZipBag(archive, top)
        try:
            digest = _write_bag(bag, plan, sources, warnings)
        finally:
            bag.close()
    return Written(
        path=Path(top),
        tagmanifest_sha256=digest,
        payload_bytes=sum(bag.sizes.values()),
        payload_files=len(bag.sizes),
        exhibits=len(plan.exhibits),
        warnings=warnings,
        zip_size=sink.size,
        zip_sha256=sink.sha256.hexdigest(),
    )
