"""The worker processes of a large `casefile ingest` into a local blob store: each reads, hashes,
encrypts and examines a chunk of files at a time, in a process of its own, so that the work
spreads over the machine's cores (Python threads share one core's worth of interpreter).

Forked from a fork server (a fresh interpreter: never a fork of a process holding database
connections and threads, started without the CASEFILE_* variables), they are given the KEK as
text over the pool's pipe (the initializer's arguments), never on disk, in argv or in the
environment, and an Event that the run sets to stop them. They
ignore Ctrl-C (SIGINT goes to the whole process group: the parent alone decides what becomes of
the run, then shuts the pool down) and end themselves (`os._exit`) as soon as their parent does,
whatever killed it: a watchdog thread waits on the parent's sentinel, which closes with it.

A worker writes each blob under its temporary name, without an fsync (`blobstore.batched`, with
syncfs): it never renames one. The parent adopts the blob (`LocalBatch.adopt`) and makes it
durable with its batch (syncfs, renames, syncfs) before the commit that registers it, as it does
for the blobs of its own threads. The item id is chosen by the parent, so a blob that a worker
had begun when it died is found (`LocalBlobStore.remove_temporaries`)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casefile.logic.evidence import submission
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput, Submission
from casefile.vault import blobstore
from casefile.vault.blobstore import LocalBatch, LocalBlobStore
from casefile.vault.envelope import Keyring

CHUNK = 1 << 20  # bytes read at a time from a file too large to be sent in memory


@dataclass(frozen=True)
class Job:
    """One new file for a worker: its bytes (a small file's, as hashed) or its path."""

    item_id: uuid.UUID
    path: str
    relative: str
    content: bytes | None
    data: EvidenceInput


@dataclass(frozen=True)
class Written:
    """A file's blob, committed under its temporary name, and its examination."""

    item_id: uuid.UUID
    temp: str
    final: str
    submission: Submission


@dataclass(frozen=True)
class Failed:
    """A file that failed alone (its blob removed): why, in words."""

    item_id: uuid.UUID
    reason: str


class Cancelled(Exception):
    """The run was stopped while a chunk was under way; its blobs were removed."""


@dataclass
class _Worker:
    keyring: Keyring
    kek_text: str
    batch: LocalBatch
    cancel: Any  # multiprocessing.Event


_worker: _Worker | None = None


def start(kek_text: str, root: str, cancel: Any) -> None:
    """The initializer of each worker process."""
    global _worker  # noqa: PLW0603 - one per worker process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_die_with, args=(parent.sentinel,), name="casefile-ingest-watch", daemon=True
        ).start()
    _worker = _Worker(
        Keyring.from_text(kek_text), kek_text, LocalBatch(LocalBlobStore(Path(root))), cancel
    )


def _die_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def stream_chunk(jobs: list[Job], kek_text: str | None) -> list[Written | Failed]:
    """In a worker: each file through IntakeStream into its blob, then examined. `kek_text`:
    the KEK when it was rotated since the pool started (None: the one it was given). A file
    that fails fails alone; a stop removes every blob of the chunk and raises Cancelled."""
    worker = _worker
    if worker is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("not an ingest worker")
    if kek_text is not None and kek_text != worker.kek_text:
        worker.keyring, worker.kek_text = Keyring.from_text(kek_text), kek_text
    results: list[Written | Failed] = []
    try:
        for job in jobs:
            if worker.cancel.is_set():
                raise Cancelled  # noqa: TRY301
            results.append(_one(worker, job))
    except BaseException:
        for result in results:
            if isinstance(result, Written):
                Path(result.temp).unlink(missing_ok=True)
        raise
    return results


def _one(worker: _Worker, job: Job) -> Written | Failed:
    from casefile.logic.evidence.ingest_run import reason  # noqa: PLC0415 - no cycle at import

    try:
        stream = IntakeStream(
            worker.batch, worker.keyring, also=job.data.declared_hashes, item_id=job.item_id
        )
    except Exception as error:  # noqa: BLE001 - its blob could not be begun: fails alone
        return Failed(job.item_id, reason(error))
    try:
        if job.content is not None:
            stream.write(job.content)
        else:
            with open(job.path, "rb") as handle:  # noqa: PTH123
                while chunk := handle.read(CHUNK):
                    if worker.cancel.is_set():
                        raise Cancelled  # noqa: TRY301
                    stream.write(chunk)
        received = stream.finish()
        prepared = submission.prepare(
            received, job.data, filename=job.relative, declared_mime=None
        )
        temp, final = worker.batch.taken(job.item_id.hex)
    except Cancelled:
        stream.abort()
        raise
    except Exception as error:  # noqa: BLE001 - a file that fails, fails alone
        stream.abort()
        return Failed(job.item_id, reason(error))
    except BaseException:
        stream.abort()
        raise
    return Written(job.item_id, temp, final, prepared)


def pool(count: int, kek_text: str, root: Path, cancel: Any) -> ProcessPoolExecutor:
    """`count` worker processes (spawned when first given work), given the KEK over the pipe."""
    return ProcessPoolExecutor(
        count,
        mp_context=context(),
        initializer=start,
        initargs=(kek_text, str(root), cancel),
    )


def context() -> multiprocessing.context.BaseContext:
    """Where the worker processes come from: a fork server (a fresh interpreter, started once
    per process that ingests, holding no connection nor thread of ours) that has imported this
    module, so each worker is a fork of it, not a second import of the application. It is
    started without the CASEFILE_* variables the operator may have given (a KEK in
    CASEFILE_KEK would otherwise sit in every worker's /proc/PID/environ): the workers are
    given what they need over their pipe."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload([__name__])
    secrets = {name: value for name, value in os.environ.items() if name.startswith("CASEFILE_")}
    for name in secrets:
        del os.environ[name]
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        os.environ.update(secrets)
    return forkserver


def usable(store: blobstore.BlobStore) -> bool:
    """Whether worker processes can write this store's blobs: a local store whose batches are
    made durable by syncfs (which syncs what other processes wrote too). An S3 store, or a
    system without syncfs, keeps the threads. So does a program whose main module cannot be
    imported again by name or path (read from stdin): multiprocessing imports it in each
    worker, so a script that ingests must keep its top level under `if __name__ ==
    "__main__":`, as `casefile`'s own entry point does."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is not None and getattr(main, "__spec__", None) is None and not Path(path).is_file():
        return False
    return isinstance(store, LocalBlobStore) and blobstore.SYNCFS is not None
