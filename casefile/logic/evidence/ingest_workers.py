"""The worker processes of a large `casefile ingest` into a local blob store: each reads, hashes,
encrypts and examines a chunk of files at a time, in a process of its own, so that the work
spreads over the machine's cores (Python threads share one core's worth of interpreter).

Forked from a fork server (a fresh interpreter: never a fork of a process holding database
connections and threads, started without the CASEFILE_* variables, that has imported this module
and what it needs, not the web application: `context`), they are given the KEK as
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

import io
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.process
import multiprocessing.resource_tracker
import multiprocessing.spawn
import multiprocessing.util
import os
import secrets as secrets_module
import signal
import socket
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import popen_forkserver, reduction
from pathlib import Path
from typing import Any

from casefile.logic.errors import DomainError, ValidationFailed
from casefile.logic.evidence import submission
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput, Submission
from casefile.vault import blobstore, bounded
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


class WorkerFailure(Exception):
    """A file that failed in a worker process (the reason in words), or whose worker process
    ended before it was done."""


def reason(error: BaseException) -> str:
    """A failed file's reason, in words (here, not in ingest_run: a worker imports this module
    and what it needs, not the registration)."""
    if isinstance(error, WorkerFailure):
        return str(error)
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{name}: {problem}" for name, problem in error.fields.items())
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}"


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
    module, so each worker is a fork of it, not a second import. It enters the `casefile`
    package without its __init__.py (Flask, the database layer, the settings: ~0.8 s of CPU
    that no worker needs), as bounded's helpers do, and a worker does not import the
    ingesting program's main module (`casefile`'s console script would import the whole
    application into each worker): what it is sent is defined here and in what this module
    imports. The fork server is started without the CASEFILE_* variables the operator may
    have given (a KEK in CASEFILE_KEK would otherwise sit in every worker's
    /proc/PID/environ): the workers are given what they need over their pipe."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    if _LEAN:
        _ensure_lean_server()
        return _CONTEXT
    secrets = _without_secrets()  # pragma: no cover - a Python whose fork server this module
    try:  # pragma: no cover - does not start
        forkserver = multiprocessing.get_context("forkserver")
        forkserver.set_forkserver_preload([__name__])
        multiprocessing.forkserver.ensure_running()
        return forkserver
    finally:
        os.environ.update(secrets)


def _without_secrets() -> dict[str, str]:
    """Take the CASEFILE_* variables out of this process's environment (for a start), giving
    them back to be restored."""
    secrets = {name: value for name, value in os.environ.items() if name.startswith("CASEFILE_")}
    for name in secrets:
        del os.environ[name]
    return secrets


def _ensure_lean_server() -> None:
    """The lean fork server running, started without the CASEFILE_* variables if it is not:
    before the pool's first worker and before each later one (a server ended meanwhile is
    started again this way, never by multiprocessing's own `ensure_running`, which would
    give it the whole environment and the working folder on its path)."""
    secrets = _without_secrets()
    try:
        _ensure_server()
    finally:
        os.environ.update(secrets)


# The fork server's command: multiprocessing's own fork server loop (the one its
# `ensure_running` starts), after the package is entered without its __init__.py. Through
# Python 3.13 its protocol is the one `_ensure_server` and `_Popen` speak (3.14 adds an
# authentication key): a later Python starts it as multiprocessing does, with the whole package.
# It takes this process's sys.path, so that it imports the same `casefile` as this process
# (`python -c` would put the working folder first, which may hold another checkout).
_SERVER = (
    "import sys\nsys.path[:] = %r\n"
    + bounded.WITHOUT_INIT
    + "from multiprocessing.forkserver import main\nmain(%d, %d, %r)\n"
)
_LEAN = sys.version_info < (3, 14)


def _ensure_server() -> None:
    """multiprocessing's fork server (the one `multiprocessing.forkserver.ensure_running`
    would start), started with `_SERVER`'s command unless it runs already."""
    # Should multiprocessing ever start it itself (it was ended meanwhile), it preloads this
    # module too, as before: with the whole package, each worker still a fork of it.
    multiprocessing.forkserver.set_forkserver_preload([__name__])
    server: Any = multiprocessing.forkserver._forkserver  # noqa: SLF001 - its state is ours to set
    with server._lock:  # noqa: SLF001
        multiprocessing.resource_tracker.ensure_running()
        if server._forkserver_pid is not None:  # noqa: SLF001
            pid, _ = os.waitpid(server._forkserver_pid, os.WNOHANG)  # noqa: SLF001
            if not pid:
                return  # still running
            os.close(server._forkserver_alive_fd)  # noqa: SLF001 - it died: started again
            server._forkserver_address = None  # noqa: SLF001
            server._forkserver_alive_fd = None  # noqa: SLF001
            server._forkserver_pid = None  # noqa: SLF001
        address = os.path.join(  # noqa: PTH118 - a socket's name, as multiprocessing makes it
            multiprocessing.util.get_temp_dir(), f"listener-{secrets_module.token_hex(8)}"
        )
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(address)
            os.chmod(address, 0o600)  # noqa: PTH101
            listener.listen()
            # Every client holds the write end of "alive": once all are gone, the server ends.
            alive_r, alive_w = os.pipe()
            try:
                command = _SERVER % (sys.path, listener.fileno(), alive_r, [__name__])
                executable = os.fsencode(multiprocessing.spawn.get_executable())
                flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]  # noqa: SLF001
                pid = multiprocessing.util.spawnv_passfds(
                    executable,
                    [executable, *flags, "-c", command],
                    [listener.fileno(), alive_r],
                )
            except BaseException:
                os.close(alive_w)
                raise
            finally:
                os.close(alive_r)
        server._forkserver_address = address  # noqa: SLF001
        server._forkserver_alive_fd = alive_w  # noqa: SLF001
        server._forkserver_pid = pid  # noqa: SLF001


class _Popen(popen_forkserver.Popen):
    """multiprocessing's fork server Popen (`_launch` as in Python 3.11-3.13), except that the
    child is not told to import the parent's main module: nothing a worker is sent is defined
    there, and `casefile`'s console script would import the whole application in each."""

    def _launch(self, process_obj: multiprocessing.process.BaseProcess) -> None:
        data = multiprocessing.spawn.get_preparation_data(process_obj.name)
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
        buffer = io.BytesIO()
        multiprocessing.context.set_spawning_popen(self)
        try:
            reduction.dump(data, buffer)
            reduction.dump(process_obj, buffer)
        finally:
            multiprocessing.context.set_spawning_popen(None)
        fds: list[int] = self._fds  # type: ignore[attr-defined]
        _ensure_lean_server()  # so that connect_to_new_process finds it running
        self.sentinel, w = multiprocessing.forkserver.connect_to_new_process(fds)
        # A duplicate of the data pipe's write end: the child's sentinel of its parent.
        parent_w = os.dup(w)
        self.finalizer = multiprocessing.util.Finalize(
            self, _close, (parent_w, self.sentinel)
        )
        with open(w, "wb", closefd=True) as pipe:  # noqa: PTH123
            pipe.write(buffer.getbuffer())
        self.pid = multiprocessing.forkserver.read_signed(self.sentinel)


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


class _Process(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: multiprocessing.process.BaseProcess) -> popen_forkserver.Popen:  # noqa: N802
        return _Popen(process_obj)


class _Context(multiprocessing.context.ForkServerContext):
    Process = _Process


_CONTEXT = _Context()


def usable(store: blobstore.BlobStore) -> bool:
    """Whether worker processes can write this store's blobs: a local store whose batches are
    made durable by syncfs (which syncs what other processes wrote too). An S3 store, or a
    system without syncfs, keeps the threads. So does a program whose main module cannot be
    imported again by name or path (read from stdin): where the fork server is
    multiprocessing's own (`_LEAN` false), it imports it in each worker, so a script that
    ingests must keep its top level under `if __name__ == "__main__":`, as `casefile`'s own
    entry point does."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is not None and getattr(main, "__spec__", None) is None and not Path(path).is_file():
        return False
    return isinstance(store, LocalBlobStore) and blobstore.SYNCFS is not None
