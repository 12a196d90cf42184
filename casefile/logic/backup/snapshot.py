"""`casefile backup`: one consistent snapshot of the database, then the blobs it uses.

Every table is read within ONE read-only snapshot (Database.snapshot), so the rows, the
custody log and its latest checkpoint are of one moment; the instance keeps serving meanwhile
and whatever it commits after that moment is not in the backup. The blobs the snapshot's
active items (and resumable uploads) read from are then copied as they are stored: ciphertext,
never decrypted. A blob gone by then (its item deleted meanwhile) is recorded as missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

import casefile.model  # noqa: F401 - registers every table on Base.metadata
from casefile.db import Base, Database, utcnow
from casefile.logic.backup import (
    DATABASE_FOLDER,
    FORMAT,
    KEYS_FILE,
    BackupError,
    blob_path,
    keys_export,
    rows,
)
from casefile.logic.backup.inventory import FileRecord, HashingWriter, write_inventory
from casefile.vault.blobstore import BlobStore, BlobStoreError

YIELD_PER = 1000
COPY_CHUNK = 1 << 20

BlobDone = Callable[[int], None]  # bytes of the blob just copied


@dataclass
class BackupReport:
    folder: Path
    schema_revision: str
    taken_at: dt.datetime
    tables: dict[str, int] = field(default_factory=dict)  # rows per table
    blobs: int = 0
    blob_bytes: int = 0
    missing: list[str] = field(default_factory=list)  # blobs gone before they were copied
    checkpoint: dict[str, Any] | None = None
    keys_included: bool = False
    inventory_sha256: str = ""


@dataclass
class _Snapshot:
    files: list[FileRecord] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    blob_ids: set[str] = field(default_factory=set)
    checkpoint: dict[str, Any] | None = None
    log_size: int = 0


def prepare_folder(out: Path) -> None:
    """OUT must be new, or an empty folder: a backup never mixes with other files."""
    if out.exists():
        if not out.is_dir():
            raise BackupError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise BackupError(f"{out} is not empty: back up into a new folder")
        return
    try:
        out.mkdir(mode=0o700, parents=True)
    except OSError as error:
        raise BackupError(f"cannot create {out}: {error.strerror}") from None


def make_backup(
    database: Database,
    store: BlobStore,
    out: Path,
    *,
    schema_revision: str,
    verifier_key: str,
    keys: keys_export.Keys | None = None,
    passphrase: str | None = None,
    on_blob: BlobDone | None = None,
) -> BackupReport:
    if keys is not None and passphrase is None:
        raise BackupError("keys are exported only under a passphrase")
    # A short passphrase is refused before anything is written.
    sealed = keys_export.seal(keys, passphrase) if keys is not None and passphrase else None
    prepare_folder(out)
    report = BackupReport(folder=out, schema_revision=schema_revision, taken_at=utcnow())
    with database.snapshot() as session:
        found = _dump(session, out, schema_revision, report)
    for blob_id in sorted(found.blob_ids):
        record = _copy_blob(store, blob_id, out)
        if record is None:
            report.missing.append(blob_id)
            continue
        found.files.append(record)
        report.blobs += 1
        report.blob_bytes += record.size
        if on_blob is not None:
            on_blob(record.size)
    if sealed is not None:
        writer = HashingWriter(out, KEYS_FILE)
        writer.write(sealed)
        found.files.append(writer.finish())
        report.keys_included = True
    report.checkpoint = found.checkpoint
    inventory = {
        "format": FORMAT,
        "taken_at": report.taken_at.isoformat(),
        "schema_revision": schema_revision,
        "source_database": database.engine.dialect.name,
        "verifier_key": verifier_key,
        "log_size": found.log_size,
        "checkpoint": found.checkpoint,
        "tables": found.tables,
        "blobs": {"copied": report.blobs, "bytes": report.blob_bytes, "missing": report.missing},
        "keys": KEYS_FILE if sealed is not None else None,
        "files": [record.as_json() for record in found.files],
    }
    report.inventory_sha256 = write_inventory(out, inventory)
    return report


def _dump(session: Session, out: Path, schema_revision: str, report: BackupReport) -> _Snapshot:
    revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision != schema_revision:
        raise BackupError(
            f"the database schema is at {revision}, not {schema_revision}: run `casefile init`"
        )
    found = _Snapshot()
    for number, table in enumerate(Base.metadata.sorted_tables, start=1):
        name = f"{DATABASE_FOLDER}/{number:02d}-{table.name}.jsonl"
        count = _dump_table(session, table, out, name, found)
        report.tables[table.name] = count
    return found


def _dump_table(session: Session, table: Table, out: Path, name: str, found: _Snapshot) -> int:
    kinds = rows.kinds(table)
    writer = HashingWriter(out, name)
    count = 0
    result = session.execute(rows.rows_query(table), execution_options={"yield_per": YIELD_PER})
    for row in result.mappings():
        writer.write(rows.encode_row(row, kinds).encode() + b"\n")
        count += 1
        _note(table.name, row, found)
    found.files.append(writer.finish())
    found.tables.append({"name": table.name, "file": name, "rows": count, "columns": kinds})
    return count


def _note(table: str, row: Any, found: _Snapshot) -> None:
    """What the rest of the backup needs from the rows: blobs in use, the latest checkpoint."""
    if table == "evidence" and _value(row["status"]) == "active":
        found.blob_ids.add((row["content_id"] or row["id"]).hex)
    elif table == "tus_upload_chunks":
        found.blob_ids.add(row["blob_id"])
    elif table == "exports" and _value(row["status"]) == "done" and row["blob_id"]:
        found.blob_ids.add(row["blob_id"])  # a finished export's stored (encrypted) bundle
    elif table == "custody_entries":
        found.log_size = max(found.log_size, row["seq"] + 1)
    elif table == "custody_checkpoints" and (
        found.checkpoint is None or row["size"] > found.checkpoint["size"]
    ):
        found.checkpoint = {
            "size": row["size"],
            "root": bytes(row["root"]).hex(),
            "origin": row["origin"],
            "note": row["note"],
        }


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


def _copy_blob(store: BlobStore, blob_id: str, out: Path) -> FileRecord | None:
    """The stored bytes of the blob, as they are; None if it is no longer in the store."""
    relative = blob_path(blob_id)
    try:
        source = store.open(blob_id)
    except BlobStoreError as error:
        if not store.exists(blob_id):
            return None
        raise _incomplete(out, f"reading blob {blob_id} failed: {error}") from None
    writer = HashingWriter(out, relative)
    try:
        with source:
            while chunk := source.read(COPY_CHUNK):
                writer.write(chunk)
    except BaseException as error:
        writer.discard()
        (out / relative).unlink(missing_ok=True)
        if isinstance(error, BlobStoreError):
            raise _incomplete(out, f"reading blob {blob_id} failed: {error}") from None
        raise
    return writer.finish()


def _incomplete(out: Path, why: str) -> BackupError:
    return BackupError(f"{why}; {out} holds an incomplete backup (no inventory): remove it")
