"""`casefile ingest` and `casefile scrub` against a real database and blob store of their own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from casefile.cli import main
from casefile.db import Database
from casefile.logic.accounts import accounts
from casefile.logic.custody import log as custody_log
from casefile.logic.evidence import ingest_run, metadata, registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.model import Case, CustodyAction, CustodyEntry, Evidence, Role
from casefile.vault.blobstore import BlobStore, LocalBlobStore
from casefile.vault.envelope import Keyring
from casefile.vault.s3store import S3BlobStore
from tests.factories import PASSWORD, add_member
from tests.stores import STORES, StoreView

LEAD = "lead@example.org"
VIEWER = "viewer@example.org"
OLD = time.time() - 2 * 3600  # older than scrub's default grace period


@pytest.fixture(params=STORES)
def vault(request, tmp_path, fresh_database_url):
    """An instance made by the CLI, its blob store the local folder, then S3."""
    env = {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": fresh_database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_server")
        request.getfixturevalue("aws_credentials")
        env["CASEFILE_STORAGE_URL"] = s3.url(s3.fresh_prefix())
        env["CASEFILE_S3_ENDPOINT_URL"] = s3.endpoint_url
        store: BlobStore = S3BlobStore.from_url(
            env["CASEFILE_STORAGE_URL"], endpoint_url=s3.endpoint_url
        )
    else:
        store = LocalBlobStore(tmp_path / "storage")
    runner = CliRunner()

    def run(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    assert run("init").exit_code == 0
    for email in (LEAD, VIEWER):
        assert (
            run("users", "create", email, "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
        )
    created = run(
        "cases",
        "create",
        "--as",
        LEAD,
        "--title",
        "Clearance operations",
        "--forum",
        "icc",
        "--ern-pattern",
        "MMR-OTP-{batch:04d}-{seq:04d}",
    )
    case_id = re.search(r"created case (\S+)", created.output).group(1)
    database = Database.from_url(fresh_database_url)
    with database.session() as session:
        lead = accounts.find_by_email(session, LEAD)
        viewer = accounts.find_by_email(session, VIEWER)
        case = session.get(Case, uuid.UUID(case_id))
        add_member(session, case, lead, viewer, Role.VIEWER)
    yield SimpleNamespace(
        run=run, case_id=case_id, database=database, storage=tmp_path / "storage",
        instance=tmp_path / "instance",
        stored=StoreView(store), kind=request.param, env=env,
    )
    database.engine.dispose()


def items(vault):
    with vault.database.session() as session:
        return list(session.scalars(select(Evidence).order_by(Evidence.seq)))


def item_count(vault):
    with vault.database.session() as session:
        return session.scalar(select(func.count()).select_from(Evidence))


def entries(vault, action):
    with vault.database.session() as session:
        return list(
            session.scalars(
                select(CustodyEntry).where(CustodyEntry.action == action).order_by(CustodyEntry.seq)
            )
        )


def blob_path(vault, item):
    return vault.storage / item.blob_id[:2] / item.blob_id[2:4] / item.blob_id


@pytest.fixture
def batch(tmp_path):
    """A folder with nested files, a duplicate, a hidden file and a symbolic link."""
    root = tmp_path / "batch"
    (root / "tula-toli" / "day2").mkdir(parents=True)
    (root / "statement.txt").write_text("Witness statement W-12, taken in Kutupalong.\n")
    (root / "tula-toli" / "photo-notes.txt").write_text("Notes on photographs 1-40.\n")
    (root / "tula-toli" / "day2" / "log.csv").write_text("time,event\n06:10,arrival\n")
    (root / "tula-toli" / "day2" / "copy-of-statement.txt").write_text(
        "Witness statement W-12, taken in Kutupalong.\n"
    )
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "link.txt").symlink_to(root / "statement.txt")
    return root


def write_sidecar(tmp_path, header, *rows):
    path = tmp_path / "sidecar.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_ingest_a_folder_with_a_sidecar_then_rerun_skips_everything(vault, batch, tmp_path):
    sidecar = write_sidecar(
        tmp_path,
        "path,title,collected_by,collected_at,lat,lon,language,md5",
        "statement.txt,Statement of W-12,Investigator A,2017-09-02T10:00:00+06:30,21.2,92.1,my,"
        + "0" * 32,
        "tula-toli/day2/log.csv,Field log day 2,Investigator B,,,,en,",
    )
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD, "--sidecar", str(sidecar))
    assert result.exit_code == 0, result.output
    # four files, one of them an exact duplicate of another: added once, counted as present
    assert result.stdout.strip().splitlines()[-1] == "added 3, already in case 1, failed 0"
    assert "left out" in result.stderr and ".DS_Store" in result.stderr
    assert "link.txt (symbolic link)" in result.stderr

    found = {item.original_filename: item for item in items(vault)}
    assert set(found) == {"statement.txt", "tula-toli/day2/log.csv", "tula-toli/photo-notes.txt"}
    statement = found["statement.txt"]
    assert statement.title == "Statement of W-12"
    assert statement.collector["collected_by"] == "Investigator A"
    assert statement.collector["lat"] == 21.2 and statement.collector["language"] == "my"
    assert statement.declared_hashes == {"md5": "0" * 32}
    assert "declared_hash_mismatch" in statement.flags
    assert found["tula-toli/day2/log.csv"].collector["collected_by"] == "Investigator B"
    assert found["tula-toli/photo-notes.txt"].title == "tula-toli/photo-notes.txt"
    assert [item.ern for item in items(vault)] == [f"MMR-OTP-0001-000{n}" for n in (1, 2, 3)]
    assert len(entries(vault, CustodyAction.INTAKE)) == 3
    assert entries(vault, CustodyAction.SUBMITTED_AGAIN) == []  # skipped before any intake

    again = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD, "--sidecar", str(sidecar))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == "added 0, already in case 4, failed 0"
    assert len(items(vault)) == 3


def test_json_sidecar_by_file_name(vault, batch, tmp_path):
    sidecar = tmp_path / "meta.json"
    sidecar.write_text(
        json.dumps(
            {
                "photo-notes.txt": {"title": "Photo notes", "sensitivity": "restricted"},
            }
        )
    )
    result = vault.run(
        "ingest",
        vault.case_id,
        str(batch / "tula-toli" / "photo-notes.txt"),
        "--as",
        LEAD,
        "--sidecar",
        str(sidecar),
    )
    assert result.exit_code == 0, result.output
    (item,) = items(vault)
    assert item.sensitivity.value == "restricted"
    # A restricted item's title is sealed under its data key (the column holds a placeholder).
    keyring = Keyring.load(vault.instance / "kek.json")
    assert item.title == metadata.PLACEHOLDER_TITLE
    assert metadata.reveal(keyring, item).title == "Photo notes"


def test_unknown_sidecar_column_stops_before_anything_is_ingested(vault, batch, tmp_path):
    sidecar = write_sidecar(tmp_path, "path,title,witness_name", "statement.txt,S,Aung")
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD, "--sidecar", str(sidecar))
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("casefile: sidecar: header: unknown column(s) 'witness_name'")
    assert items(vault) == []
    assert vault.stored.contents() == []


def test_invalid_sidecar_value_names_its_line(vault, batch, tmp_path):
    sidecar = write_sidecar(tmp_path, "filename,lat", "statement.txt,91")
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD, "--sidecar", str(sidecar))
    assert result.exit_code == 1
    assert "line 2 (statement.txt): lat:" in result.output
    assert items(vault) == []


def test_a_viewer_may_not_ingest(vault, batch):
    result = vault.run("ingest", vault.case_id, str(batch), "--as", VIEWER)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "casefile: your role (viewer) may not add evidence"
    )
    assert items(vault) == []


def test_a_file_that_cannot_be_read_fails_alone(vault, batch, monkeypatch):
    real = ingest_run._Run._sha256

    def unreadable(self, path):
        if path.name == "photo-notes.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real(self, path)

    monkeypatch.setattr(ingest_run._Run, "_sha256", unreadable)
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert result.exit_code == 1
    assert "casefile: failed tula-toli/photo-notes.txt: Permission denied" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "added 2, already in case 1, failed 1"
    assert result.stderr.strip().splitlines()[-1] == "casefile: 1 file failed (reasons above)"
    assert len(items(vault)) == 2


def stored_files(vault):
    """Blob ids, and leftovers (interrupted writes) by name: both must match the items."""
    return sorted(
        [*vault.stored.store.blob_ids(), *(f"leftover {n}" for n in vault.stored.store.leftovers())]
    )


def test_ctrl_c_while_registering_waits_for_the_registration(vault, batch, monkeypatch):
    # Two files per transaction: statement.txt (its copy rides along) and log.csv, then
    # photo-notes.txt. Ctrl-C arrives while the first batch is being registered.
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", 2)
    monkeypatch.setattr(ingest_run, "REGISTER_SECONDS", 30.0)
    real = registration.register_many
    calls = []

    def register_with_ctrl_c(*args, **kwargs):
        calls.append(len(args[3]))
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "register_many", register_with_ctrl_c)
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert result.exit_code == 1
    assert calls == [2]  # held back until the batch committed, then no other
    assert "interrupted: added 2, already in case 1, failed 0" in result.stdout
    assert result.output.strip().splitlines()[-1] == "casefile: aborted"
    assert stored_files(vault) == sorted(item.blob_id for item in items(vault))
    assert len(items(vault)) == 2

    monkeypatch.setattr(registration, "register_many", real)
    rerun = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert rerun.stdout.strip().splitlines()[-1] == "added 1, already in case 3, failed 0"


def test_ctrl_c_while_streaming_leaves_no_blob(vault, batch, monkeypatch):
    real = IntakeStream.write
    calls = []

    def write_then_ctrl_c(self, data):
        calls.append(1)
        if len(calls) == 2:  # the second new file, in a worker thread, half way
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the main thread takes the signal meanwhile
        return real(self, data)

    monkeypatch.setattr(IntakeStream, "write", write_then_ctrl_c)
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert result.exit_code == 1
    assert "interrupted: added " in result.stdout
    assert result.output.strip().splitlines()[-1] == "casefile: aborted"
    registered = items(vault)
    assert len(registered) < 3
    assert stored_files(vault) == sorted(item.blob_id for item in registered)  # no orphan, no
    # .tmp- leftover

    monkeypatch.setattr(IntakeStream, "write", real)
    rerun = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert rerun.exit_code == 0, rerun.output
    assert len(items(vault)) == 3
    assert stored_files(vault) == sorted(item.blob_id for item in items(vault))


def test_a_file_the_database_refuses_fails_alone_in_its_batch(vault, batch, monkeypatch):
    monkeypatch.setattr(ingest_run, "REGISTER_SECONDS", 30.0)  # all three in one batch
    real_append, real_many = custody_log.append_many, registration.register_many
    batches = []

    def append(session, new_entries, **kwargs):
        if any((new.details or {}).get("filename") == "tula-toli/day2/log.csv"
               for new in new_entries):
            raise RuntimeError("disk full")
        return real_append(session, new_entries, **kwargs)

    def register_many(*args, **kwargs):
        batches.append([submission.name for submission in args[3]])
        return real_many(*args, **kwargs)

    monkeypatch.setattr(custody_log, "append_many", append)
    monkeypatch.setattr(registration, "register_many", register_many)
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert batches[0] == ["statement.txt", "tula-toli/day2/log.csv", "tula-toli/photo-notes.txt"]
    assert batches[1:] == [[name] for name in batches[0]]  # then one at a time
    assert "casefile: failed tula-toli/day2/log.csv: RuntimeError: disk full" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "added 2, already in case 1, failed 1"
    registered = items(vault)
    assert [item.original_filename for item in registered] == [
        "statement.txt", "tula-toli/photo-notes.txt"
    ]
    assert [item.ern for item in registered] == ["MMR-OTP-0001-0001", "MMR-OTP-0001-0002"]
    assert stored_files(vault) == sorted(item.blob_id for item in registered)  # no orphan


def test_sigkill_mid_ingest_then_rerun_finishes_and_scrub_and_verify_pass(vault, tmp_path):
    """`casefile ingest` in a process of its own, killed (SIGKILL: nothing can be held back)
    once some batches have committed. What it leaves: whole items, each with its blob and
    its intake entry, gapless ERNs, and at most blobs written ahead that scrub reports as
    orphans. A rerun adds the rest; scrub --repair removes the orphans; the log verifies."""
    if vault.kind != "local":
        pytest.skip("one store is enough: the S3 store's own tests cover its orphans")
    # Enough files that the run cannot finish between two looks at the database: batches of
    # up to 64 commit within milliseconds of each other on an idle machine (600 did, once).
    count = 2000
    folder = tmp_path / "drive"
    for number in range(count):
        sub = folder / f"{number // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"IMG_{number:04d}.bin").write_bytes(os.urandom(64) + number.to_bytes(4, "big"))
    command = [sys.executable, "-c", "from casefile.cli import main; main()",
               "ingest", vault.case_id, str(folder), "--as", LEAD]
    process = subprocess.Popen(command, env=os.environ | vault.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not item_count(vault) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    killed = items(vault)
    assert 0 < len(killed) < count, "the kill must land mid-run"
    assert [item.seq for item in killed] == list(range(1, len(killed) + 1))
    intake = entries(vault, CustodyAction.INTAKE)
    assert sorted(entry.item_id for entry in intake) == sorted(item.id for item in killed)
    blobs = set(vault.stored.store.blob_ids())
    assert {item.blob_id for item in killed} <= blobs  # no item without its blob
    scrubbed = vault.run("scrub", "--grace-minutes", "0")
    orphans = sorted(blobs - {item.blob_id for item in killed})
    assert f"{len(killed)} items checked, {len(killed)} ok, 0 failed" in scrubbed.stdout
    for orphan in orphans:  # written ahead, never registered: reported, none unexplained
        assert f"orphan blob {orphan} (no active item)" in scrubbed.stdout

    rerun = vault.run("ingest", vault.case_id, str(folder), "--as", LEAD)
    assert rerun.exit_code == 0, rerun.output
    assert rerun.stdout.strip().splitlines()[-1] == (
        f"added {count - len(killed)}, already in case {len(killed)}, failed 0"
    )
    repaired = vault.run("scrub", "--repair", "--grace-minutes", "0")
    assert repaired.exit_code == 0, repaired.output
    final = items(vault)
    assert [item.seq for item in final] == list(range(1, count + 1))
    assert stored_files(vault) == sorted(item.blob_id for item in final)
    assert len(entries(vault, CustodyAction.INTAKE)) == count
    verified = vault.run("custody", "verify")
    assert verified.exit_code == 0, verified.output


# --- scrub ----------------------------------------------------------------------------------


@pytest.fixture
def ingested(vault, batch):
    result = vault.run("ingest", vault.case_id, str(batch), "--as", LEAD)
    assert result.exit_code == 0, result.output
    return items(vault)


def test_scrub_a_clean_store(vault, ingested):
    result = vault.run("scrub")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "scrub: 3 items checked, 3 ok, 0 failed; 0 orphan blobs, 0 leftovers"
    )
    checked = entries(vault, CustodyAction.INTEGRITY_CHECKED)
    assert {entry.item_id for entry in checked} == {item.id for item in ingested}
    details = json.loads(checked[0].details)
    assert details["result"] == "ok" and details["ern"].startswith("MMR-OTP-0001-")
    assert checked[0].actor_id is None
    assert vault.run("custody", "verify").exit_code == 0


def test_scrub_names_a_tampered_item(vault, ingested):
    tampered = ingested[1]
    data = bytearray(vault.stored.raw(tampered.blob_id))
    data[len(data) // 2] ^= 0x01
    vault.stored.replace(tampered.blob_id, bytes(data))

    result = vault.run("scrub")
    assert result.exit_code == 1
    assert f"FAILED {tampered.ern} (item {tampered.id}" in result.stdout
    assert "scrub: 3 items checked, 2 ok, 1 failed" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last == "casefile: scrub found problems: 1 item(s) failed"
    (failure,) = entries(vault, CustodyAction.INTEGRITY_FAILURE)
    assert failure.item_id == tampered.id
    assert json.loads(failure.details)["ern"] == tampered.ern
    assert tampered.id not in {e.item_id for e in entries(vault, CustodyAction.INTEGRITY_CHECKED)}
    assert vault.stored.store.exists(tampered.blob_id)  # repair never touches evidence
    assert vault.run("scrub", "--repair").exit_code == 1
    assert vault.stored.raw(tampered.blob_id) == bytes(data)


def test_scrub_reports_a_missing_blob(vault, ingested):
    gone = ingested[0]
    vault.stored.remove(gone.blob_id)
    result = vault.run("scrub")
    assert result.exit_code == 1
    assert f"FAILED {gone.ern} (item {gone.id}, case {gone.case_id}): blob missing" in result.stdout
    (failure,) = entries(vault, CustodyAction.INTEGRITY_FAILURE)
    assert json.loads(failure.details) == {"ern": gone.ern, "reason": "blob missing from the store"}


def test_scrub_finds_orphans_and_leftovers_and_repair_removes_exactly_those(vault, ingested):
    if vault.kind != "local":
        pytest.skip("S3 leftovers are multipart uploads whose age cannot be set back; "
                    "tests/vault/test_s3store.py covers them, and the next test S3 orphans")
    orphan_id = uuid.uuid4().hex
    orphan = vault.storage / orphan_id[:2] / orphan_id[2:4] / orphan_id
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"ciphertext of nothing")
    good = blob_path(vault, ingested[0])
    leftover = good.with_name(f"{good.name}.tmp-0badf00d")
    leftover.write_bytes(b"half a write")
    fresh = good.with_name(f"{good.name}.tmp-00c0ffee")  # an intake in progress, perhaps
    fresh.write_bytes(b"being written")
    for path in (orphan, leftover):
        os.utime(path, (OLD, OLD))

    result = vault.run("scrub")
    assert result.exit_code == 1
    assert f"orphan blob {orphan_id} (no active item)" in result.stdout
    relative = leftover.relative_to(vault.storage).as_posix()
    assert f"leftover {relative} (an interrupted write)" in result.stdout
    assert f"recent {fresh.relative_to(vault.storage).as_posix()}" in result.stdout
    assert "1 orphan blobs, 1 leftovers" in result.stdout
    assert orphan.exists() and leftover.exists()

    repaired = vault.run("scrub", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert f"removed {orphan_id}" in repaired.stdout
    assert f"removed {relative}" in repaired.stdout
    assert not orphan.exists() and not leftover.exists()
    assert fresh.exists()  # too young to be taken for a leftover
    assert all(blob_path(vault, item).exists() for item in ingested)

    fresh.unlink()
    after = vault.run("scrub")
    assert after.exit_code == 0, after.output
    assert "scrub: 3 items checked, 3 ok, 0 failed; 0 orphan blobs, 0 leftovers" in after.stdout


def test_repair_with_a_tampered_item_removes_the_orphan_and_still_fails(vault, ingested):
    tampered = ingested[2].blob_id
    truncated = vault.stored.raw(tampered)[:-5]
    vault.stored.replace(tampered, truncated)
    orphan_id = uuid.uuid4().hex
    vault.stored.put(orphan_id, b"x")

    repaired = vault.run("scrub", "--repair", "--grace-minutes", "0")
    assert repaired.exit_code == 1
    assert f"removed {orphan_id}" in repaired.stdout
    assert not vault.stored.store.exists(orphan_id)
    assert vault.stored.raw(tampered) == truncated  # evidence is never removed
    after = vault.run("scrub")
    assert after.exit_code == 1
    assert f"FAILED {ingested[2].ern}" in after.stdout
    assert "0 orphan blobs, 0 leftovers" in after.stdout
