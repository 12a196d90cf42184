"""`casefile restore`: a backup into an empty instance.

In this order, so that a refusal changes nothing: the inventory and every file are checked
against their SHA-256 (inventory.read_inventory, by the caller); the keys are settled (the
backup's, unsealed with the passphrase, or the instance's own) and the KEK must unwrap every
item's data key; the database and the store must be empty. Then the schema is created at the
backup's revision, the blobs are copied into the store and the rows are loaded in one
transaction, which commits only if the custody log it holds verifies under the backup's
verifier key and ends at the backup's checkpoint (a failure rolls it back and removes the
copied blobs again). Last, the schema is brought to the latest revision and the keys are
installed.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, MetaData, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import casefile.model  # noqa: F401 - registers every table on Base.metadata
from casefile.db import Base, Database
from casefile.logic.backup import KEYS_FILE, BackupError, blob_path, keys_export, rows
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import proofs as custody_proofs
from casefile.logic.custody.verify import VerifyReport, verify_log
from casefile.schema import alembic_config
from casefile.vault.blobstore import BlobStore, BlobStoreError
from casefile.vault.envelope import Keyring, KeyringError
from casefile.verifier import merkle
from casefile.verifier.signed_note import verifier_key

BATCH = 1000
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Target:
    """The instance restored into, as configured."""

    database: Database
    store: BlobStore
    instance_path: Path
    kek_text: str | None  # CASEFILE_KEK: then no KEK file is written
    kek_path: Path
    signing_key_path: Path
    secret_key_path: Path
    custody_origin: str


@dataclass
class RestoreReport:
    tables: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    missing: list[str] = field(default_factory=list)  # missing already when backed up
    keys_installed: list[str] = field(default_factory=list)
    data_keys_checked: int = 0
    checkpoint_size: int | None = None
    verify: VerifyReport | None = None


def restore(
    target: Target,
    root: Path,
    inventory: dict[str, Any],
    *,
    passphrase: str | None = None,
    on_blob: Callable[[int], None] | None = None,
) -> RestoreReport:
    """Restore the backup at `root`, whose `inventory` read_inventory has checked."""
    report = RestoreReport(missing=list(inventory["blobs"]["missing"]))
    revision = _known_revision(inventory["schema_revision"])
    bundle = _unseal(root, inventory, passphrase)
    try:
        keyring = _settle_keys(target, inventory, bundle)
    except KeyringError as error:
        raise BackupError(str(error)) from None
    report.data_keys_checked = _check_data_keys(root, inventory, keyring)
    _refuse_unless_empty(target)
    _create_schema(target.database, revision)
    copied = _copy_blobs(target.store, root, inventory, on_blob)
    try:
        report.tables, report.checkpoint_size, report.verify = _load_rows(
            target.database, root, inventory
        )
    except BaseException:
        for blob_id in copied:
            target.store.delete(blob_id)
        raise
    report.blobs = len(copied)
    _upgrade_to_head(target.database)
    report.keys_installed = _install_keys(target, bundle)
    return report


# --- before anything changes ------------------------------------------------------------------


def _known_revision(revision: str) -> str:
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this version of Casefile "
            "(made by a newer one?)"
        )
    return revision


def _unseal(
    root: Path, inventory: dict[str, Any], passphrase: str | None
) -> keys_export.Keys | None:
    if not inventory.get("keys"):
        return None
    if passphrase is None:
        raise BackupError("this backup holds keys: its passphrase is needed")
    return keys_export.unseal((root / KEYS_FILE).read_bytes(), passphrase)


def _settle_keys(
    target: Target, inventory: dict[str, Any], bundle: keys_export.Keys | None
) -> Keyring:
    """The KEK to restore with; refuses keys that would not fit the backup."""
    expected = inventory["verifier_key"]
    origin = expected.split("+", 1)[0]
    if origin != target.custody_origin:
        raise BackupError(
            f"the backup's custody log is signed as {origin!r} but this instance's "
            f"custody.origin is {target.custody_origin!r}: configure the same origin"
        )
    _settle_signing_key(target, origin, expected, bundle)
    return _settle_kek(target, bundle)


def _settle_signing_key(
    target: Target, origin: str, expected: str, bundle: keys_export.Keys | None
) -> None:
    if bundle is not None:
        backup_key = _private_key(bundle.signing_key_pem.encode(), "the backup's signing key")
        if verifier_key(origin, backup_key.public_key()) != expected:
            raise BackupError("the backup's signing key does not match its verifier key")
    if target.signing_key_path.exists():
        own = _private_key(target.signing_key_path.read_bytes(), str(target.signing_key_path))
        if verifier_key(origin, own.public_key()) != expected:
            raise BackupError(
                f"{target.signing_key_path} is not the backup's custody signing key: "
                "restore into an instance folder without one"
                + ("" if bundle is not None else ", or put the source instance's key there")
            )
    elif bundle is None:
        raise BackupError(
            "this backup holds no keys: put the source instance's custody signing key at "
            f"{target.signing_key_path} and configure its key-encryption key"
        )


def _settle_kek(target: Target, bundle: keys_export.Keys | None) -> Keyring:
    if target.kek_text is not None:
        return Keyring.from_text(target.kek_text)
    if target.kek_path.exists():
        text_ = target.kek_path.read_text()
        if bundle is not None and text_.strip() != bundle.kek.strip():
            raise BackupError(
                f"{target.kek_path} is not the backup's key-encryption key: "
                "restore into an instance folder without one"
            )
        return Keyring.from_text(text_)
    if bundle is None:
        raise BackupError(
            "this backup holds no keys: configure the source instance's key-encryption key "
            f"(CASEFILE_KEK, CASEFILE_KEK_FILE or {target.kek_path})"
        )
    return Keyring.from_text(bundle.kek)


def _private_key(pem: bytes, what: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as error:
        raise BackupError(f"{what} is not a private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BackupError(f"{what} is not an Ed25519 key")
    return key


def _table_lines(root: Path, table: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with (root / table["file"]).open(encoding="utf-8") as handle:
        yield from rows.decode_rows(handle, table["columns"], table["file"])


def _check_data_keys(root: Path, inventory: dict[str, Any], keyring: Keyring) -> int:
    """Every item that still has a data key: the KEK unwraps it (bound to the item's id)."""
    checked = 0
    for table in inventory["tables"]:
        if table["name"] != "evidence":
            continue
        for row in _table_lines(root, table):
            if row["wrapped_key"] is None:
                continue  # deleted: its key was destroyed
            try:
                keyring.unwrap(row["wrapped_key"], row["id"].bytes)
            except KeyringError as error:
                raise BackupError(
                    f"the key-encryption key cannot unwrap the data key of item {row['id']}: "
                    f"{error}"
                ) from None
            checked += 1
    return checked


def _refuse_unless_empty(target: Target) -> None:
    engine = target.database.engine
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        for table in Base.metadata.sorted_tables:
            if (
                table.name in present
                and connection.execute(select(func.count()).select_from(table)).scalar()
            ):
                raise BackupError(
                    f"the database is not empty (table {table.name} has rows): "
                    "restore only into a new instance"
                )
    if next(iter(target.store.blob_ids()), None) is not None:
        raise BackupError("the blob store is not empty: restore only into a new instance")


def _create_schema(database: Database, revision: str) -> None:
    with database.engine.begin() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current is None:
            command.upgrade(alembic_config(connection=connection), revision)
        elif current != revision:
            raise BackupError(
                f"the database's schema is at revision {current}, the backup's at {revision}: "
                "restore into a new database (restore creates the schema)"
            )


# --- the data -------------------------------------------------------------------------------


def _copy_blobs(
    store: BlobStore,
    root: Path,
    inventory: dict[str, Any],
    on_blob: Callable[[int], None] | None,
) -> list[str]:
    copied: list[str] = []
    try:
        for entry in inventory["files"]:
            path = entry["path"]
            if not path.startswith("blobs/"):
                continue
            blob_id = _blob_id(path)
            writer = store.writer(blob_id)
            try:
                with (root / path).open("rb") as source:
                    while chunk := source.read(COPY_CHUNK):
                        writer.write(chunk)
                writer.commit()
            except BaseException:
                writer.abort()
                raise
            copied.append(blob_id)
            if on_blob is not None:
                on_blob(entry["size"])
    except BaseException as error:
        for blob_id in copied:
            store.delete(blob_id)
        if isinstance(error, BlobStoreError):
            raise BackupError(f"copying blobs into the store failed: {error}") from None
        raise
    return copied


def _blob_id(path: str) -> str:
    blob_id = path.rsplit("/", 1)[1]
    if path != blob_path(blob_id):
        raise BackupError(f"{path}: not where a blob belongs")
    return blob_id


def _load_rows(
    database: Database, root: Path, inventory: dict[str, Any]
) -> tuple[dict[str, int], int | None, VerifyReport]:
    """Every table's rows, in the backup's (foreign-key) order, in one transaction. The
    append-only tables take them: they refuse changes, not inserts. The transaction commits
    only once the custody log it holds verifies (_check_log)."""
    counts: dict[str, int] = {}
    metadata = MetaData()
    try:
        with database.engine.begin() as connection:
            for table in inventory["tables"]:
                counts[table["name"]] = _insert_table(connection, root, table, metadata)
            _reset_sequences(connection, set(counts))
            with Session(bind=connection) as session:  # in the loading transaction
                size, report = _check_log(session, inventory)
    except SQLAlchemyError as error:
        raise BackupError(f"loading the rows failed, nothing was restored: {error}") from None
    except BackupError as error:
        raise BackupError(f"{error}; nothing was restored") from None
    return counts, size, report


def _insert_table(
    connection: Connection, root: Path, table: dict[str, Any], metadata: MetaData
) -> int:
    loading = rows.loading_table(table["name"], table["columns"], metadata)
    lines = _table_lines(root, table)
    count = 0
    while batch := list(itertools.islice(lines, BATCH)):
        connection.execute(loading.insert(), batch)
        count += len(batch)
    if count != table["rows"]:
        raise BackupError(
            f"{table['file']}: {count} rows where the inventory lists {table['rows']}"
        )
    return count


def _reset_sequences(connection: Connection, tables: set[str]) -> None:
    """PostgreSQL: generated ids carry on after the restored ones."""
    if connection.dialect.name != "postgresql":
        return  # SQLite's rowid follows the largest id by itself
    for table in Base.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None or table.name not in tables:
            continue
        latest = func.max(column)
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        connection.execute(
            select(func.setval(sequence, func.coalesce(latest, 1), latest.is_not(None)))
        )


def _upgrade_to_head(database: Database) -> None:
    """Migrate the loaded rows to the latest schema. On SQLite, Alembic's batch mode rebuilds
    a table by copying it and dropping the old one, which foreign keys from other tables'
    rows refuse: they are switched off for the migration (SQLite's documented procedure for
    altering tables) and every reference is checked before the result is committed."""
    with database.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where SQLite honours it
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                command.upgrade(alembic_config(connection=connection), "head")
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise BackupError(
                            f"after migrating, table {broken[0]} refers to a missing "
                            f"{broken[2]} row"
                        )
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _install_keys(target: Target, bundle: keys_export.Keys | None) -> list[str]:
    """Write the backup's keys where they are missing (those present were checked to be the
    same); a Flask secret key is made if there is none."""
    installed: list[str] = []
    target.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if bundle is not None:
        if target.kek_text is None and _write_new(target.kek_path, bundle.kek):
            installed.append(str(target.kek_path))
        if _write_new(target.signing_key_path, bundle.signing_key_pem):
            installed.append(str(target.signing_key_path))
        if bundle.secret_key and _write_new(target.secret_key_path, bundle.secret_key + "\n"):
            installed.append(str(target.secret_key_path))
    if _write_new(target.secret_key_path, secrets.token_urlsafe(48) + "\n"):
        installed.append(str(target.secret_key_path))
    return installed


def _write_new(path: Path, content: str) -> bool:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return True


# --- afterwards ---------------------------------------------------------------------------


def _check_log(session: Session, inventory: dict[str, Any]) -> tuple[int | None, VerifyReport]:
    """The restored log verifies under the backup's verifier key, and its latest checkpoint
    is the backup's, with the root the restored entries give at that size; else nothing is
    restored."""
    expected = inventory.get("checkpoint")
    report = verify_log(session, inventory["verifier_key"])
    if report.mismatch is not None:
        raise BackupError(f"the backup's custody log does not verify: {report.mismatch}")
    latest = custody_checkpoints.latest_checkpoint(session)
    if expected is None:
        if latest is not None:
            raise BackupError("the backup's log has a checkpoint its inventory does not record")
        return None, report
    if latest is None or latest.size != expected["size"] or latest.note != expected["note"]:
        raise BackupError("the backup's latest checkpoint is not the one its inventory records")
    size = int(expected["size"])
    root = custody_proofs.with_stored_nodes(
        session, lambda get: merkle.root_at(size, get) if size else merkle.EMPTY_ROOT
    )
    if root.hex() != expected["root"]:
        raise BackupError("the backup's entries do not give its checkpoint's root")
    return size, report
