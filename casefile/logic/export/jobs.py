"""A filing's export as a background job: asked for (`request_export`: authorized, refused
early when it cannot succeed, the filing's warnings stored with it), run by whatever runs
jobs (`run_export`: the queue's consumer, or `casefile export` in-process: the same
function), watched (`progress` on the row, written in short transactions of its own), and
downloaded (`open_download`: authorized again, a `downloaded` custody entry per item).

The bundle is a zip streamed straight into Tink streaming AEAD (a fresh data key per export,
wrapped by the key-encryption key with the export's id as associated data) and into the
blob store under a temporary name: the plaintext zip never touches the disk. The blob takes
its name, then one transaction appends an `exported` entry per item (naming the export and
the bundle) and marks the export done; if that fails, the blob is deleted.

A run that dies (the process killed) leaves its row `running` with a heartbeat that stops
moving: `recover` (at every consumer's start, and every minute by the queue) deletes what
the run had written (its blob, or the temporary file of one) and queues it again, up to
MAX_ATTEMPTS runs; then it fails with a message. A run that finds its row taken back (it
was too slow, not dead) stops without writing anything: the row's `attempts` is the run's
token.

An item deleted while a run goes on (logic/evidence/deletion.py) fails the run: the deletion
marks a queued or running export holding it failed (the run then finds its row taken and
writes nothing), and the finishing transaction checks again, under the custody lock, that
every item of the plan is still active before it publishes; a finished export holding an item
deleted later is purged (status `purged`: its data key destroyed, its blob deleted).

Lock order: the custody lock, then the export row (the finishing transaction, and a
deletion); progress and recovery take the export row only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from casefile import db
from casefile.bundle import age, writer
from casefile.bundle.plan import ExhibitPlan, Sources, watched
from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.errors import Conflict, DomainError, NotFound, ValidationFailed
from casefile.logic.export import filing as filing_export
from casefile.logic.export import shared
from casefile.logic.export.shared import Prepared
from casefile.logic.filings import exhibits
from casefile.logic.filings import warnings as filing_warnings
from casefile.logic.filings.filings import filing_ref
from casefile.model import (
    Case,
    CustodyAction,
    Evidence,
    EvidenceStatus,
    Export,
    ExportStatus,
    Filing,
    User,
)
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring

log = logging.getLogger("casefile.exports")

PROGRESS_EVERY = 1.0  # seconds between progress writes within a stage
MAX_ATTEMPTS = 3
# A queued export is handed to the queue again only after waiting this long (`recover`).
REQUEUE_AFTER = dt.timedelta(minutes=2)
CHUNK = 1 << 20
BUNDLE_WARNING = "bundle_warning"  # a warning of the writer's, stored with the export
STAGES = ("queued", "signing", "exhibits", "sealing", "done", "failed")


class Superseded(Exception):
    """The run's row was taken back by `recover` (this run was taken for dead)."""


# --- asking ----------------------------------------------------------------------------------


def request_export(
    session: Session,
    actor: User | None,
    filing_id: uuid.UUID,
    *,
    store: BlobStore,
    keyring: Keyring,
    age_recipients: Sequence[str] = (),
) -> Export:
    """A queued export of the filing, with the filing's warnings as they are now; with
    `age_recipients` (age public keys) its zip is encrypted to them (bundle/age.py). The
    caller enqueues its job (casefile.jobs) once this returns. ValidationFailed for a bad
    key, before anything is written."""
    recipients = checked_recipients(age_recipients)
    filing = filing_export.exportable(session, actor, filing_id)
    total = len(filing.exhibits)
    case_id = filing.case_id
    case = session.get_one(Case, case_id)
    held = [
        {"id": str(exhibit.evidence_id), "ern": exhibit.item.ern,
         "number": exhibits.number(filing, case, exhibit.position)}
        for exhibit in filing.exhibits
    ]
    found = filing_warnings.filing_warnings(session, actor, filing_id, store=store,
                                            keyring=keyring)
    listed = [
        {"code": w.code, "message": w.message, "exhibits": w.exhibits,
         "total_pages": w.total_pages}
        for w in found
    ]
    return _insert(session, actor, filing_id, case_id=case_id, listed=listed, total=total,
                   held=held, recipients=recipients)


def checked_recipients(texts: Sequence[str]) -> list[str]:
    """The age public keys, each checked (bundle/age.py), as stored; none for a plain zip."""
    recipients = [text.strip() for text in texts]
    if not recipients:
        return []
    try:
        age.recipients_of(recipients)
    except age.BadRecipient as error:
        raise ValidationFailed({"age_recipients": str(error)}) from None
    return recipients


@retry.transaction
def _insert(
    session: Session,
    actor: User | None,
    filing_id: uuid.UUID,
    *,
    case_id: uuid.UUID,
    listed: list[dict[str, Any]],
    total: int,
    held: list[dict[str, str]],
    recipients: list[str],
) -> Export:
    session.rollback()
    db.begin_writing(session)
    filing_export.exportable(session, actor, filing_id)  # again, in the writing transaction
    export = Export(
        filing_id=filing_id,
        case_id=case_id,
        requested_by_id=actor.id if actor is not None else None,
        status=ExportStatus.QUEUED,
        progress_done=0,
        progress_total=total,
        stage="queued",
        warnings=json.dumps(listed, ensure_ascii=False),
        exhibits=json.dumps(held, ensure_ascii=False),
        attempts=0,
        age_recipients=json.dumps(recipients),
    )
    session.add(export)
    session.commit()
    db.end_writing(session)
    return export


# --- reading ---------------------------------------------------------------------------------


def held_items(export: Export) -> set[uuid.UUID]:
    """The items an export holds (or, not yet run, the filing held when it was asked for;
    a run adds its own plan's before it writes a byte)."""
    return {uuid.UUID(line["id"]) for line in json.loads(export.exhibits or "[]")}


def _hidden_among(
    session: Session, actor: User | None, case_id: uuid.UUID, items: set[uuid.UUID]
) -> bool:
    if not items:
        return False
    hidden = authz.hidden_evidence(session, actor, case_id).subquery()
    return session.scalars(select(hidden.c.id).where(hidden.c.id.in_(items))).first() is not None


def get_export(session: Session, actor: User | None, export_id: uuid.UUID) -> Export:
    """The export, for whoever may export its filing now and sees every item the export
    holds (the filing may have changed since: an item removed from it is still in the
    bundle, and still restricted)."""
    export = session.get(Export, export_id, populate_existing=True)
    if export is None:
        raise NotFound("export not found")
    try:
        authz.authorize_filing(session, actor, export.filing_id, CaseAction.EDIT_FILINGS)
    except NotFound:
        raise NotFound("export not found") from None
    if _hidden_among(session, actor, export.case_id, held_items(export)):
        raise NotFound("export not found")
    return export


def list_exports(session: Session, actor: User | None, filing_id: uuid.UUID) -> list[Export]:
    """The filing's exports, newest first, for whoever may export it: those holding an item
    hidden from the actor are left out."""
    authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    found = list(
        session.scalars(
            select(Export)
            .where(Export.filing_id == filing_id)
            .order_by(Export.created_at.desc(), Export.id)
            .execution_options(populate_existing=True)
        )
    )
    if not found:
        return found
    held = {export.id: held_items(export) for export in found}
    everything = set().union(*held.values())
    hidden_all = authz.hidden_evidence(session, actor, found[0].case_id).subquery()
    hidden = set(
        session.scalars(select(hidden_all.c.id).where(hidden_all.c.id.in_(everything)))
    ) if everything else set()
    return [export for export in found if not held[export.id] & hidden]


def warnings_of(export: Export) -> list[dict[str, Any]]:
    return list(json.loads(export.warnings or "[]"))


def recipients_of(export: Export) -> list[str]:
    """The age public keys the export's zip is encrypted to (none: a plain zip)."""
    return list(json.loads(export.age_recipients or "[]"))


def file_name(export: Export) -> str:
    name = f"{export.bundle_name or 'bundle'}.zip"
    return name + age.SUFFIX if recipients_of(export) else name


def media_type(export: Export) -> str:
    return "application/octet-stream" if recipients_of(export) else "application/zip"


# --- running ---------------------------------------------------------------------------------


@dataclass
class _Run:
    export_id: uuid.UUID
    attempt: int
    blob_id: str
    filing_id: uuid.UUID
    actor_id: uuid.UUID | None
    age_recipients: list[str]


@retry.transaction
def _claim(session: Session, export_id: uuid.UUID) -> _Run | None:
    session.rollback()
    db.begin_writing(session)
    export = session.get(Export, export_id, with_for_update=True, populate_existing=True)
    if export is None or export.status != ExportStatus.QUEUED:
        session.commit()
        db.end_writing(session)
        return None  # done, failed, or run elsewhere: a job enqueued twice does nothing
    now = utcnow()
    export.status = ExportStatus.RUNNING
    export.attempts += 1
    export.started_at = now
    export.heartbeat_at = now
    export.blob_id = uuid.uuid4().hex
    export.stage = "signing"
    export.progress_done = 0
    export.error = None
    run = _Run(export.id, export.attempts, export.blob_id, export.filing_id,
               export.requested_by_id, recipients_of(export))
    session.commit()
    db.end_writing(session)
    return run


def _own_row(session: Session, run: _Run) -> Export:
    """The run's export row, locked in a writing transaction of its own, while it is still
    this run's (running, this attempt); otherwise the transaction ends and Superseded."""
    session.rollback()
    db.begin_writing(session)
    export = session.get(Export, run.export_id, with_for_update=True, populate_existing=True)
    if export is None or export.status != ExportStatus.RUNNING or export.attempts != run.attempt:
        session.commit()
        db.end_writing(session)
        raise Superseded
    return export


@retry.transaction
def _progress(session: Session, run: _Run, done: int, stage: str) -> None:
    export = _own_row(session, run)
    export.progress_done = done
    export.stage = stage
    export.heartbeat_at = utcnow()
    session.commit()
    db.end_writing(session)


class _Reporter:
    """Progress to the row: at once when the stage or the count changes, else at most every
    PROGRESS_EVERY seconds (a heartbeat while one large exhibit streams)."""

    def __init__(self, session: Session, run: _Run, on_progress: Callable[[int, int, str], None]
                 | None, total: int) -> None:
        self._session, self._run, self._echo, self.total = session, run, on_progress, total
        self._last = (-1, "")
        self._at = 0.0

    def __call__(self, done: int, stage: str, *, force: bool = False) -> None:
        """`force`: written whatever was written last (the run checks it still owns its
        row, e.g. before it reads an exhibit an item's deletion may have shredded)."""
        now = time.monotonic()
        if not force and (done, stage) == self._last and now - self._at < PROGRESS_EVERY:
            return
        self._last, self._at = (done, stage), now
        try:
            _progress(self._session, self._run, done, stage)
        except Superseded:
            raise  # stops this run: another has its row
        except Exception:  # a progress write is not the export: it goes on without it
            log.warning("export %s: progress not recorded", self._run.export_id, exc_info=True)
        if self._echo is not None:
            self._echo(done, self.total, stage)


@dataclass
class _Reached:
    """Where the writer is, as the export's progress shows it."""

    done: int = 0
    stage: str = "exhibits"


def _reporting(sources: Sources, plan_exhibits: tuple[ExhibitPlan, ...],
               report: _Reporter) -> Sources:
    """The same sources, telling `report` where the writer is: exhibit i of n as its bytes
    stream (a heartbeat), then sealing once the last exhibit's bytes are all taken. The
    custody reports are taken ahead of the bytes or behind them (the writer does not wait
    for their PDFs), so taking one is only a heartbeat at the point reached: the count and
    the stage never go back."""
    position = {exhibit.number: index for index, exhibit in enumerate(plan_exhibits)}
    total = len(plan_exhibits)
    reached = _Reached()

    def seal() -> None:
        reached.done, reached.stage = total, "sealing"
        report(total, "sealing")

    def content(exhibit: ExhibitPlan) -> Iterable[bytes]:
        index = position[exhibit.number]
        if reached.stage == "exhibits":
            reached.done = max(reached.done, index)
        done, stage = reached.done, reached.stage
        # Written before each exhibit is read, even at the same count: a deletion that failed
        # the run (its item's blob shredded) stops it here, before the read would take the
        # missing blob for a failed integrity check.
        report(done, stage, force=True)
        # Still the reader's Hashed chunks: the writer reuses its SHA-256 (bundle/plan.py).
        return watched(
            sources.content(exhibit),
            lambda: report(done, stage),
            seal if index + 1 == total else lambda: None,
        )

    def custody_report(exhibit: ExhibitPlan) -> dict[str, Any]:
        report(reached.done, reached.stage)
        return sources.custody_report(exhibit)

    return replace(sources, content=content, custody_report=custody_report)


def _message(error: BaseException) -> str:
    if isinstance(error, writer.BundleError):
        return f"no bundle written: {error}"
    if isinstance(error, NotFound):
        return ("the filing or one of its exhibits is no longer visible to the account that "
                "asked for the export")
    if isinstance(error, DomainError):
        return error.message
    return f"the export failed ({type(error).__name__}); the server's log has the details"


@retry.transaction
def _fail(session: Session, run: _Run, message: str) -> None:
    session.rollback()
    db.begin_writing(session)
    export = session.get(Export, run.export_id, with_for_update=True, populate_existing=True)
    if export is not None and export.status == ExportStatus.RUNNING and (
        export.attempts == run.attempt
    ):
        export.status = ExportStatus.FAILED
        export.error = message[:2000]
        export.stage = "failed"
        export.finished_at = utcnow()
        export.blob_id = None
    session.commit()
    db.end_writing(session)


@retry.transaction
def _finish(
    session: Session,
    actor: User | None,
    run: _Run,
    *,
    prepared: Prepared,
    written: writer.Written,
    wrapped_key: bytes,
) -> None:
    session.rollback()
    db.begin_writing(session)
    custody_log.hold_lock(session)  # the lock order: the custody lock, then the export row
    export = session.get(Export, run.export_id, with_for_update=True, populate_existing=True)
    if export is None or export.status != ExportStatus.RUNNING or export.attempts != run.attempt:
        raise Superseded
    # An item deleted since the run read it: the bundle holding it is never published (a
    # deletion committed after this point finds the export done, and purges it).
    deleted = session.scalars(
        select(Evidence.ern).where(
            Evidence.id.in_(set(prepared.items.values()) | held_items(export)),
            Evidence.status != EvidenceStatus.ACTIVE,
        )
    ).first()
    if deleted is not None:
        raise Conflict(
            f"{deleted} was deleted while this export was being made: nothing of it was "
            "kept; export the filing again"
        )
    filing = session.get_one(Filing, run.filing_id)
    custody_log.append_many(
        session,
        shared.exported_entries(
            actor, prepared, written, age_recipients=run.age_recipients,
            export={"id": str(export.id)}, filing=filing_ref(filing),
        ),
    )
    export.status = ExportStatus.DONE
    export.stage = "done"
    export.progress_done = len(prepared.plan.exhibits)
    export.finished_at = utcnow()
    export.heartbeat_at = export.finished_at
    export.size = written.zip_size
    export.sha256 = written.zip_sha256
    export.tagmanifest_sha256 = written.tagmanifest_sha256
    export.wrapped_key = wrapped_key
    export.bundle_name = str(written.path)
    # What the writer had to say (an exhibit without a rendition, no consolidated PDF): kept
    # with the filing's warnings, shown with the export, never silent.
    export.warnings = json.dumps(
        warnings_of(export) + [
            {"code": BUNDLE_WARNING, "message": warning, "exhibits": [], "total_pages": None}
            for warning in written.warnings
        ],
        ensure_ascii=False,
    )
    export.exhibits = json.dumps(_planned_lines(prepared), ensure_ascii=False)
    session.commit()
    db.end_writing(session)


def run_export(
    session: Session,
    export_id: uuid.UUID,
    *,
    keys: CustodyKeys | None,
    keyring: Keyring,
    store: BlobStore,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> ExportStatus | None:
    """Run a queued export to its end (done or failed); None if it was not queued (done,
    failed, or taken by another run). Never raises for the export's own failures: they are
    the row's `error`."""
    run = _claim(session, export_id)
    if run is None:
        return None
    blob = None
    committed = False
    try:
        keys = _required(keys)
        actor = session.get(User, run.actor_id) if run.actor_id else None
        prepared = filing_export.prepare(session, actor, run.filing_id, keys=keys,
                                         keyring=keyring, store=store)
        _record_planned(session, run, prepared)
        report = _Reporter(session, run, on_progress, len(prepared.plan.exhibits))
        report(0, "exhibits")
        sources = _reporting(prepared.sources, prepared.plan.exhibits, report)
        data_key = keyring.new_data_key(export_id.bytes)
        blob = store.writer(run.blob_id)
        encrypting = data_key.cipher.new_encrypting_stream(blob, export_id.bytes)
        name = _top_name(session, run)
        written = _write(prepared, sources, encrypting, name, run.age_recipients)
        report(len(prepared.plan.exhibits), "sealing")
        encrypting.close()  # the last segment; closes (fsyncs) the blob under its temp name
        blob.commit()
        committed = True
        _finish(session, actor, run, prepared=prepared, written=written,
                wrapped_key=data_key.wrapped)
    except Superseded:
        session.rollback()
        _discard(store, run, blob, committed=committed)
        log.warning("export %s: run %s was taken for dead and stopped", export_id, run.attempt)
        return None
    except BaseException as error:
        _discard(store, run, blob, committed=committed)
        if not isinstance(error, (writer.BundleError, DomainError)):
            log.exception("export %s failed", export_id)
        _fail(session, run, _message(error))
        if not isinstance(error, Exception):
            raise
        return ExportStatus.FAILED
    return ExportStatus.DONE


def _planned_lines(prepared: Prepared) -> list[dict[str, str]]:
    return [
        {"id": str(prepared.items[exhibit.number]), "ern": exhibit.ern, "number": exhibit.number}
        for exhibit in prepared.plan.exhibits
    ]


@retry.transaction
def _record_planned(session: Session, run: _Run, prepared: Prepared) -> None:
    """Before a byte is written: the export also holds its plan's items (the filing may have
    changed since it was asked for), so who may see it is decided over all of them."""
    export = _own_row(session, run)
    lines = json.loads(export.exhibits or "[]")
    known = {line["id"] for line in lines}
    lines += [line for line in _planned_lines(prepared) if line["id"] not in known]
    export.exhibits = json.dumps(lines, ensure_ascii=False)
    session.commit()
    db.end_writing(session)


def _write(
    prepared: Prepared, sources: Sources, stream: Any, name: str, recipients: list[str]
) -> writer.Written:
    """The zip streamed into `stream` (the blob's encryption), through age encryption to
    `recipients` first if any: then the size and SHA-256 recorded are the age file's, the
    one downloaded."""
    if not recipients:
        return writer.write_bundle_stream(prepared.plan, sources, stream, top=name)
    stored = writer.CountingSink(stream)  # the age file's size and SHA-256
    try:
        with age.encrypting(recipients, stored) as plaintext:
            written = writer.write_bundle_stream(prepared.plan, sources, plaintext, top=name)
    except age.EncryptionFailed as error:
        raise writer.BundleError(str(error)) from None
    return replace(written, zip_size=stored.size, zip_sha256=stored.sha256.hexdigest())


def _required(keys: CustodyKeys | None) -> CustodyKeys:
    if keys is None:
        raise Conflict("this instance has no custody signing key: run `casefile init`")
    return keys


def _top_name(session: Session, run: _Run) -> str:
    filing = session.get_one(Filing, run.filing_id)
    session.commit()
    return filing_export.bundle_name(filing)


def _discard(store: BlobStore, run: _Run, blob: Any, *, committed: bool) -> None:
    """Nothing of a run that did not finish stays in the store."""
    try:
        if committed:
            store.delete(run.blob_id)
        elif blob is not None:
            blob.abort()
    except Exception:
        log.exception("export %s: its blob %s could not be removed", run.export_id, run.blob_id)


# --- recovering ------------------------------------------------------------------------------


def _remove_blob(store: BlobStore, blob_id: str) -> None:
    store.delete(blob_id)
    for name in list(store.leftovers()):
        if blob_id in name:
            store.remove_leftover(name)


@retry.transaction
def recover(
    session: Session,
    store: BlobStore,
    *,
    stale: dt.timedelta,
    requeue_after: dt.timedelta = REQUEUE_AFTER,
) -> list[uuid.UUID]:
    """Exports left running by a run that stopped answering `stale` ago (a killed process):
    what they wrote is deleted, and they are queued again (failed after MAX_ATTEMPTS runs).
    Returns the ids to enqueue: those just queued again, and the queued exports that have
    waited `requeue_after` since they were asked for or last re-enqueued (their message may
    have been lost: a crash between the row's commit and the enqueue). A queued export that
    is younger is left to the queue, which holds it already: `recover` runs every minute in
    every consumer, and enqueuing them all each time only fed the queue duplicates. Each
    export returned gets `enqueued_at` = now (a job enqueued twice runs once anyway)."""
    session.rollback()
    db.begin_writing(session)
    now = utcnow()
    cutoff = now - stale
    dead = session.scalars(
        select(Export)
        .where(Export.status == ExportStatus.RUNNING,
               or_(Export.heartbeat_at.is_(None), Export.heartbeat_at < cutoff))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for export in dead:
        if export.blob_id:
            _remove_blob(store, export.blob_id)
        export.blob_id = None
        export.progress_done = 0
        if export.attempts >= MAX_ATTEMPTS:
            export.status = ExportStatus.FAILED
            export.stage = "failed"
            export.finished_at = utcnow()
            export.error = (
                f"the export stopped {export.attempts} times without finishing (the process "
                "running it ended); nothing of it was kept"
            )
        else:
            export.status = ExportStatus.QUEUED
            export.stage = "queued"
        log.warning("export %s: a run stopped midway; %s", export.id, export.status.value)
    revived = {export.id for export in dead if export.status == ExportStatus.QUEUED}
    waited = now - requeue_after
    due = session.scalars(
        select(Export)
        .where(Export.status == ExportStatus.QUEUED,
               or_(Export.id.in_(revived),
                   func.coalesce(Export.enqueued_at, Export.created_at) < waited))
        .order_by(Export.created_at)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for export in due:
        if export.id not in revived:
            log.warning("export %s: queued since %s and not run; enqueued again",
                        export.id, export.enqueued_at or export.created_at)
        export.enqueued_at = now
    queued = [export.id for export in due]
    session.commit()
    db.end_writing(session)
    return queued


def queued_count(session: Session) -> int:
    """How many exports wait in `queued` (a read, ended)."""
    count = session.scalar(
        select(func.count()).select_from(Export).where(Export.status == ExportStatus.QUEUED))
    session.rollback()
    return int(count or 0)


# --- downloading -----------------------------------------------------------------------------


@retry.transaction
def open_download(
    session: Session,
    actor: User | None,
    export_id: uuid.UUID,
    *,
    store: BlobStore,
    keyring: Keyring,
    record: bool = True,
) -> tuple[Export, Iterator[bytes]]:
    """The finished export and its zip, decrypted as it streams (Tink checks every segment;
    the SHA-256 recorded at the end is checked too: a mismatch ends the stream with an
    error, never cleanly). Authorized again (may export the filing now, sees every
    exhibit); with `record`, a `downloaded` custody entry per item naming the export,
    committed before the first byte leaves."""
    db.begin_writing(session)
    export = get_export(session, actor, export_id)
    if export.status == ExportStatus.PURGED:
        raise Conflict(f"this export was destroyed: {export.error}")
    if export.status != ExportStatus.DONE or not export.blob_id or export.wrapped_key is None:
        raise Conflict(f"this export is {export.status.value}: there is nothing to download")
    deleted = session.scalars(
        select(Evidence.ern).where(
            Evidence.id.in_(held_items(export)), Evidence.status != EvidenceStatus.ACTIVE
        )
    ).first()
    if deleted is not None:
        raise Conflict(
            f"{deleted} was deleted after this export was made: its bundle is no longer "
            "given out; export the filing again"
        )
    cipher = keyring.unwrap(export.wrapped_key, export.id.bytes)
    blob = store.open(export.blob_id)
    try:
        if record:
            custody_log.append_many(
                session,
                [
                    custody_log.NewEntry(
                        actor,
                        CustodyAction.DOWNLOADED,
                        case_id=export.case_id,
                        item_id=uuid.UUID(line["id"]),
                        details={"ern": line["ern"], "export": {
                            "id": str(export.id), "bundle": export.bundle_name,
                            "exhibit": line["number"], "sha256": export.sha256}},
                    )
                    for line in json.loads(export.exhibits)
                ],
            )
        session.commit()
    except BaseException:
        blob.close()
        raise
    db.end_writing(session)
    return export, _decrypted(blob, cipher, export)


def _decrypted(blob: Any, cipher: Any, export: Export) -> Iterator[bytes]:
    digest = hashlib.sha256()
    size = 0
    with blob:
        plain = cipher.new_decrypting_stream(blob, export.id.bytes)
        while chunk := plain.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    if size != export.size or digest.hexdigest() != export.sha256:
        raise OSError(f"export {export.id}: the stored bundle does not match its SHA-256")
