"""A large `casefile ingest` into a local store writes and examines its blobs in worker
processes (ingest_workers). What users depend on, as with the threads: every file registered
with its blob and intake entry, the bytes those that were hashed; the KEK reaches the workers
over their pipe only (not on disk, in argv or in the environment); a worker process that dies
fails its files alone (or the run goes on without them), nothing half-registered, nothing left
in the store; Ctrl-C leaves no blob and no worker process behind, nor does a SIGKILL of the
parent (the workers end with it)."""

from __future__ import annotations

import base64
import json
import multiprocessing.forkserver
import multiprocessing.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing import forkserver
from pathlib import Path

import pytest

from casefile.logic.evidence import ingest, ingest_run, ingest_workers, reading, registration
from casefile.model import CustodyAction, CustodyEntry, Evidence
from casefile.vault import blobstore, sniff
from casefile.vault.blobstore import LocalBlobStore
from tests.cli.test_ingest_scrub import entries, items, stored_files, vault  # noqa: F401
from tests.logic.test_ingest_durability import _cheap_hashes, people  # noqa: F401

pytestmark = pytest.mark.skipif(
    blobstore.SYNCFS is None, reason="worker processes need syncfs(2)"
)
COUNT = 240  # above ingest_run.PROCESSES_FROM: the run uses worker processes


def make_drive(root: Path, count: int) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for number in range(count):
        relative = f"{number // 50:02d}/IMG_{number:04d}.bin"
        path = root / "drive" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        content = os.urandom(200) + number.to_bytes(4, "big")
        path.write_bytes(content)
        contents[relative] = content
    return contents


def run_ingest(session, investigator, case, drive, *, store, keyring, **kwargs):
    return ingest.ingest(
        session, investigator, case.id, ingest.plan([drive]).files,
        store=store, keyring=lambda: keyring, **kwargs,
    )


def worker_pids() -> list[int]:
    """The live worker processes: the fork server's children."""
    server = forkserver._forkserver._forkserver_pid
    if server is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[1]) == server and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether the process runs (or has not ended: a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def no_thread_stream(*args, **kwargs):
    raise AssertionError("a large local run writes its blobs in worker processes")


@pytest.fixture(autouse=True)
def processes_only(monkeypatch):
    monkeypatch.setattr(ingest_run._Run, "_stream", no_thread_stream)


def test_a_large_run_registers_every_file_from_worker_processes(
    session, people, keyring, tmp_path  # noqa: F811
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    contents = make_drive(tmp_path, COUNT)
    progress: list[int] = []
    summary = run_ingest(
        session, investigator, case, tmp_path / "drive", store=store, keyring=keyring,
        on_bytes=progress.append,
    )
    assert (summary.added, summary.failed) == (COUNT, [])
    assert sum(progress) == sum(len(content) for content in contents.values())
    registered = session.query(Evidence).order_by(Evidence.seq).all()
    assert [item.seq for item in registered] == list(range(1, COUNT + 1))
    assert [item.original_filename for item in registered] == sorted(contents)  # in order
    assert sorted(store.blob_ids()) == sorted(item.blob_id for item in registered)
    assert list(store.leftovers()) == []
    intake = session.query(CustodyEntry).filter(CustodyEntry.action == CustodyAction.INTAKE)
    assert sorted(entry.item_id for entry in intake) == sorted(item.id for item in registered)
    for item in registered[:: COUNT // 8]:
        _, chunks = reading.read_content(
            session, investigator, item.id, store=store, keyring=keyring
        )
        assert b"".join(chunks) == contents[item.original_filename]
        assert item.mime == sniff.detect(contents[item.original_filename][: sniff.HEAD_BYTES])
    assert worker_pids() == []  # ended with the run

    again = run_ingest(session, investigator, case, tmp_path / "drive", store=store,
                       keyring=keyring)
    assert (again.added, again.present) == (0, COUNT)


def test_the_kek_reaches_the_workers_over_their_pipe_only(
    session, people, keyring, tmp_path, monkeypatch  # noqa: F811
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    make_drive(tmp_path, COUNT)
    text = keyring.to_text()
    secrets = [text.encode(), *(
        base64.b64decode(key["keyData"]["value"]) for key in json.loads(text)["key"]
    )]
    secrets += [base64.b64encode(secret) for secret in secrets[1:]]
    # An operator who gives the KEK in the environment: the fork server (started anew for
    # this test, as a fresh `casefile ingest` starts it) must not pass it on.
    monkeypatch.setenv("CASEFILE_KEK", text)
    multiprocessing.forkserver._forkserver._stop()
    looked: list[int] = []
    real = registration.register_many

    def look_at_the_workers(*args, **kwargs):
        for pid in worker_pids():
            for name in ("cmdline", "environ"):
                seen = Path(f"/proc/{pid}/{name}").read_bytes()
                assert not any(secret in seen for secret in secrets), name
            looked.append(pid)
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "register_many", look_at_the_workers)
    before = time.time()
    summary = run_ingest(session, investigator, case, tmp_path / "drive", store=store,
                         keyring=keyring)
    assert summary.added == COUNT
    assert looked  # the workers were running
    # No file written during the run holds the KEK: in the test's folder (the store, the
    # drive) or in multiprocessing's temporary folder (the fork server's socket).
    for folder in (Path(multiprocessing.util.get_temp_dir()), tmp_path):
        for path in folder.rglob("*"):
            try:
                if not path.is_file() or path.stat().st_mtime < before or path.name == "kek.json":
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            assert not any(secret in data for secret in secrets), path


def test_a_worker_process_killed_mid_run_fails_its_files_alone(
    session, people, keyring, tmp_path, monkeypatch  # noqa: F811
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    make_drive(tmp_path, 1000)
    monkeypatch.setattr(ingest_run, "PROCESS_CHUNK", 4)  # many tasks still queued at the kill
    killed: list[int] = []

    def kill_a_worker(count):  # called as the first task's files come back
        if not killed:
            pids = worker_pids()
            assert pids
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    summary = run_ingest(session, investigator, case, tmp_path / "drive", store=store,
                         keyring=keyring, on_bytes=kill_a_worker)
    assert killed
    assert summary.added + len(summary.failed) == 1000
    assert summary.failed  # the files the dead worker had, or had queued
    assert all("ingest worker process" in reason for _, reason in summary.failed)
    registered = session.query(Evidence).order_by(Evidence.seq).all()
    assert [item.seq for item in registered] == list(range(1, summary.added + 1))
    # Nothing half-registered, nothing left: each item its blob, no orphan, no leftover.
    assert sorted(store.blob_ids()) == sorted(item.blob_id for item in registered)
    assert list(store.leftovers()) == []
    assert worker_pids() == []

    again = run_ingest(session, investigator, case, tmp_path / "drive", store=store,
                       keyring=keyring)
    assert (again.added, again.present, again.failed) == (
        len(summary.failed), summary.added, []
    )


def test_ctrl_c_in_a_large_run_leaves_no_blob_and_no_worker(
    session, people, keyring, tmp_path  # noqa: F811
):
    investigator, case = people
    store = LocalBlobStore(tmp_path / "blobs")
    make_drive(tmp_path, 1000)
    summary = ingest.Summary()
    pids: list[int] = []

    def ctrl_c(outcome):
        if summary.added == 100:
            pids.extend(worker_pids())
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C, to this process

    with pytest.raises(KeyboardInterrupt):
        run_ingest(session, investigator, case, tmp_path / "drive", store=store,
                   keyring=keyring, summary=summary, on_file=ctrl_c)
    assert summary.interrupted
    assert pids  # the workers were running
    registered = session.query(Evidence).all()
    assert len(registered) == summary.added < 1000
    assert sorted(store.blob_ids()) == sorted(item.blob_id for item in registered)
    assert list(store.leftovers()) == []
    assert worker_pids() == []
    assert not any(alive(pid) for pid in pids)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from multiprocessing import forkserver
    from pathlib import Path
    from casefile.logic.evidence import registration
    real, report = registration.register_many, sys.argv[1]

    def kill_myself(*args, **kwargs):
        server = forkserver._forkserver._forkserver_pid
        children = [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()
                    and (entry / "stat").exists()
                    and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == server]
        Path(report).write_text(" ".join([str(server), *children]))
        os.kill(os.getpid(), signal.SIGKILL)

    registration.register_many = kill_myself
    from casefile.cli import main
    sys.argv = ["casefile", *sys.argv[2:]]
    main()
    """
)


def test_the_workers_end_with_a_killed_ingest(vault, tmp_path):  # noqa: F811
    if vault.kind != "local":
        pytest.skip("S3 ingests keep the threads")
    make_drive(tmp_path, COUNT)
    report = tmp_path / "pids"
    command = [sys.executable, "-c", KILLER, str(report),
               "ingest", vault.case_id, str(tmp_path / "drive"), "--as", "lead@example.org"]
    process = subprocess.run(command, env=os.environ | vault.env, capture_output=True,
                             timeout=300, check=False)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    pids = [int(pid) for pid in report.read_text().split()]
    assert len(pids) >= 2  # the fork server and its workers
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), "worker processes outlived their ingest"
    assert items(vault) == []
    rerun = vault.run("ingest", vault.case_id, str(tmp_path / "drive"), "--as", "lead@example.org")
    assert rerun.exit_code == 0, rerun.output
    assert len(items(vault)) == COUNT
    repaired = vault.run("scrub", "--repair", "--grace-minutes", "0")
    assert repaired.exit_code == 0, repaired.output
    assert stored_files(vault) == sorted(item.blob_id for item in items(vault))
    assert len(entries(vault, CustodyAction.INTAKE)) == COUNT


# A program that ingests, as `casefile`'s console script is: its main module imports the CLI
# (and with it the web application). Prints the modules a worker process has, as JSON.
WORKER_MODULES = textwrap.dedent(
    """
    import json, os, sys, uuid
    from pathlib import Path
    import casefile.cli  # noqa: F401 - as the console script's main module does
    from casefile.logic.evidence import ingest_workers
    from casefile.logic.evidence.submission import EvidenceInput
    from casefile.vault.envelope import Keyring

    if __name__ == "__main__":
        root = Path(sys.argv[1])
        Keyring.create_file(root / "kek.json")
        context = ingest_workers.context()
        pool = ingest_workers.pool(
            1, Keyring.load(root / "kek.json").to_text(), root, context.Event()
        )
        # A file written and examined, and one that fails, before the worker is looked at.
        jobs = [
            ingest_workers.Job(uuid.uuid4(), "/x", "x.bin", os.urandom(4096), EvidenceInput()),
            ingest_workers.Job(uuid.uuid4(), str(root / "none"), "none", None, EvidenceInput()),
        ]
        written, failed = pool.submit(ingest_workers.stream_chunk, jobs, None).result(timeout=120)
        assert isinstance(written, ingest_workers.Written), written
        assert isinstance(failed, ingest_workers.Failed), failed
        modules = pool.submit(eval, "sorted(__import__('sys').modules)").result(timeout=120)
        source = pool.submit(
            eval, "__import__('sys').modules['casefile.logic.evidence.ingest_workers'].__file__"
        ).result(timeout=120)
        pool.shutdown()
        assert source == ingest_workers.__file__, source  # not the working folder's casefile
        print(json.dumps(modules))
    """
)


def test_a_worker_process_does_not_import_the_web_application(tmp_path):
    """The fork server enters the `casefile` package without its __init__.py (Flask, the
    database layer, the settings) and a worker does not import the ingesting program's main
    module: ~0.8 s of CPU less per run, ~0.3 s less per worker under the console script, and
    less of the server in a process that examines collectors' files."""
    program = tmp_path / "ingesting.py"
    program.write_text(WORKER_MODULES)
    # Run from a folder that holds another `casefile` (a checkout): not what the workers import.
    elsewhere = tmp_path / "elsewhere" / "casefile"
    elsewhere.mkdir(parents=True)
    (elsewhere / "__init__.py").write_text("raise ImportError('the working folder casefile')\n")
    process = subprocess.run(
        [sys.executable, str(program), str(tmp_path)], capture_output=True, timeout=300,
        check=False, cwd=elsewhere.parent,
    )
    assert process.returncode == 0, process.stderr.decode()[-2000:]
    modules = set(json.loads(process.stdout))
    assert "casefile.logic.evidence.ingest_workers" in modules  # it is one of the workers
    assert "tink" in modules
    for name in ("flask", "werkzeug", "jinja2", "click", "casefile.cli", "casefile.settings",
                 "casefile.logic.custody", "casefile.logic.evidence.ingest_run",
                 "casefile.logic.evidence.registration"):
        assert name not in modules, name


def test_workers_are_not_used_for_small_runs_or_s3():
    assert ingest_run.PROCESSES_FROM > 100
    assert not ingest_workers.usable(object())  # type: ignore[arg-type]


SERVER_RESTARTED = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from multiprocessing import forkserver
    from casefile.logic.evidence import ingest_workers

    if __name__ == "__main__":
        context = ingest_workers.context()
        first = forkserver._forkserver._forkserver_pid
        os.kill(first, signal.SIGKILL)
        time.sleep(0.5)
        os.environ["CASEFILE_KEK"] = "not-for-the-fork-server"
        worker = context.Process(target=os.getpid)
        worker.start()
        worker.join(60)
        second = forkserver._forkserver._forkserver_pid
        with open(f"/proc/{second}/environ", "rb") as handle:
            environ = handle.read()
        with open(f"/proc/{second}/cmdline", "rb") as handle:
            command = handle.read()
        print(json.dumps({"restarted": second != first, "exit": worker.exitcode,
                          "secret": b"CASEFILE_KEK" in environ,
                          "lean": b"types.ModuleType" in command}))
    """
)


def test_a_fork_server_ended_mid_run_is_started_again_lean_and_without_secrets(tmp_path):
    """A worker started after the fork server ended starts the lean server again, without
    the CASEFILE_* variables (a KEK in CASEFILE_KEK) and without the working folder on its
    path, never multiprocessing's own server with the whole environment (review finding)."""
    program = tmp_path / "restarting.py"
    program.write_text(SERVER_RESTARTED)
    done = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"restarted": True, "exit": 0, "secret": False,
                                       "lean": True}
