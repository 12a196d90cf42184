"""Running `casefile ingest`: each file goes through the same pipeline as an upload
(IntakeStream → registration.register_many), with collector metadata from an optional sidecar.

A file whose SHA-256 is already an active item of the case is skipped before any byte of it is
encrypted, so rerunning an interrupted ingest only does the rest. Worker threads hash files (a
small file's bytes are kept from that one read, so it is opened once), write their encrypted
blobs ahead (a fresh data key each) and examine them (libmagic, bounded metadata extraction).
A run of PROCESSES_FROM files or more into a local store (with syncfs) has the blobs written and
examined by worker processes instead (ingest_workers: one per CPU, a chunk of files per task,
forked from a fork server, the KEK given over their pipe), since Python threads share one core;
the threads still hash. A worker process writes each blob under its temporary name and never
renames it: this process adopts it into its batch, so durability is as below. One that dies
fails the files it had (its blobs begun are removed: their ids were chosen here), a new pool
takes the rest; the workers ignore Ctrl-C and end with this process, however it ends.
Registration stays in order on the calling thread, several files per transaction
(registration.register_many: each item its own custody entry). The blobs are written through
`blobstore.batched`: on Linux each is written under a temporary name by its worker, and a batch
is made durable on a sync thread of its own (one syncfs for the bytes, the renames, one syncfs
for the names; elsewhere an fsync per blob and per folder) while the batch before it is
registered, so every blob is durable before the commit that makes it visible. An interruption
(Ctrl-C) stops the workers and removes every blob not yet registered; one that arrives while a
batch is being registered is held back until that transaction has committed or rolled back, so
nothing is left half-registered and no orphan blob is left behind (the worker processes are
told to stop, and their blobs not yet registered are removed too). A kill that cannot be held
back (SIGKILL, power loss) leaves at most the blobs written ahead: orphans (or temporary files)
that `casefile scrub` reports and `scrub --repair` removes, never an item without its blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from casefile import failures
from casefile.logic.errors import (
    Forbidden,
    NotFound,
    Unauthenticated,
)
from casefile.logic.evidence import ingest_db, ingest_workers, registration, submission
from casefile.logic.evidence.ingest_walk import SourceFile
from casefile.logic.evidence.ingest_workers import WorkerFailure, reason
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


def _outcome_unknown(error: Exception) -> bool:
    """Whether the database was lost during the registration: its commit may have happened.
    Such a batch is neither retried one file at a time (each would find its own item, as a
    duplicate whose blob is "unused") nor are its blobs removed."""
    return failures.classify(error) is failures.DATABASE_UNAVAILABLE

WORKERS = 4  # threads that hash, encrypt and write blobs; registering stays on the caller's
CHECK_BATCH = 64  # files hashed ahead and checked against the case in one query
IN_FLIGHT_FILES = 128  # blobs written ahead of their registration, at most
REGISTER_BATCH = 64  # files registered in one transaction, at most ...
REGISTER_SECONDS = 0.1  # ... and no longer waited for than this once the first is ready
IN_FLIGHT_BYTES = 64 * 1024 * 1024  # ... and bytes held in memory for them (head + small files)
# From this many files in a run, into a local store with syncfs, worker processes write and
# examine the blobs (ingest_workers): starting them costs ~0.5 s, so smaller runs keep the
# threads. Not on a machine of one core, nor into S3 (its uploads wait on the network, and a
# thread that waits does not hold the GIL).
PROCESSES_FROM = 200
PROCESSES = min(os.cpu_count() or 1, 8)  # worker processes
PROCESS_CHUNK = 16  # files per task sent to a worker process, at most ...
PROCESS_CHUNK_BYTES = 8 * 1024 * 1024  # ... and bytes (small files are sent in memory)


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
    new ones through IntakeStream into durable blobs and examine them (worker processes do
    that in a large run into a local store: see the module's docstring); this thread registers
    them in order, up to REGISTER_BATCH per transaction (registration.register_many); a batch the
    database refuses is registered again one file at a time, so a bad file fails alone.
    `summary` is filled as it goes, so it tells what was done even when an interruption ends
    the run early. `keyring` is asked per batch of files checked against the case (and per
    registration), so a KEK rotated meanwhile is picked up.
    `on_bytes` may be called from the worker threads (or the process pool's thread, once per
    file, as its blob comes back).
    A file that cannot be read or stored fails alone; an actor who may not add evidence stops
    the run before the first file."""
    summary = summary if summary is not None else Summary()
    ingest_db.authorize(session, actor, case_id)
    processes = (
        len(files) >= PROCESSES_FROM
        and PROCESSES >= 1
        and (os.cpu_count() or 1) > 1
        and ingest_workers.usable(store)
    )
    with (
        ingest_db.one_connection(session) as work,
        ThreadPoolExecutor(WORKERS, "casefile-ingest") as pool,
        ThreadPoolExecutor(1, "casefile-ingest-sync") as syncer,
    ):
        run = _Run(work, actor, case_id, store, keyring, summary, on_bytes, on_file, pool, syncer)
        run.processes = processes
        try:
            run.go(files)
        except BaseException as error:
            run.summary.interrupted = isinstance(error, KeyboardInterrupt)
            run.abandon()
            raise
        finally:
            run.stop_processes()
            run.blobs.close()
    return summary


class _Blob(Protocol):
    """A blob written for a file, not yet registered: an IntakeStream of a worker thread, or a
    worker process's blob adopted by this process's batch (`_Adopted`)."""

    @property
    def item_id(self) -> uuid.UUID: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class _Adopted:
    """A blob a worker process wrote, under its temporary name until its batch settles."""

    item_id: uuid.UUID
    blobs: blobstore.Batch

    def abort(self) -> None:
        self.blobs.delete(self.item_id.hex)  # under its temporary name, or renamed


@dataclass
class _Flight:
    """A new file on its way: hashed, then streamed into a blob by a worker."""

    source: SourceFile
    sha256: str
    future: Future[tuple[_Blob, Submission]]
    weight: int  # bytes it holds in memory until registered


_Hashed = tuple[str, bytes | None]  # SHA-256, and the bytes of a small file
_Ready = tuple[_Flight, _Blob, Submission]
_Job = tuple[ingest_workers.Job, "Future[tuple[_Blob, Submission]]", int]  # and bytes to count


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
    unsettled: dict[uuid.UUID, _Blob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The KEK that new files' data keys are wrapped under, asked for once per batch checked
    # (asking reads the key file's time: a system call, and a turn of the GIL, per file).
    keys: Keyring = field(init=False)
    # Worker processes (ingest_workers) instead of the threads for the blobs, if `processes`:
    # started when the first new file is sent (a rerun that finds every file starts none).
    processes: bool = False
    process_pool: ProcessPoolExecutor | None = None
    pool_keys: Keyring | None = None  # the KEK the pool was started with
    stop: Any = None  # the pool's multiprocessing Event: set, the workers stop
    jobs: list[_Job] = field(default_factory=list)  # new files not yet sent to a worker
    jobs_bytes: int = 0
    # Pools that broke (a worker process died), shut down at the end.
    broken: list[ProcessPoolExecutor] = field(default_factory=list)
    # Files sent to a worker whose blob has not come back (adopted, or failed and removed by
    # the worker): once every worker is gone, whatever was written of them under temporary
    # names is removed (their ids were chosen here): after a worker died, or an interruption
    # that came between a task's sending and its outcome.
    sent: set[uuid.UUID] = field(default_factory=set)

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
                    self._done(Outcome(source, "failed", reason=reason(error)))
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
        future: Future[tuple[_Blob, Submission]]
        if self.processes:
            future = self._job(source, content)
        else:
            future = self.pool.submit(self._stream, source, content, self.keys)
        weight = min(source.size, EXTRACT_LIMIT) + sniff.HEAD_BYTES
        self.flights.append(_Flight(source, digest, future, weight))
        self.weight += weight

    def _job(self, source: SourceFile, content: bytes | None) -> Future[tuple[_Blob, Submission]]:
        """A new file for the worker processes, sent with others as one task (`_flush`)."""
        future: Future[tuple[_Blob, Submission]] = Future()
        job = ingest_workers.Job(
            uuid.uuid4(), str(source.path), source.relative, content, source.data
        )
        self.jobs.append((job, future, source.size))
        self.jobs_bytes += len(content) if content is not None else CHUNK
        if len(self.jobs) >= PROCESS_CHUNK or self.jobs_bytes >= PROCESS_CHUNK_BYTES:
            self._flush()
        return future

    def _flush(self) -> None:
        """Send the files gathered to a worker process, as one task. The pool is started for
        the first; one that broke (a worker process died: its files fail) is started again."""
        if not self.jobs:
            return
        jobs, self.jobs, self.jobs_bytes = self.jobs, [], 0
        with self.lock:
            self.sent.update(job.item_id for job, _, _ in jobs)
        for attempt in range(2):
            pool = self._process_pool(fresh=attempt > 0)
            kek = None if self.keys is self.pool_keys else self.keys.to_text()
            try:
                chunk = pool.submit(
                    ingest_workers.stream_chunk, [job for job, _, _ in jobs], kek
                )
            except BrokenProcessPool as error:
                broken: Exception = error
                continue
            chunk.add_done_callback(lambda done: self._chunk_done(done, jobs))
            return
        for _, future, _ in jobs:
            _set(future, exception=WorkerFailure(f"no ingest worker process: {reason(broken)}"))

    def _process_pool(self, *, fresh: bool) -> ProcessPoolExecutor:
        if self.process_pool is not None and not fresh:
            return self.process_pool
        if self.process_pool is not None:
            self.process_pool.shutdown(wait=False, cancel_futures=True)
            self.broken.append(self.process_pool)
        if self.stop is None:
            self.stop = ingest_workers.context().Event()
        batch = self.blobs
        if not isinstance(batch, blobstore.LocalBatch) or not isinstance(
            self.store, blobstore.LocalBlobStore
        ):  # pragma: no cover - ingest_workers.usable said so
            raise TypeError("worker processes write into a local store only")
        batch.begin()  # before any byte is written: its syncfs reports every failure since
        self.pool_keys = self.keys
        self.process_pool = ingest_workers.pool(
            PROCESSES, self.keys.to_text(), self.store.root, self.stop
        )
        return self.process_pool

    def _chunk_done(
        self, done: Future[list[ingest_workers.Written | ingest_workers.Failed]], jobs: list[_Job]
    ) -> None:
        """A task's outcome, on the pool's thread: each written blob adopted by this process's
        batch (and, until registered, one that an interruption removes), each file's future
        given its outcome."""
        if done.cancelled():
            for _, future, _ in jobs:
                future.cancel()
            return
        error = done.exception()
        if error is not None:
            # The worker stopped (the run was interrupted: it removed its blobs) or died while
            # on these files: whatever it had begun of them, under temporary names, goes.
            for job, future, _ in jobs:
                self._remove_temporaries(job.item_id)  # and again once no worker runs
                _set(future, exception=WorkerFailure(
                    f"the ingest worker process ended: {reason(error)}"
                ))
            return
        for (job, future, size), result in zip(jobs, done.result(), strict=True):
            with self.lock:
                self.sent.discard(job.item_id)  # adopted below, or removed by the worker
            if isinstance(result, ingest_workers.Failed):
                _set(future, exception=WorkerFailure(result.reason))
                continue
            blob = _Adopted(job.item_id, self.blobs)
            try:
                if not isinstance(self.blobs, blobstore.LocalBatch):  # pragma: no cover
                    raise TypeError("worker processes write into a local store only")  # noqa: TRY301
                self.blobs.adopt(job.item_id.hex, result.temp, result.final)
            except Exception as failure:  # noqa: BLE001 - not this store's: fails alone
                self._remove_temporaries(job.item_id)
                _set(future, exception=failure)
                continue
            with self.lock:
                self.unsettled[job.item_id] = blob
            self._advance(size)
            _set(future, result=(blob, result.submission))

    def _remove_temporaries(self, item_id: uuid.UUID) -> None:
        if isinstance(self.store, blobstore.LocalBlobStore):
            with contextlib.suppress(OSError):  # or scrub --repair removes it
                self.store.remove_temporaries(item_id.hex)

    def stop_processes(self) -> None:
        """The worker processes end (after the run, or after `abandon` stopped them)."""
        for pool in [*self.broken, self.process_pool]:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        with self.lock:
            lost, self.sent = self.sent, set()
        for item_id in sorted(lost):  # no worker can be writing any more
            self._remove_temporaries(item_id)

    def _stream(
        self, source: SourceFile, content: bytes | None, keyring: Keyring
    ) -> tuple[_Blob, Submission]:
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

    def _settle(self, stream: _Blob, *, abort: bool) -> None:
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
        self._flush()  # the files not yet sent to a worker process
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
                if isinstance(error, _FATAL) or len(ready) == 1 or _outcome_unknown(error):
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
            added = self.summary.added
            for one, result in zip(ready, results, strict=True):
                self._settled(one, result)
        # Outside the held block: an ANALYZE of a large table may take seconds, and Ctrl-C
        # need not wait for a refresh of the planner's statistics (the batch is committed).
        ingest_db.keep_statistics(self.session, self.case_id, added, self.summary.added)

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
        actor who may not add evidence here, the run stops). A connection lost to the
        database leaves the outcome unknown (the commit may have happened before it was
        lost): the blobs stay, as an upload's do. An item committed keeps its blob, and a rerun
        finds it present; a blob no item owns is an orphan that `scrub --repair` removes."""
        keep = _outcome_unknown(error)
        for _, stream, _ in ready:
            self._settle(stream, abort=not keep)
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
        self._done(Outcome(flight.source, "failed", reason=reason(error)))
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
        if self.stop is not None:
            self.stop.set()  # the worker processes' `cancel`
        for hashing in self.hashing:
            hashing.cancel()
        for flight in self.flights:
            flight.future.cancel()
        for _, future, _ in self.jobs:
            future.cancel()  # never sent
        self.jobs = []
        self.pool.shutdown(wait=True)  # the running ones see `cancel` at their next chunk
        # Tasks not begun are cancelled; those under way stop at their next file or chunk and
        # remove their blobs; the blobs of those done were adopted, and are unsettled: all of
        # that has happened once the pool is shut down (its thread has given every outcome).
        self.stop_processes()
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


def _set(
    future: Future[tuple[_Blob, Submission]],
    *,
    result: tuple[_Blob, Submission] | None = None,
    exception: Exception | None = None,
) -> None:
    """Give a file's future its outcome, unless an interruption cancelled it meanwhile (its
    blob is unsettled: `abandon` removes it)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except InvalidStateError:
        pass
