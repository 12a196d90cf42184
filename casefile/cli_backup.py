"""`casefile backup` and `casefile restore`. Registered on the main group by casefile.cli;
they call casefile.logic.backup only."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click
from alembic.script import ScriptDirectory

from casefile.cli import CasefileError, _app, _keys, _settings, main, one_line_errors
from casefile.db import Database
from casefile.logic.backup import keys_export
from casefile.logic.backup import restore as restore_logic
from casefile.logic.backup.inventory import read_inventory
from casefile.logic.backup.snapshot import make_backup
from casefile.schema import alembic_config
from casefile.vault.blobstore import open_store
from casefile.vault.envelope import KeyringError, KeyringSource

NO_KEYS_WARNING = (
    "casefile: WARNING: this backup holds no key. It cannot be restored without this "
    "instance's key-encryption key ({kek}) and custody signing key ({signing}): keep copies "
    "of both, apart from the backup."
)
KEYS_WARNING = (
    "casefile: WARNING: this backup holds the instance's keys, sealed under your passphrase. "
    "Anyone with the backup and the passphrase can read every item in it, restricted ones "
    "included: keep the passphrase apart from the backup, and never lose it."
)


def _read_passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> str:
    """From the file's first line; else asked for on a terminal (twice when setting it), or
    the first line of standard input."""
    if passphrase_file is not None:
        lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        passphrase = lines[0] if lines else ""
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("Backup passphrase: ")
        if confirm and passphrase != getpass.getpass("Repeat the passphrase: "):
            raise CasefileError("the passphrases do not match")
    else:
        passphrase = sys.stdin.readline().rstrip("\r\n")
    if not passphrase:
        raise CasefileError("no passphrase (give it on standard input or with --passphrase-file)")
    return passphrase


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--with-keys",
    is_flag=True,
    help="Also write the KEK, the custody signing key and the secret key, sealed under a "
    "passphrase (standard input, or --passphrase-file).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the passphrase for --with-keys from the first line of this file.",
)
@click.pass_context
@one_line_errors
def backup(ctx: click.Context, out: Path, with_keys: bool, passphrase_file: Path | None) -> None:
    """Write a consistent backup of the instance into the new folder OUT while it serves:
    the database (one snapshot), the blobs its items use (still encrypted), the latest signed
    checkpoint, and inventory.json with every file's SHA-256."""
    if passphrase_file is not None and not with_keys:
        raise CasefileError("--passphrase-file goes with --with-keys")
    settings = _settings(ctx)
    app = _app(ctx)
    verifier = _keys(app).verifier_key
    keys = None
    passphrase = None
    if with_keys:
        passphrase = _read_passphrase(passphrase_file, confirm=True)
        source: KeyringSource = app.extensions["casefile.keyring"]
        try:
            kek = source.get().to_text()
        except KeyringError as error:
            raise CasefileError(str(error)) from None
        secret = settings.secret_key_path
        keys = keys_export.Keys(
            kek=kek,
            signing_key_pem=settings.signing_key_path.read_text(),
            secret_key=secret.read_text().strip() if secret.exists() else None,
        )
    database: Database = app.extensions["casefile.db"]
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        with click.progressbar(length=0, label="copying blobs", file=sys.stderr) as bar:
            report = make_backup(
                database,
                app.extensions["casefile.blobs"],
                out,
                schema_revision=str(head),
                verifier_key=verifier,
                keys=keys,
                passphrase=passphrase,
                on_blob=bar.update,
            )
    finally:
        database.engine.dispose()
    rows = sum(report.tables.values())
    checkpoint = report.checkpoint["size"] if report.checkpoint else "none"
    click.echo(
        f"backup written to {out}: {rows} rows in {len(report.tables)} tables, "
        f"{report.blobs} blobs ({report.blob_bytes} bytes), latest checkpoint {checkpoint}, "
        f"inventory SHA-256 {report.inventory_sha256}"
    )
    for blob_id in report.missing:
        click.echo(
            f"casefile: blob {blob_id} was gone from the store before it was copied "
            "(its item deleted meanwhile?); recorded as missing in the inventory",
            err=True,
        )
    if with_keys:
        click.echo(KEYS_WARNING, err=True)
    else:
        kek = "CASEFILE_KEK" if settings.kek_text else str(settings.kek_path)
        click.echo(NO_KEYS_WARNING.format(kek=kek, signing=settings.signing_key_path), err=True)


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The passphrase of a backup with keys, on the first line (default: standard input).",
)
@click.pass_context
@one_line_errors
def restore(ctx: click.Context, source: Path, passphrase_file: Path | None) -> None:
    """Restore the backup in SOURCE into this instance, whose database and blob store must be
    empty. Every file is checked against the inventory first; the restored custody log is
    verified and its latest checkpoint compared with the backup's."""
    settings = _settings(ctx)
    inventory = read_inventory(source)
    passphrase = _read_passphrase(passphrase_file) if inventory.get("keys") else None
    settings.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = Database.from_url(settings.database_url)
    target = restore_logic.Target(
        database=database,
        store=open_store(settings.storage_url, settings),
        instance_path=settings.instance_path,
        kek_text=settings.kek_text,
        kek_path=settings.kek_path,
        signing_key_path=settings.signing_key_path,
        secret_key_path=settings.secret_key_path,
        custody_origin=settings.custody_origin,
    )
    try:
        total = int(inventory["blobs"]["bytes"])
        with click.progressbar(length=total, label="copying blobs", file=sys.stderr) as bar:
            report = restore_logic.restore(
                target, source, inventory, passphrase=passphrase, on_blob=bar.update
            )
    finally:
        database.engine.dispose()
    rows = sum(report.tables.values())
    click.echo(
        f"restored {rows} rows, {report.blobs} blobs; {report.data_keys_checked} data keys "
        f"unwrap; custody log verified at checkpoint {report.checkpoint_size}"
    )
    for path in report.keys_installed:
        click.echo(f"installed {path} (mode 600)")
    for blob_id in report.missing:
        click.echo(f"casefile: blob {blob_id} was missing when the backup was made", err=True)
    click.echo("next: `casefile custody verify` and `casefile scrub`")
