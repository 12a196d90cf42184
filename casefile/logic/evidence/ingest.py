"""Bulk intake from folders (`casefile ingest`): each file goes through the same pipeline as an
upload (IntakeStream → registration), with collector metadata from an optional sidecar.

A file whose SHA-256 is already an active item of the case is skipped before any byte of it is
encrypted, so rerunning an interrupted ingest only does the rest. Worker threads hash files,
write their encrypted blobs ahead (a fresh data key each; the fsyncs overlap) and examine them
(libmagic, bounded metadata extraction); registration stays in order on the calling thread,
several files per transaction (registration.register_many: each item its own custody entry, every
blob durable before the commit that makes it visible). An interruption (Ctrl-C) stops the
workers and removes every blob not yet registered; one that arrives while a batch is being
registered is held back until that transaction has committed or rolled back, so nothing is
left half-registered and no orphan blob is left behind. A kill that cannot be held back
(SIGKILL, power loss) leaves at most the blobs written ahead: orphans that `casefile scrub`
reports and `scrub --repair` removes, never an item without its blob.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import signal
import stat
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.errors import (
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from casefile.logic.evidence import registration, submission
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.registration import Registered
from casefile.logic.evidence.submission import EvidenceInput, Submission
from casefile.model import Evidence, EvidenceStatus, User
from casefile.vault import sniff
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring
from casefile.vault.extract import EXTRACT_LIMIT

CHUNK = 1 << 20
KEY_COLUMNS = ("path", "filename")
HASH_COLUMNS = ("md5", "sha1", "sha256")  # shorthand for declared_hashes, as acquisition logs have
FIELDS = tuple(EvidenceInput.model_fields)
_FATAL = (Forbidden, NotFound, Unauthenticated)  # the actor may not ingest here: stop at once


# --- the sidecar ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sidecar:
    """Collector metadata per file, keyed by a path relative to the folder given on the command
    line (or as given, or absolute) or by a bare file name; validated in full when loaded."""

    name: str
    entries: dict[str, EvidenceInput]

    def lookup(self, source: SourceFile) -> str | None:
        for key in source.sidecar_keys():
            if key in self.entries:
                return key
        return None


def _key(text: str) -> str:
    return PurePosixPath(text.strip().replace("\\", "/")).as_posix()


def load_sidecar(path: Path) -> Sidecar:
    """Read a CSV (header row: `path` or `filename`, then EvidenceInput field names) or a JSON
    object (key → object of fields). Any unknown column or invalid value is an error here,
    before anything is ingested."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationFailed({"sidecar": f"cannot read {path}: {error}"}) from None
    if path.suffix.lower() == ".json":
        rows = _json_rows(text)
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        rows = _csv_rows(text, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    else:
        raise ValidationFailed({"sidecar": "must be a .csv or a .json file"})
    entries: dict[str, EvidenceInput] = {}
    for where, key, fields in rows:
        if not key:
            raise ValidationFailed({"sidecar": f"{where}: no path or filename"})
        if key in entries:
            raise ValidationFailed({"sidecar": f"{where}: {key} is listed twice"})
        try:
            entries[key] = submission.parse_input(_merge_hash_columns(fields))
        except ValidationFailed as error:
            problems = "; ".join(f"{name}: {problem}" for name, problem in error.fields.items())
            raise ValidationFailed({"sidecar": f"{where} ({key}): {problems}"}) from None
        except ValueError as error:  # a malformed declared_hashes list
            raise ValidationFailed({"sidecar": f"{where} ({key}): {error}"}) from None
    return Sidecar(path.name, entries)


def _check_columns(columns: Sequence[str], where: str) -> None:
    unknown = [name for name in columns if name not in (*KEY_COLUMNS, *FIELDS, *HASH_COLUMNS)]
    if unknown:
        raise ValidationFailed(
            {
                "sidecar": f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"allowed: path or filename, {', '.join(FIELDS)}, {', '.join(HASH_COLUMNS)}"
            }
        )


Row = tuple[str, str, dict[str, object]]  # (where, key, fields)


def _csv_rows(text: str, *, delimiter: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise ValidationFailed({"sidecar": "the CSV file is empty (it needs a header row)"})
    columns = [name.strip().lower() for name in header]
    _check_columns(columns, "header")
    if not any(name in columns for name in KEY_COLUMNS):
        raise ValidationFailed({"sidecar": "the header has no path or filename column"})
    if len(set(columns)) != len(columns):
        raise ValidationFailed({"sidecar": "the header names a column twice"})
    rows: list[Row] = []
    for values in reader:
        where = f"line {reader.line_num}"
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(columns):
            raise ValidationFailed({"sidecar": f"{where}: more values than columns"})
        row: dict[str, object] = dict(zip(columns, values, strict=False))
        named = [str(row.pop(column, "") or "").strip() for column in KEY_COLUMNS]
        key = next((name for name in named if name), "")
        rows.append((where, _key(key) if key else "", row))
    return rows


def _json_rows(text: str) -> list[Row]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationFailed({"sidecar": f"not valid JSON: {error}"}) from None
    if not isinstance(document, dict):
        raise ValidationFailed({"sidecar": "the JSON must be an object: path or name → fields"})
    rows: list[Row] = []
    for key, fields in document.items():
        if not isinstance(fields, dict):
            raise ValidationFailed({"sidecar": f"{key}: its value must be an object of fields"})
        _check_columns(list(fields), f"{key}")
        rows.append((f"entry {key!r}", _key(key) if key.strip() else "", dict(fields)))
    return rows


def _merge_hash_columns(fields: Mapping[str, object]) -> dict[str, object]:
    result = {name: value for name, value in fields.items() if name not in HASH_COLUMNS}
    declared = result.get("declared_hashes")
    extra = {
        name: str(fields[name]).strip().lower()
        for name in HASH_COLUMNS
        if name in fields and str(fields[name] or "").strip()
    }
    if extra:
        if isinstance(declared, str) and declared.strip():
            declared = submission.parse_declared_hashes(declared)
        merged = dict(declared) if isinstance(declared, dict) else {}
        result["declared_hashes"] = merged | extra
    return result


# --- what to ingest -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str  # POSIX path below the folder it was found in (its name if given directly)
    given: str  # the path as reached from the command line's argument
    size: int
    data: EvidenceInput = field(default_factory=EvidenceInput)

    def sidecar_keys(self) -> Iterator[str]:
        """Sidecar keys that name this file, the most specific first."""
        yield self.relative
        yield _key(self.given)
        yield self.path.absolute().as_posix()
        yield self.path.name


@dataclass(frozen=True)
class Plan:
    files: list[SourceFile]
    ignored: list[tuple[str, str]]  # (path, why): hidden files, symlinks, special files
    unmatched: list[str]  # sidecar entries that name no file

    @property
    def total_bytes(self) -> int:
        return sum(source.size for source in self.files)


def plan(
    paths: Sequence[Path], sidecar: Sidecar | None = None, *, exclude: Path | None = None
) -> Plan:
    """Every regular file under `paths`, in sorted order, each once; hidden files and folders,
    symbolic links and special files are left out (and listed). `exclude` (the sidecar file
    itself) is not ingested."""
    walker = _Walker(exclude)
    for path in paths:
        walker.argument(path)
    files, unmatched = walker.files, []
    if sidecar is not None:
        used: set[str] = set()
        for number, source in enumerate(files):
            key = sidecar.lookup(source)
            if key is not None:
                used.add(key)
                files[number] = dataclasses.replace(source, data=sidecar.entries[key])
        unmatched = sorted(set(sidecar.entries) - used)
    return Plan(files, walker.ignored, unmatched)


class _Walker:
    def __init__(self, exclude: Path | None) -> None:
        self.files: list[SourceFile] = []
        self.ignored: list[tuple[str, str]] = []
        self._seen: set[tuple[int, int]] = set()
        if exclude is not None:
            info = exclude.stat()
            self._seen.add((info.st_dev, info.st_ino))

    def argument(self, path: Path) -> None:
        given = path.as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            self.ignored.append((given, "symbolic link"))
        elif stat.S_ISDIR(info.st_mode):
            self._walk(path, "", given)
        elif stat.S_ISREG(info.st_mode):
            self._add(path, path.name, given, info)
        else:
            self.ignored.append((given, "not a regular file"))

    def _add(self, path: Path, relative: str, given: str, info: os.stat_result) -> None:
        identity = (info.st_dev, info.st_ino)
        if identity not in self._seen:  # the same file reached twice is ingested once
            self._seen.add(identity)
            self.files.append(SourceFile(path, relative, given, info.st_size))

    def _walk(self, folder: Path, prefix: str, given: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            self.ignored.append((given, f"cannot list: {error.strerror or error}"))
            return
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            shown = f"{given.rstrip('/')}/{entry.name}"
            if entry.name.startswith("."):
                self.ignored.append((shown, "hidden"))
            elif entry.is_symlink():
                self.ignored.append((shown, "symbolic link"))
            elif entry.is_dir(follow_symlinks=False):
                self._walk(Path(entry.path), f"{relative}/", shown)
            elif entry.is_file(follow_symlinks=False):
                self._add(Path(entry.path), relative, shown, entry.stat(follow_symlinks=False))
            else:
                self.ignored.append((shown, "not a regular file"))


# --- ingesting ------------------------------------------------------------------------------

WORKERS = 4  # threads that hash, encrypt and write blobs; registering stays on the caller's
CHECK_BATCH = 64  # files hashed ahead and checked against the case in one query
IN_FLIGHT_FILES = 128  # blobs written ahead of their registration, at most
REGISTER_BATCH = 64  # files registered in one transaction, at most ...
REGISTER_SECONDS = 0.1  # ... and no longer waited for than this once the first is ready
IN_FLIGHT_BYTES = 64 * 1024 * 1024  # ... and bytes held in memory for them (head + small files)


def sha256s_in_case(
    session: Session, actor: User | None, case_id: uuid.UUID, sha256s: Collection[str]
) -> set[str]:
    """Which of these SHA-256 digests are active items of the case that the actor may see (a
    restricted item without a grant stays unknown: its bytes are registered anew)."""
    visible = authz.visible_evidence(session, actor, case_id)
    if not sha256s:
        return set()
    found = session.scalars(
        visible.with_only_columns(Evidence.sha256).where(
            Evidence.sha256.in_(sorted(set(sha256s))),
            Evidence.status == EvidenceStatus.ACTIVE,
        )
    )
    return set(found)


def sha256_in_case(session: Session, actor: User | None, case_id: uuid.UUID, sha256: str) -> bool:
    """Whether an active item of the case that the actor may see has this SHA-256."""
    return sha256 in sha256s_in_case(session, actor, case_id, [sha256])


def authorize(session: Session, actor: User | None, case_id: uuid.UUID) -> None:
    """Refuse at once an actor who may not add evidence to the case."""
    authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE)
    session.commit()  # end the read: SQLite takes its write lock at BEGIN


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
    the run early. `keyring` is asked per file, so a KEK rotated meanwhile is picked up.
    `on_bytes` may be called from the worker threads.
    A file that cannot be read or stored fails alone; an actor who may not add evidence stops
    the run before the first file."""
    summary = summary if summary is not None else Summary()
    authorize(session, actor, case_id)
    with (
        _one_connection(session) as work,
        ThreadPoolExecutor(WORKERS, "casefile-ingest") as pool,
    ):
        run = _Run(work, actor, case_id, store, keyring, summary, on_bytes, on_file, pool)
        try:
            run.go(files)
        except BaseException as error:
            run.summary.interrupted = isinstance(error, KeyboardInterrupt)
            run.abandon()
            raise
    return summary


@dataclass
class _Flight:
    """A new file on its way: hashed, then streamed into a blob by a worker."""

    source: SourceFile
    sha256: str
    future: Future[tuple[IntakeStream, Submission]]
    weight: int  # bytes it holds in memory until registered


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
    flights: deque[_Flight] = field(default_factory=deque)
    hashing: list[Future[str]] = field(default_factory=list)
    in_run: dict[str, list[SourceFile]] = field(default_factory=dict)  # sha256 → later copies
    cancel: threading.Event = field(default_factory=threading.Event)
    # Every stream a worker has begun and nobody has settled (registered, or aborted): what an
    # interruption must abort, wherever this thread happens to be when it comes.
    unsettled: dict[uuid.UUID, IntakeStream] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def go(self, files: Sequence[SourceFile]) -> None:
        batches = [
            files[start : start + CHECK_BATCH] for start in range(0, len(files), CHECK_BATCH)
        ]
        ahead = self._hash(batches[0]) if batches else []
        for number, batch in enumerate(batches):
            hashed = ahead
            ahead = self._hash(batches[number + 1]) if number + 1 < len(batches) else []
            self.hashing = ahead
            digests: dict[int, str] = {}
            for index, (source, future) in enumerate(zip(batch, hashed, strict=True)):
                try:
                    digests[index] = future.result()
                except Exception as error:  # noqa: BLE001 - an unreadable file fails alone
                    self._done(Outcome(source, "failed", reason=_reason(error)))
            present = sha256s_in_case(self.session, self.actor, self.case_id, digests.values())
            self.session.commit()  # end the read (SQLite: a write lock) before streaming
            for index, digest in digests.items():
                self._sort(batch[index], digest, present)
                self._register_ahead(limit=IN_FLIGHT_FILES)
        self._register_ahead(limit=0)

    def _hash(self, batch: Sequence[SourceFile]) -> list[Future[str]]:
        return [self.pool.submit(self._sha256, source.path) for source in batch]

    def _sha256(self, path: Path) -> str:
        """In a worker: the file's SHA-256, read once before anything else is done with it."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if self.cancel.is_set():
                    raise _Cancelled
                digest.update(chunk)
        return digest.hexdigest()

    def _sort(self, source: SourceFile, digest: str, present: set[str]) -> None:
        if digest in present:
            self.summary.present += 1
            self._advance(source.size)
            self._done(Outcome(source, "present"))
        elif digest in self.in_run:  # a copy of a file on its way: wait for its outcome
            self.in_run[digest].append(source)
        else:
            self.in_run[digest] = []
            self._launch(source, digest)

    def _launch(self, source: SourceFile, digest: str) -> None:
        keyring = self.keyring()
        future = self.pool.submit(self._stream, source, keyring)
        weight = min(source.size, EXTRACT_LIMIT) + sniff.HEAD_BYTES
        self.flights.append(_Flight(source, digest, future, weight))

    def _stream(self, source: SourceFile, keyring: Keyring) -> tuple[IntakeStream, Submission]:
        """In a worker: the file through streaming encryption into a durable blob, then
        examined (what register would do before its transaction, off the registering thread)."""
        stream = IntakeStream(self.store, keyring, also=source.data.declared_hashes)
        with self.lock:
            self.unsettled[stream.item_id] = stream
        try:
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
        while self.flights and (
            len(self.flights) > limit
            or (limit and sum(flight.weight for flight in self.flights) > IN_FLIGHT_BYTES)
        ):
            batch = self._next_batch()
            self._register(batch)  # still listed, so an interruption aborts them
            for _ in batch:
                self.flights.popleft()

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

    def _register(self, flights: Sequence[_Flight]) -> None:
        ready: list[tuple[_Flight, IntakeStream, Submission]] = []
        for flight in flights:
            try:
                stream, submission = flight.future.result()
            except Exception as error:  # noqa: BLE001 - its blob is aborted already
                self._failed(flight, error)
                continue
            ready.append((flight, stream, submission))
        if not ready:
            return
        with _interruptions_held():
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

    def _one_by_one(self, ready: Sequence[tuple[_Flight, IntakeStream, Submission]]) -> None:
        """After a batch the database refused: each file alone, so a bad one fails alone."""
        for one in ready:
            try:
                [result] = self._register_many([one])
            except Exception as error:  # noqa: BLE001 - reported per file
                self._refused([one], error)
                continue
            self._settled(one, result)

    def _register_many(
        self, ready: Sequence[tuple[_Flight, IntakeStream, Submission]]
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
        self, ready: Sequence[tuple[_Flight, IntakeStream, Submission]], error: Exception
    ) -> None:
        """Registration failed and rolled back: the blobs go, and the files fail (or, for an
        actor who may not add evidence here, the run stops)."""
        for _, stream, _ in ready:
            self._settle(stream, abort=True)
        if isinstance(error, _FATAL):
            raise error
        for flight, _, _ in ready:
            self._failed(flight, error)

    def _settled(self, ready: tuple[_Flight, IntakeStream, Submission], result: Registered) -> None:
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
            self._launch(copies[0], flight.sha256)

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
        with self.lock:
            streams = list(self.unsettled.values())
        for stream in streams:
            self._settle(stream, abort=True)
        self.flights.clear()


@contextmanager
def _one_connection(session: Session) -> Iterator[Session]:
    """A session like `session` that keeps one SQLite connection for the whole run.

    The SQLite engine opens a connection per transaction (NullPool); each one costs a connect,
    its pragmas and a fresh read of the schema, and closing the last one checkpoints and
    removes the write-ahead log. Over thousands of one-file transactions that doubles the
    time. Transactions, commits and the custody log's settings are the same. Other databases
    keep their connections in a pool already: `session` itself is used."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        yield session
        return
    with (
        bind.connect() as connection,
        Session(
            bind=connection,
            expire_on_commit=False,
            info={
                key: session.info[key]
                for key in (custody_checkpoints.KEYS, custody_checkpoints.POLICY)
                if key in session.info
            },
        ) as own,
    ):
        yield own


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{name}: {problem}" for name, problem in error.fields.items())
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}"


@contextmanager
def _interruptions_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise KeyboardInterrupt; a
    second Ctrl-C does not wait. Only the main thread receives signals, so elsewhere this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        del frame
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
