"""`casefile backup` and `casefile restore`, end to end through the CLI: SQLite with the local
folder store, PostgreSQL with S3 (moto). An instance with users, a case, standard and
restricted items (one sharing another's blob), a deleted item, custody entries and a signed
checkpoint is backed up while an upload runs, and restored into a new, empty instance."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import OperationalError

from casefile import create_app
from casefile.cli import main
from casefile.db import Database
from casefile.logic.accounts import accounts
from casefile.logic.backup import restore as restore_logic
from casefile.logic.backup import snapshot
from casefile.logic.evidence import deletion, tus
from casefile.logic.evidence import ingest as ingest_logic
from casefile.logic.filings import exhibits, filings
from casefile.logic.incidents import incidents, links, perpetrators
from casefile.model import (
    Case,
    CustodyCheckpoint,
    Evidence,
    EvidenceStatus,
    Exhibit,
    Filing,
    Incident,
    IncidentCategory,
    IncidentEvidence,
    Role,
)
from casefile.schema import alembic_config
from casefile.settings import load_settings
from casefile.vault.blobstore import BlobStore, open_store
from casefile.vault.envelope import Keyring
from tests.conftest import create_database
from tests.factories import PASSWORD, add_member

LEAD = "lead@example.org"
LAWYER = "lawyer@example.org"
VIEWER = "viewer@example.org"
PASSPHRASE = "a long backup passphrase, kept apart"

FILES = {
    "statement-w12.txt": b"Witness statement W-12, taken in Kutupalong.\n",
    "photo-notes.txt": b"Notes on photographs 1-40.\n",
    "to-delete.txt": b"A draft that the lead deletes.\n",
    "witness-identity.txt": b"Name and village of witness W-12 (restricted).\n",
}
DURING = b"Uploaded while the backup runs.\n"


@dataclass
class Instance:
    env: dict[str, str]
    database_url: str
    store: BlobStore
    instance: Path

    def run(self, *args: str, stdin: str | None = None) -> Any:
        runner = CliRunner()
        return runner.invoke(main, list(args), input=stdin, env=self.env, catch_exceptions=False)

    def database(self) -> Database:
        return Database.from_url(self.database_url)

    def items(self) -> list[Evidence]:
        database = self.database()
        try:
            with database.session() as session:
                return list(session.scalars(select(Evidence).order_by(Evidence.created_at)))
        finally:
            database.engine.dispose()

    def is_empty(self) -> bool:
        """No table with a row, no blob in the store."""
        database = self.database()
        try:
            with database.engine.connect() as connection:
                names = inspect(connection).get_table_names()
                for name in names:
                    if (
                        name != "alembic_version"
                        # SQLite's FTS5 index keeps its own bookkeeping rows, even when empty
                        and not name.startswith("search_fts")
                        and connection.exec_driver_sql(f'SELECT COUNT(*) FROM "{name}"').scalar()
                    ):
                        return False
        finally:
            database.engine.dispose()
        return next(iter(self.store.blob_ids()), None) is None


def _instance(
    request: pytest.FixtureRequest, folder: Path, database_url: str, kind: str
) -> Instance:
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "CASEFILE_INSTANCE": str(folder / "instance"),
        "CASEFILE_DATABASE_URL": database_url,
        "CASEFILE_STORAGE_URL": (folder / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }
    if kind == "s3":
        s3 = request.getfixturevalue("s3_server")
        request.getfixturevalue("aws_credentials")
        env["CASEFILE_STORAGE_URL"] = s3.url(s3.fresh_prefix())
        env["CASEFILE_S3_ENDPOINT_URL"] = s3.endpoint_url
    store = open_store(env["CASEFILE_STORAGE_URL"], load_settings(env))
    return Instance(env, database_url, store, folder / "instance")


@pytest.fixture
def kind(fresh_database_url: str) -> str:
    """SQLite goes with the local folder store, PostgreSQL with S3."""
    return "local" if fresh_database_url.startswith("sqlite") else "s3"


@pytest.fixture
def source(request, tmp_path, fresh_database_url, kind) -> Instance:
    """An instance built through the CLI (and the logic the API calls): three accounts, a
    case, standard and restricted items, one item sharing a restricted item's blob, a deleted
    item, and a signed checkpoint of the custody log."""
    instance = _instance(request, tmp_path / "source", fresh_database_url, kind)
    assert instance.run("init").exit_code == 0
    for email in (LEAD, LAWYER, VIEWER):
        created = instance.run("users", "create", email, "--password-stdin", stdin=PASSWORD + "\n")
        assert created.exit_code == 0, created.output
    created = instance.run(
        "cases", "create", "--as", LEAD, "--title", "Clearance operations", "--forum", "icc",
        "--ern-pattern", "MMR-OTP-{batch:04d}-{seq:04d}",
    )  # fmt: skip
    case_id = re.search(r"created case (\S+)", created.output).group(1)
    database = instance.database()
    with database.session() as session:
        lead = accounts.find_by_email(session, LEAD)
        case = session.get(Case, uuid.UUID(case_id))
        add_member(session, case, lead, accounts.find_by_email(session, LAWYER), Role.LAWYER)
        add_member(session, case, lead, accounts.find_by_email(session, VIEWER), Role.VIEWER)
    database.engine.dispose()

    files = tmp_path / "files"
    files.mkdir()
    for name, data in FILES.items():
        (files / name).write_bytes(data)
    sidecar = tmp_path / "sidecar.json"
    sidecar.write_text(json.dumps({"witness-identity.txt": {"sensitivity": "restricted"}}))
    ingested = instance.run("ingest", case_id, str(files), "--as", LEAD, "--sidecar", str(sidecar))
    assert ingested.exit_code == 0, ingested.output
    # The lawyer, who may not see the restricted item, submits the same bytes: an item of
    # their own that shares the restricted item's blob.
    again = instance.run("ingest", case_id, str(files / "witness-identity.txt"), "--as", LAWYER)
    assert again.exit_code == 0, again.output
    with database.session() as session:
        lead = accounts.find_by_email(session, LEAD)
        doomed = session.scalars(
            select(Evidence).where(Evidence.original_filename == "to-delete.txt")
        ).one()
        deletion.delete_item(
            session, lead, doomed.id, deletion.DeletionInput(reason="a draft"),
            store=instance.store,
        )  # fmt: skip
        make_filed_filing_and_its_new_version(session, lead, uuid.UUID(case_id))
    database.engine.dispose()
    checkpoint = instance.run("custody", "checkpoint")
    assert checkpoint.exit_code == 0, checkpoint.output
    instance.case_id = case_id  # type: ignore[attr-defined]
    instance.checkpoint = checkpoint.output  # type: ignore[attr-defined]

    items = instance.items()
    assert len(items) == 5
    shared = [item for item in items if item.content_id is not None]
    assert len(shared) == 1 and shared[0].created_by_id != shared[0].content_id
    assert [item.status for item in items].count(EvidenceStatus.DELETED) == 1
    return instance


def record_incident(session, lead, case_id: uuid.UUID) -> None:
    """An incident with a day, coordinates, a perpetrator and a linked item (dates and
    doubles are kinds of columns of their own in the backup's rows)."""
    unit = perpetrators.name_perpetrator(session, lead, case_id, perpetrators.parse_perpetrator(
        {"name": "33rd Light Infantry Division", "kind": "unit"}))
    incident = incidents.create_incident(session, lead, case_id, incidents.parse_input({
        "title": "Burning of Tula Toli", "start_date": "2017-08-30",
        "categories": ["arson_destruction"], "perpetrators": [str(unit.perpetrator.id)],
        "location": {"township": "Maungdaw", "country": "Myanmar", "lat": 20.94, "lon": 92.39},
    }))
    item = session.scalars(select(Evidence).where(
        Evidence.case_id == case_id, Evidence.sensitivity == "standard",
        Evidence.status == EvidenceStatus.ACTIVE)).first()
    links.link_item(session, lead, incident.id, links.parse_link(
        {"evidence_id": str(item.id), "relation": "depicts"}))


def incident_as_stored(instance: Instance) -> tuple:
    database = instance.database()
    try:
        with database.session() as session:
            incident = session.scalars(select(Incident)).one()
            return (incident.title, incident.start_date, incident.lat, incident.lon,
                    incident.categories, [p.name for p in incident.perpetrators],
                    session.scalar(select(func.count()).select_from(IncidentEvidence)))
    finally:
        database.engine.dispose()


def make_filed_filing_and_its_new_version(session, lead, case_id: uuid.UUID) -> None:
    """A filing with a filing date and an exhibit, filed, then its version 2 (which names
    it): the backup keeps dates, and restores a version after the one it supersedes."""
    item = session.scalars(
        select(Evidence).where(Evidence.original_filename == "statement-w12.txt")
    ).one()
    filing = filings.create_filing(session, lead, case_id, filings.FilingInput(
        title="Request", type="request_or_submission", classification="public",
        filing_date=dt.date(2026, 12, 1)))  # fmt: skip
    exhibits.add_exhibit(session, lead, filing.id, exhibits.ExhibitInput(evidence_id=item.id))
    for status in ("final", "filed"):
        filings.update_filing(session, lead, filing.id, filings.FilingPatch(status=status))
    filings.update_filing(
        session, lead, filing.id, filings.FilingPatch(title="Corrigendum", new_version=True)
    )


def filing_rows(instance: Instance) -> set[tuple]:
    database = instance.database()
    try:
        with database.session() as session:
            return {
                (row.id, row.version, row.supersedes_id, row.filing_date, row.title)
                for row in session.scalars(select(Filing))
            } | {
                (row.id, row.filing_id, row.evidence_id, row.position)
                for row in session.scalars(select(Exhibit))
            }
    finally:
        database.engine.dispose()


@pytest.fixture
def target(request, tmp_path, source, kind):
    """A new, empty instance: no instance folder yet; on SQLite not even a database file,
    on PostgreSQL a new database (its schema already created, as `casefile init` would)."""
    if kind == "local":
        url = f"sqlite:///{tmp_path / 'target.sqlite3'}"
        yield _instance(request, tmp_path / "target", url, kind)
        return
    databases = create_database("postgresql", tmp_path)
    url = next(databases)
    try:
        yield _instance(request, tmp_path / "target", url, kind)
    finally:
        next(databases, None)


def copy_keys(source: Instance, target: Instance) -> None:
    """What an operator does for a backup without keys: the source's KEK and signing key."""
    target.instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("kek.json", "custody_signing_key.pem"):
        shutil.copy2(source.instance / name, target.instance / name)


def upload_during(source: Instance, monkeypatch, tmp_path) -> threading.Thread:
    """While the backup reads the evidence table in its snapshot, another thread ingests a
    file and commits it; the backup waits for it to finish, then reads on."""
    path = tmp_path / "during.txt"
    path.write_bytes(DURING)
    dump = snapshot._dump_table
    errors: list[BaseException] = []

    def upload() -> None:
        database = source.database()
        try:
            settings = load_settings(source.env)
            with database.session() as session:
                lead = accounts.find_by_email(session, LEAD)
                summary = ingest_logic.ingest(
                    session, lead, uuid.UUID(source.case_id),
                    ingest_logic.plan([path]).files, store=source.store,
                    keyring=lambda: Keyring.load(settings.kek_path),
                )  # fmt: skip
                assert summary.added == 1
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            database.engine.dispose()

    thread = threading.Thread(target=upload)

    def dump_while_uploading(session, table, *args, **kwargs):
        if table.name == "evidence" and not thread.is_alive() and thread.ident is None:
            thread.start()
            thread.join(timeout=60)
            assert not thread.is_alive() and not errors, errors
        return dump(session, table, *args, **kwargs)

    monkeypatch.setattr(snapshot, "_dump_table", dump_while_uploading)
    return thread


def download_all(instance: Instance) -> dict[str, str]:
    """Every active item, downloaded through the API by its uploader: ERN → SHA-256 of the
    bytes received (each must equal the item's own SHA-256)."""
    app = create_app(load_settings(instance.env))
    client = app.test_client()
    database = instance.database()
    with database.session() as session:
        ids = {email: accounts.find_by_email(session, email).id for email in (LEAD, LAWYER)}
    database.engine.dispose()
    tokens = {
        user_id: instance.run("users", "token", email).output.strip().splitlines()[-1]
        for email, user_id in ids.items()
    }
    received = {}
    for item in instance.items():
        if item.status != EvidenceStatus.ACTIVE:
            continue
        response = client.get(
            f"/api/v1/evidence/{item.id}/content",
            headers={"Authorization": f"Bearer {tokens[item.created_by_id]}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        digest = hashlib.sha256(response.get_data()).hexdigest()
        assert digest == item.sha256
        received[item.ern] = digest
    app.extensions["casefile.db"].engine.dispose()
    return received


def latest_checkpoint(instance: Instance) -> str | None:
    database = instance.database()
    try:
        with database.session() as session:
            latest = session.scalars(
                select(CustodyCheckpoint).order_by(CustodyCheckpoint.size.desc()).limit(1)
            ).first()
            return latest.note if latest else None
    finally:
        database.engine.dispose()


# --- the round trip -------------------------------------------------------------------------


def test_backup_while_uploading_then_restore_into_a_new_instance(
    source, target, tmp_path, monkeypatch
):
    before = {item.ern: item.sha256 for item in source.items()}
    thread = upload_during(source, monkeypatch, tmp_path)
    out = tmp_path / "backup"
    made = source.run("backup", str(out))
    assert made.exit_code == 0, made.output
    assert thread.ident is not None  # the upload did run during the backup
    assert "holds no key" in made.stderr and "cannot be restored without" in made.stderr
    assert not (out / "keys.enc").exists()

    # The upload was not harmed: it is in the source, with its bytes.
    during = [item for item in source.items() if item.original_filename == "during.txt"]
    assert len(during) == 1 and during[0].sha256 == hashlib.sha256(DURING).hexdigest()

    inventory = json.loads((out / "inventory.json").read_text())
    listed = {entry["path"]: entry for entry in inventory["files"]}
    for path, entry in listed.items():
        data = (out / path).read_bytes()
        assert len(data) == entry["size"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert inventory["checkpoint"]["note"] == source.checkpoint
    assert inventory["blobs"]["missing"] == []
    rows = {table["name"]: table["rows"] for table in inventory["tables"]}
    assert rows["users"] == 3 and rows["cases"] == 1 and rows["evidence"] == 5
    # Three active items own a blob (the sharing item uses the restricted one's): three blobs,
    # stored as ciphertext, none of them holding a plaintext.
    blobs = [path for path in listed if path.startswith("blobs/")]
    assert len(blobs) == 3
    for path in blobs:
        stored = (out / path).read_bytes()
        assert not any(plain in stored for plain in FILES.values())

    copy_keys(source, target)
    restored = target.run("restore", str(out))
    assert restored.exit_code == 0, restored.output
    assert f"checkpoint {inventory['checkpoint']['size']}" in restored.stdout

    verified = target.run("custody", "verify")
    assert verified.exit_code == 0, verified.output
    scrubbed = target.run("scrub")
    assert scrubbed.exit_code == 0, scrubbed.output
    assert latest_checkpoint(target) == source.checkpoint
    assert filing_rows(target) == filing_rows(source)
    assert len(filing_rows(target)) == 4  # two versions, an exhibit each

    restored_items = target.items()
    assert {item.ern: item.sha256 for item in restored_items} == before  # not the upload
    assert {(i.id, i.status, i.sensitivity, i.content_id) for i in restored_items} == {
        (i.id, i.status, i.sensitivity, i.content_id)
        for i in source.items()
        if i.original_filename != "during.txt"
    }
    downloaded = download_all(target)
    assert len(downloaded) == 4  # every active item, restricted and shared ones included

    # The restored instance carries on: a new account's events get fresh ids.
    created = target.run("users", "create", "new@example.org", "--password-stdin",
                         stdin=PASSWORD + "\n")  # fmt: skip
    assert created.exit_code == 0, created.output


def test_a_blob_gone_before_it_is_copied_is_recorded_not_a_crash(source, tmp_path, monkeypatch):
    victim = next(i for i in source.items() if i.original_filename == "photo-notes.txt")
    dump = snapshot._dump

    def dump_then_delete(session, *args, **kwargs):
        found = dump(session, *args, **kwargs)
        source.store.delete(victim.blob_id)  # as a deletion committed meanwhile would
        return found

    monkeypatch.setattr(snapshot, "_dump", dump_then_delete)
    out = tmp_path / "backup"
    made = source.run("backup", str(out))
    assert made.exit_code == 0, made.output
    assert f"blob {victim.blob_id} was gone from the store" in made.stderr
    inventory = json.loads((out / "inventory.json").read_text())
    assert inventory["blobs"]["missing"] == [victim.blob_id]
    assert not any(victim.blob_id in entry["path"] for entry in inventory["files"])


# --- keys -----------------------------------------------------------------------------------


def test_keys_round_trip_under_the_passphrase(source, target, tmp_path):
    out = tmp_path / "backup"
    made = source.run("backup", str(out), "--with-keys", stdin=PASSPHRASE + "\n")
    assert made.exit_code == 0, made.output
    assert "WARNING" in made.stderr and "passphrase" in made.stderr
    sealed = (out / "keys.enc").read_bytes()
    for secret in ("kek.json", "custody_signing_key.pem", "secret_key"):
        text = (source.instance / secret).read_text()
        key_material = re.findall(r'"value":\s*"([^"]+)"', text) or [text.strip()[40:80]]
        assert not any(part.encode() in sealed for part in key_material)

    wrong = target.run("restore", str(out), stdin="not the passphrase at all\n")
    assert wrong.exit_code == 1
    assert wrong.output.strip().splitlines()[-1] == (
        "casefile: keys: wrong passphrase (or the key file was altered)"
    )
    assert target.is_empty() and not (target.instance / "kek.json").exists()

    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    restored = target.run("restore", str(out), "--passphrase-file", str(passphrase_file))
    assert restored.exit_code == 0, restored.output
    for name in ("kek.json", "custody_signing_key.pem", "secret_key"):
        assert (target.instance / name).read_text().strip() == (
            (source.instance / name).read_text().strip()
        )
        assert (target.instance / name).stat().st_mode & 0o777 == 0o600
    assert target.run("custody", "verify").exit_code == 0
    assert target.run("scrub").exit_code == 0
    assert latest_checkpoint(target) == source.checkpoint
    assert len(download_all(target)) == 4


def test_a_short_passphrase_is_refused_before_anything_is_written(source, tmp_path):
    out = tmp_path / "backup"
    made = source.run("backup", str(out), "--with-keys", stdin="short\n")
    assert made.exit_code == 1
    assert "at least 12 characters" in made.output
    assert not out.exists()


def test_without_keys_restore_needs_the_source_keys(source, target, tmp_path):
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    refused = target.run("restore", str(out))
    assert refused.exit_code == 1
    assert "this backup holds no keys" in refused.output
    assert target.is_empty()

    # Another instance's KEK cannot unwrap the items' data keys: refused before loading.
    target.instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(source.instance / "custody_signing_key.pem", target.instance)
    Keyring.create_file(target.instance / "kek.json")
    refused = target.run("restore", str(out))
    assert refused.exit_code == 1
    assert "cannot unwrap the data key of item" in refused.output
    assert target.is_empty()


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["blob", "table", "inventory", "missing file"])
def test_a_tampered_backup_is_refused(source, target, tmp_path, what):
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    inventory = json.loads((out / "inventory.json").read_text())
    paths = [entry["path"] for entry in inventory["files"]]
    if what == "inventory":
        bad = "inventory.json"
        text = (out / bad).read_text().replace('"rows": 3', '"rows": 4', 1)
        (out / bad).write_text(text)
    else:
        prefix = "blobs/" if what == "blob" else "database/"
        bad = next(path for path in paths if path.startswith(prefix))
        if what == "missing file":
            (out / bad).unlink()
        else:
            data = bytearray((out / bad).read_bytes())
            data[len(data) // 2] ^= 0x01  # one bit of one byte
            (out / bad).write_bytes(bytes(data))
    copy_keys(source, target)
    refused = target.run("restore", str(out))
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines()[-1].startswith(f"casefile: {bad}")
    assert target.is_empty()


def test_restore_refuses_an_instance_that_is_not_empty(source, tmp_path):
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    before = len(source.items())
    refused = source.run("restore", str(out))
    assert refused.exit_code == 1
    assert "not empty" in refused.output and "restore only into a new instance" in refused.output
    assert len(source.items()) == before


def test_restore_refuses_a_store_that_is_not_empty(source, target, tmp_path):
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    copy_keys(source, target)
    writer = target.store.writer(uuid.uuid4().hex)
    writer.write(b"someone else's blob")
    writer.commit()
    refused = target.run("restore", str(out))
    assert refused.exit_code == 1
    assert "the blob store is not empty" in refused.output
    assert len(list(target.store.blob_ids())) == 1


def test_backup_refuses_a_folder_that_is_not_empty(source, tmp_path):
    out = tmp_path / "backup"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = source.run("backup", str(out))
    assert refused.exit_code == 1
    assert "is not empty" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_the_backup_holds_each_blob_byte_for_byte_as_stored(source, tmp_path):
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    blob_ids = list(source.store.blob_ids())
    assert len(blob_ids) == 3
    for blob_id in blob_ids:
        with source.store.open(blob_id) as stored:
            assert (out / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id).read_bytes() == (
                stored.read()
            )


def test_a_failed_load_leaves_the_instance_empty_and_can_be_run_again(
    source, target, tmp_path, monkeypatch
):
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    copy_keys(source, target)
    real = restore_logic._reset_sequences

    def fail(connection, tables):
        raise OperationalError("SELECT setval(...)", {}, RuntimeError("the server went away"))

    monkeypatch.setattr(restore_logic, "_reset_sequences", fail)
    failed = target.run("restore", str(out))
    assert failed.exit_code == 1
    assert "loading the rows failed, nothing was restored" in failed.output
    assert target.is_empty()  # no row, and the blobs copied before were removed again

    monkeypatch.setattr(restore_logic, "_reset_sequences", real)
    again = target.run("restore", str(out))
    assert again.exit_code == 0, again.output
    assert target.run("custody", "verify").exit_code == 0
    assert target.run("scrub").exit_code == 0


def test_a_backup_restores_into_the_other_database_and_store(request, source, tmp_path, kind):
    """SQLite + local folder into PostgreSQL + S3, and the other way round; with an incident
    (its day and coordinates are columns of kinds of their own)."""
    database = source.database()
    with database.session() as session:
        record_incident(session, accounts.find_by_email(session, LEAD), uuid.UUID(source.case_id))
    database.engine.dispose()
    checkpoint = source.run("custody", "checkpoint")
    assert checkpoint.exit_code == 0, checkpoint.output
    source.checkpoint = checkpoint.output
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    if kind == "local":
        databases = create_database("postgresql", tmp_path)  # skips without PostgreSQL
        other = _instance(request, tmp_path / "other", next(databases), "s3")
    else:
        databases = iter(())
        other = _instance(
            request, tmp_path / "other", f"sqlite:///{tmp_path / 'other.sqlite3'}", "local"
        )
    try:
        copy_keys(source, other)
        restored = other.run("restore", str(out))
        assert restored.exit_code == 0, restored.output
        assert other.run("custody", "verify").exit_code == 0
        assert other.run("scrub").exit_code == 0
        assert latest_checkpoint(other) == source.checkpoint
        assert len(download_all(other)) == 4
        assert incident_as_stored(other) == incident_as_stored(source) == (
            "Burning of Tula Toli", dt.date(2017, 8, 30), 20.94, 92.39,
            [IncidentCategory.ARSON_DESTRUCTION], ["33rd Light Infantry Division"], 1)
    finally:
        next(databases, None)


def test_a_rewritten_custody_history_is_refused_even_with_a_matching_inventory(
    source, target, tmp_path
):
    """Someone edits an entry and rewrites the inventory and its hash to match: the files
    check out, but the restored log does not verify, and nothing is restored."""
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    inventory = json.loads((out / "inventory.json").read_text())
    (table,) = [t for t in inventory["tables"] if t["name"] == "custody_entries"]
    path = out / table["file"]
    lines = path.read_text().splitlines()
    entry = json.loads(lines[3])
    entry["actor_label"] = "someone else"
    lines[3] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    for listed in inventory["files"]:
        if listed["path"] == table["file"]:
            listed["size"] = path.stat().st_size
            listed["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    text = json.dumps(inventory, indent=1, sort_keys=True) + "\n"
    (out / "inventory.json").write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (out / "inventory.sha256").write_text(f"{digest}  inventory.json\n")

    copy_keys(source, target)
    refused = target.run("restore", str(out))
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines()[-1] == (
        "casefile: the backup's custody log does not verify: entry 3: its fields do not hash "
        "to its recorded leaf hash; nothing was restored"
    )
    assert target.is_empty()


def test_a_resumable_upload_in_progress_carries_on_after_the_restore(source, target, tmp_path):
    """Its encrypted chunks are in the backup: after the restore the upload takes its last
    bytes and becomes an item whose content is exactly what was sent."""
    first, rest = b"First half of a long video file. " * 100, b"And the second half." * 100

    def tus_step(instance: Instance, step):
        database = instance.database()
        keyring = Keyring.load(instance.instance / "kek.json")
        try:
            with database.session() as session:
                lead = accounts.find_by_email(session, LEAD)
                return step(session, lead, keyring)
        finally:
            database.engine.dispose()

    def start(session, lead, keyring):
        upload = tus.create(
            session, lead, uuid.UUID(source.case_id), length=len(first) + len(rest),
            metadata={"filename": "video.bin"}, max_size=1 << 30, store=source.store,
            keyring=keyring,
        )  # fmt: skip
        tus.receive(
            session, lead, upload.id, offset=0, body=io.BytesIO(first),
            content_length=len(first), checksum=None, store=source.store, keyring=keyring,
        )  # fmt: skip
        return upload.id

    upload_id = tus_step(source, start)
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    inventory = json.loads((out / "inventory.json").read_text())
    assert sum(path["path"].startswith("blobs/") for path in inventory["files"]) == 4

    copy_keys(source, target)
    assert target.run("restore", str(out)).exit_code == 0
    assert target.run("scrub").exit_code == 0  # the chunk is the upload's, not an orphan

    def finish(session, lead, keyring):
        return tus.receive(
            session, lead, upload_id, offset=len(first), body=io.BytesIO(rest),
            content_length=len(rest), checksum=None, store=target.store, keyring=keyring,
        ).evidence_id  # fmt: skip

    item_id = tus_step(target, finish)
    (item,) = [item for item in target.items() if item.id == item_id]
    assert item.sha256 == hashlib.sha256(first + rest).hexdigest()
    assert item.ern in download_all(target)
    assert target.run("custody", "verify").exit_code == 0


def rewrite_inventory(out: Path, inventory: dict, changed: list[str]) -> None:
    """Recompute the listed files' sizes and hashes, then the inventory's own hash."""
    for listed in inventory["files"]:
        if listed["path"] in changed:
            data = (out / listed["path"]).read_bytes()
            listed["size"], listed["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    text = json.dumps(inventory, indent=1, sort_keys=True) + "\n"
    (out / "inventory.json").write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (out / "inventory.sha256").write_text(f"{digest}  inventory.json\n")


def test_a_backup_of_an_older_schema_is_loaded_at_its_revision_then_upgraded(
    source, target, tmp_path, kind
):
    """A backup taken before evidence.content_id existed (revision 1e75cb9b9107): restore
    creates that schema, loads the rows as they were, then migrates to the latest."""
    out = tmp_path / "backup"
    assert source.run("backup", str(out)).exit_code == 0
    inventory = json.loads((out / "inventory.json").read_text())
    tables = {t["name"]: t for t in inventory["tables"]}

    def rewrite(name, change):
        table = tables[name]
        rows = [json.loads(line) for line in (out / table["file"]).read_text().splitlines()]
        rows = [row for row in map(change, rows) if row is not None]
        table["rows"] = len(rows)
        (out / table["file"]).write_text("".join(json.dumps(row) + "\n" for row in rows))
        return table["file"]

    # As that schema had it. Evidence: no content_id, and no item sharing another's blob (the
    # lawyer's resubmission came with the next revision), no sealed metadata (restricted
    # items' fields were plain then: here they keep their placeholders); the custody log
    # stays as it is.
    def evidence(row):
        row.pop("sealed_metadata")
        row.pop("extracted_text")  # search came later still
        for later_column in ("language", "derived_from_id", "derivation", "page_count"):
            assert row.pop(later_column) is None  # filings and derivatives came later
        return row if row.pop("content_id") is None else None

    def tus_uploads(row):
        row.pop("sealed_fields")
        return row

    # Users: the lockout columns, no wrapped TOTP secret (sessions came with a later revision),
    # no forced password change (administrators' resets came later still).
    def users(row):
        assert row.pop("totp_secret_wrapped") is None
        assert row.pop("password_must_change") is False
        return {**row, "failed_logins": 0, "locked_until": None}

    changed = [rewrite("evidence", evidence), rewrite("users", users),
               rewrite("tus_uploads", tus_uploads)]
    for table, column in (("evidence", "content_id"), ("evidence", "sealed_metadata"),
                          ("evidence", "extracted_text"),
                          ("users", "totp_secret_wrapped"), ("users", "password_must_change"),
                          ("tus_uploads", "sealed_fields"), ("evidence", "language"),
                          ("evidence", "derived_from_id"), ("evidence", "derivation"),
                          ("evidence", "page_count")):
        del tables[table]["columns"][column]
    tables["users"]["columns"].update(failed_logins="int", locked_until="datetime")
    later = {"login_sessions", "blind_index_keys", "evidence_index_tokens", "recovery_codes",
             "search_documents", "search_bodies", "search_blind_terms",
             "filings", "exhibits"}
    files = {tables.pop(name)["file"] for name in later}
    inventory["tables"] = [t for t in inventory["tables"] if t["name"] not in later]
    inventory["files"] = [f for f in inventory["files"] if f["path"] not in files]
    for name in files:
        (out / name).unlink()
    inventory["schema_revision"] = "1e75cb9b9107"
    rewrite_inventory(out, inventory, changed)
    if kind == "s3":  # the PostgreSQL target was made at the latest schema: take it away
        engine = target.database().engine
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection=connection), "base")
        engine.dispose()

    copy_keys(source, target)
    restored = target.run("restore", str(out))
    assert restored.exit_code == 0, restored.output
    engine = target.database().engine
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    assert current == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert [item.content_id for item in target.items()] == [None] * 4
    assert target.run("custody", "verify").exit_code == 0
    assert target.run("scrub").exit_code == 0
    assert len(download_all(target)) == 3


def test_a_kek_from_the_environment_is_used_and_never_written(source, target, tmp_path):
    out = tmp_path / "backup"
    assert source.run("backup", str(out), "--with-keys", stdin=PASSPHRASE + "\n").exit_code == 0
    target.env["CASEFILE_KEK"] = (source.instance / "kek.json").read_text()
    restored = target.run("restore", str(out), stdin=PASSPHRASE + "\n")
    assert restored.exit_code == 0, restored.output
    assert not (target.instance / "kek.json").exists()
    assert (target.instance / "custody_signing_key.pem").exists()
    assert target.run("scrub").exit_code == 0


def test_a_different_kek_in_the_environment_is_refused(source, target, tmp_path):
    out = tmp_path / "backup"
    assert source.run("backup", str(out), "--with-keys", stdin=PASSPHRASE + "\n").exit_code == 0
    other = tmp_path / "other-kek.json"
    Keyring.create_file(other)
    target.env["CASEFILE_KEK"] = other.read_text()
    refused = target.run("restore", str(out), stdin=PASSPHRASE + "\n")
    assert refused.exit_code == 1
    assert "cannot unwrap the data key of item" in refused.output
    assert target.is_empty() and not (target.instance / "custody_signing_key.pem").exists()
