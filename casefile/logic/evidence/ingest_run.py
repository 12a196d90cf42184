"""Running `casefile ingest`: each file goes through the same pipeline as an upload
(IntakeStream → registration.register_many), with collector metadata from an optional sidecar.

A file whose SHA-256 is already an active item of the case is skipped before any byte of it is
encrypted, so rerunning an interrupted ingest only does the rest. Worker threads hash files (a
small file's bytes are kept from that one read, so it is opened once), write their encrypted
blobs ahead (a fresh data key each) and examine them (libmagic, bounded metadata extraction);
registration stays in order on the calling thread, several files per transaction
(registration.register_many: each item its own custody entry). The blobs are written through
`blobstore.batched`: on Linux each is written under a temporary name by its worker, and a batch
is made durable on a sync thread of its own (one syncfs for the bytes, the renames, one syncfs
for the names; elsewhere an fsync per blob and per folder) while the batch before it is
registered, so every blob is durable before the commit that makes it visible. An interruption
(Ctrl-C) stops the workers and removes every blob not yet registered; one that arrives while a
batch is being registered is held back until that transaction has committed or rolled back, so
nothing is left half-registered and no orphan blob is left behind. A kill that cannot be held
back (SIGKILL, power loss) leaves at most the blobs written ahead: orphans (or temporary files)
that `casefile scrub` reports and `scrub --repair` removes, never an item without its blob.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from casefile.logic.errors import (
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from casefile.logic.evidence import ingest_db, registration, submission
from casefile.logic.evidence.ingest_walk import SourceFile
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.registration import Registered
from casefile.logic.evidence.submission import Submission
from casefile.model import User
from casefile.vault import blobstore, sniff
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring
from casefile.vault.extract import EXTRACT_LIMIT

CHUNK = 1 << 20
SMALL_FILE = 1 << 20  # a file this small is kept from its hashing read: one open, one read
_FATAL = (Forbidden, NotFound, Unauthenticated)  # the actor may not ingest here: stop at once

WORKERS = 4  # threads that hash, encrypt and write blobs; registering stays on the caller's
CHECK_BATCH = 64  # files hashed ahead and checked against the case in one query
IN_FLIGHT_FILES = 128  # blobs written ahead of their registration, at most
REGISTER_BATCH = 64  # files registered in one transaction, at most ...
REGISTER_SECONDS = 0.1  # ... and no longer waited for than this once the first is ready
IN_FLIGHT_BYTES = 64 * 1024 * 1024  # ... and bytes held in memory for them (head + small files)


@dataclass
class Summary:
    added: int = 0
    present: int = 0  # already in the case (same SHA-256), skipped
    failed: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    bytes_added: int = 0
    interrupted: bool = False

    def line(self) -> str:
        return f"added {self.added}, already in case {self.present}, failed {len(self.failed)}"


@dataclass(frozen=True)
class Outcome:
    source: SourceFile
    status: str  # "added" | "present" | "failed"
    ern: str | None = None
    reason: str | None = None


BytesDone = Callable[[int], None]
FileDone = Callable[[Outcome], None]


def ingest(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    files: Sequence[SourceFile],
    *,
    store: BlobStore,
    keyring: Callable[[], Keyring],
    summary: Summary | None = None,
    on_bytes: BytesDone | None = None,
    on_file: FileDone | None = None,
) -> Summary:
    """Ingest `files` into the case as `actor`.

    Worker threads hash files ahead (checked against the case a batch at a time), stream the
    new ones through IntakeStream into durable blobs and examine them; this thread registers
    them in order, up to REGISTER_BATCH per transaction (registration.register_many); a batch the
    database refuses is registered again one file at a time, so a bad file fails alone.
    `summary` is filled as it goes, so it tells what was done even when an interruption ends
    the run early. `keyring` is asked per batch of files checked against the case (and per
    registration), so a KEK rotated meanwhile is picked up.
    `on_bytes` may be called from the worker threads.
    A file that cannot be read or stored fails alone; an actor who may not add evidence stops
    the run before the first file."""
    summary = summary if summary is not None else Summary()
    ingest_db.authorize(session, actor, case_id)
    with (
        ingest_db.one_connection(session) as work,
        ThreadPoolExecutor(WORKERS, "casefile-ingest") as pool,
        ThreadPoolExecutor(1, "casefile-ingest-sync") as syncer,
    ):
        run = _Run(work, actor, case_id, store, keyring, summary, on_bytes, on_file, pool, syncer)
        try:
            run.go(files)
        except BaseException as error:
            run.summary.interrupted = isinstance(error, KeyboardInterrupt)
            run.abandon()
            raise
        finally:
            run.blobs.close()
    return summary


@dataclass
class _Flight:
    """A new file on its way: hashed, then streamed into a blob by a worker."""

    source: SourceFile
    sha256: str
    future: Future[tuple[IntakeStream, Submission]]
    weight: int  # bytes it holds in memory until registered


_Hashed = tuple[str, bytes | None]  # SHA-256, and the bytes of a small file
_Ready = tuple[_Flight, IntakeStream, Submission]


@dataclass
class _Settling:
    """A batch taken for registering: the files whose blobs failed, and those written, being
    made durable on the sync thread (`durable`) before they are registered."""

    failed: list[tuple[_Flight, Exception]] = field(default_factory=list)
    ready: list[_Ready] = field(default_factory=list)
    durable: Future[None] | None = None


class _Cancelled(Exception):
    pass


@dataclass
class _Run:
    session: Session
    actor: User | None
    case_id: uuid.UUID
    store: BlobStore
    keyring: Callable[[], Keyring]
    summary: Summary
    on_bytes: BytesDone | None
    on_file: FileDone | None
    pool: ThreadPoolExecutor
    syncer: ThreadPoolExecutor  # makes a batch's blobs durable (blobstore.Batch.settle)
    blobs: blobstore.Batch = field(init=False)  # the store, written a batch at a time
    flights: deque[_Flight] = field(default_factory=deque)
    weight: int = 0  # of the flights, in all (kept as they come and go, not summed per file)
    settling: deque[_Settling] = field(default_factory=deque)  # taken, not yet registered
    hashing: list[Future[_Hashed]] = field(default_factory=list)
    in_run: dict[str, list[SourceFile]] = field(default_factory=dict)  # sha256 → later copies
    cancel: threading.Event = field(default_factory=threading.Event)
    # Every stream a worker has begun and nobody has settled (registered, or aborted): what an
    # interruption must abort, wherever this thread happens to be when it comes.
    unsettled: dict[uuid.UUID, IntakeStream] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The KEK that new files' data keys are wrapped under, asked for once per batch checked
    # (asking reads the key file's time: a system call, and a turn of the GIL, per file).
    keys: Keyring = field(init=False)

    def __post_init__(self) -> None:
        self.blobs = blobstore.batched(self.store)

    def go(self, files: Sequence[SourceFile]) -> None:
        batches = [
            files[start : start + CHECK_BATCH] for start in range(0, len(files), CHECK_BATCH)
        ]
        ahead = self._hash(batches[0]) if batches else []
        for number, batch in enumerate(batches):
            hashed = ahead
            ahead = self._hash(batches[number + 1]) if number + 1 < len(batches) else []
            self.hashing = ahead
            digests: dict[int, _Hashed] = {}
            for index, (source, future) in enumerate(zip(batch, hashed, strict=True)):
                try:
                    digests[index] = future.result()
                except Exception as error:  # noqa: BLE001 - an unreadable file fails alone
                    self._done(Outcome(source, "failed", reason=_reason(error)))
            present = ingest_db.sha256s_in_case(
                self.session, self.actor, self.case_id, [digest for digest, _ in digests.values()]
            )
            self.session.commit()  # end the read (SQLite: a write lock) before streaming
            self.keys = self.keyring()
            for index, (digest, content) in digests.items():
                self._sort(batch[index], digest, content, present)
                self._register_ahead(limit=IN_FLIGHT_FILES)
        self._register_ahead(limit=0)

    def _hash(self, batch: Sequence[SourceFile]) -> list[Future[_Hashed]]:
        return [self.pool.submit(self._sha256, source.path) for source in batch]

    def _sha256(self, path: Path) -> _Hashed:
        """In a worker: the file's SHA-256, read once before anything else is done with it;
        a file of at most SMALL_FILE bytes is kept, so that it is encrypted from memory."""
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= SMALL_FILE:
                # A read of a regular file returns less than asked for only at its end.
                content = handle.read(size + 1)
                digest.update(content)
                if len(content) <= size:
                    return digest.hexdigest(), content
                # it grew meanwhile: the rest is read like a large file's, and it is streamed
            while chunk := handle.read(CHUNK):
                if self.cancel.is_set():
                    raise _Cancelled
                digest.update(chunk)
        return digest.hexdigest(), None

    def _sort(
        self, source: SourceFile, digest: str, content: bytes | None, present: set[str]
    ) -> None:
        if digest in present:
            self.summary.present += 1
            self._advance(source.size)
            self._done(Outcome(source, "present"))
        elif digest in self.in_run:  # a copy of a file on its way: wait for its outcome
            self.in_run[digest].append(source)
        else:
            self.in_run[digest] = []
            self._launch(source, digest, content)

    def _launch(self, source: SourceFile, digest: str, content: bytes | None) -> None:
        future = self.pool.submit(self._stream, source, content, self.keys)
        weight = min(source.size, EXTRACT_LIMIT) + sniff.HEAD_BYTES
        self.flights.append(_Flight(source, digest, future, weight))
        self.weight += weight

    def _stream(
        self, source: SourceFile, content: bytes | None, keyring: Keyring
    ) -> tuple[IntakeStream, Submission]:
        """In a worker: the file (from memory when small, its bytes as hashed) through
        streaming encryption into a blob, renamed into place but not yet durable (its folder is
        fsynced with its batch's), then examined (what register would do before its
        transaction, off the registering thread)."""
        stream = IntakeStream(self.blobs, keyring, also=source.data.declared_hashes)
        with self.lock:
            self.unsettled[stream.item_id] = stream
        try:
            if content is not None:
                if self.cancel.is_set():
                    raise _Cancelled  # noqa: TRY301
                stream.write(content)
                self._advance(len(content))
            else:
                with source.path.open("rb") as handle:
                    while chunk := handle.read(CHUNK):
                        if self.cancel.is_set():
                            raise _Cancelled  # noqa: TRY301
                        stream.write(chunk)
                        self._advance(len(chunk))
            received = stream.finish()
            return stream, submission.prepare(
                received, source.data, filename=source.relative, declared_mime=None
            )
        except BaseException:
            self._settle(stream, abort=True)
            raise

    def _settle(self, stream: IntakeStream, *, abort: bool) -> None:
        if abort:
            stream.abort()
        with self.lock:
            self.unsettled.pop(stream.item_id, None)

    def _register_ahead(self, *, limit: int) -> None:
        """Register batches until at most `limit` flights wait (0: all). A batch is made
        durable on the sync thread while the one before it is registered here; with `limit`,
        the last batch taken is left settling while this thread goes on sorting files."""
        while True:
            if self.flights and (
                len(self.flights) > limit
                or (limit and self.weight > IN_FLIGHT_BYTES)
            ):
                batch = self._next_batch()
                for _ in batch:
                    self.weight -= self.flights.popleft().weight
                self.settling.append(self._make_durable(batch))  # its streams stay unsettled
                if len(self.settling) > 1:
                    self._register(self.settling.popleft())
            elif not limit and self.settling:
                self._register(self.settling.popleft())  # may launch a failed file's copy
            else:
                return

    def _next_batch(self) -> list[_Flight]:
        """The first flight, and those after it whose blobs are written by the time it is
        (or within REGISTER_SECONDS of it), up to REGISTER_BATCH."""
        first = self.flights[0]
        futures_wait([first.future])
        deadline = time.monotonic() + REGISTER_SECONDS
        batch = [first]
        for flight in itertools.islice(self.flights, 1, REGISTER_BATCH):
            if not flight.future.done():
                futures_wait([flight.future], timeout=max(0.0, deadline - time.monotonic()))
                if not flight.future.done():
                    break
            batch.append(flight)
        return batch

    def _make_durable(self, flights: Sequence[_Flight]) -> _Settling:
        """The batch's written blobs made durable on the sync thread (blobstore.settle), so
        that none is registered before; on a thread of its own, not queued behind the
        workers' files, and its waits and system time off this thread, the one that cannot
        be spread over cores."""
        batch = _Settling()
        for flight in flights:
            try:
                stream, submission = flight.future.result()
            except Exception as error:  # noqa: BLE001 - its blob is aborted already
                batch.failed.append((flight, error))
                continue
            batch.ready.append((flight, stream, submission))
        if batch.ready:
            blob_ids = [stream.item_id.hex for _, stream, _ in batch.ready]
            batch.durable = self.syncer.submit(self.blobs.settle, blob_ids)
        return batch

    def _register(self, batch: _Settling) -> None:
        for flight, error in batch.failed:
            self._failed(flight, error)
        ready = batch.ready
        if not ready or batch.durable is None:
            return
        try:  # every blob of the batch durable before it is registered
            batch.durable.result()
        except (OSError, blobstore.BlobStoreError) as error:
            self._refused(ready, error)
            return
        with ingest_db.interruptions_held():
            try:
                results = self._register_many(ready)
            except Exception as error:  # noqa: BLE001 - nothing of the batch was registered
                if isinstance(error, _FATAL) or len(ready) == 1:
                    self._refused(ready, error)
                else:
                    self._one_by_one(ready)
                return
            except BaseException:
                # A second Ctrl-C (it does not wait): the batch may have committed just before
                # it. Its blobs stay: an item without its blob would be lost evidence, while a
                # blob without an item is an orphan that `scrub --repair` removes.
                for _, stream, _ in ready:
                    self._settle(stream, abort=False)
                raise
            for one, result in zip(ready, results, strict=True):
                self._settled(one, result)

    def _one_by_one(self, ready: Sequence[_Ready]) -> None:
        """After a batch the database refused: each file alone, so a bad one fails alone."""
        for one in ready:
            try:
                [result] = self._register_many([one])
            except Exception as error:  # noqa: BLE001 - reported per file
                self._refused([one], error)
                continue
            self._settled(one, result)

    def _register_many(
        self, ready: Sequence[_Ready]
    ) -> list[Registered]:
        try:
            return registration.register_many(
                self.session,
                self.actor,
                self.case_id,
                [submission for _, _, submission in ready],
                store=self.store,
                keyring=self.keyring(),
            )
        except BaseException:
            self.session.rollback()
            raise

    def _refused(
        self, ready: Sequence[_Ready], error: Exception
    ) -> None:
        """Registration failed and rolled back: the blobs go, and the files fail (or, for an
        actor who may not add evidence here, the run stops)."""
        for _, stream, _ in ready:
            self._settle(stream, abort=True)
        if isinstance(error, _FATAL):
            raise error
        for flight, _, _ in ready:
            self._failed(flight, error)

    def _settled(self, ready: _Ready, result: Registered) -> None:
        flight, stream, submission = ready
        self._settle(stream, abort=False)  # its blob is the item's now: never to be aborted
        if result.created:
            self.summary.added += 1
            self.summary.bytes_added += submission.received.size
            self._done(Outcome(flight.source, "added", ern=result.item.ern))
        else:  # added by someone else since the check
            self.summary.present += 1
            self._done(Outcome(flight.source, "present", ern=result.item.ern))
        for copy in self.in_run.pop(flight.sha256, []):
            self.summary.present += 1
            self._advance(copy.size)
            self._done(Outcome(copy, "present", ern=result.item.ern))

    def _failed(self, flight: _Flight, error: Exception) -> None:
        self.session.rollback()
        self._done(Outcome(flight.source, "failed", reason=_reason(error)))
        copies = self.in_run.pop(flight.sha256, [])
        if copies:  # the next copy of the same content takes its place
            self.in_run[flight.sha256] = copies[1:]
            self._launch(copies[0], flight.sha256, None)

    def _done(self, outcome: Outcome) -> None:
        if outcome.status == "failed":
            self.summary.failed.append((outcome.source.relative, outcome.reason or ""))
        if self.on_file is not None:
            self.on_file(outcome)

    def _advance(self, count: int) -> None:
        if self.on_bytes is not None:
            self.on_bytes(count)

    def abandon(self) -> None:
        """After an interruption or a fatal error: stop the workers, and remove every blob
        written but not registered (nothing half-registered, no orphans)."""
        self.cancel.set()
        for hashing in self.hashing:
            hashing.cancel()
        for flight in self.flights:
            flight.future.cancel()
        self.pool.shutdown(wait=True)  # the running ones see `cancel` at their next chunk
        for batch in self.settling:  # a settle under way finishes before its blobs go
            if batch.durable is not None:
                futures_wait([batch.durable])
        with self.lock:
            streams = list(self.unsettled.values())
        for stream in streams:
            self._settle(stream, abort=True)
        self.flights.clear()
        self.weight = 0
        self.settling.clear()


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{name}: {problem}" for name, problem in error.fields.items())
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}"
