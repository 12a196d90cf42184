"""`casefile export FILING -o OUT` (a filing's court bundle, through the same job the web
page and the API run) and `casefile worker` (a huey consumer for separate worker processes,
the queue in Redis). Registered on the main group by casefile.cli."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import sys
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path

import click

from casefile import jobs as queue
from casefile.cli import CasefileError, _account, _app, _keys, _session, main, one_line_errors
from casefile.cli_bundle import AGE_OPTION, age_output
from casefile.cli_vault import _keyring_errors_in_one_line, _vault
from casefile.logic.export import jobs as export_jobs
from casefile.model import ExportStatus


def _progress_line(done: int, total: int, stage: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"\rexport: {done}/{total} exhibits ({stage})   ", err=True, nl=False)
    else:
        click.echo(f"export: {done}/{total} exhibits ({stage})", err=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_out(chunks: Iterable[bytes], out: Path, *, as_zip: bool) -> None:
    """The zip to OUT, or unpacked into the folder OUT: written under a hidden temporary
    name beside it and renamed last, so an interrupted copy never looks complete."""
    partial = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        zipped = partial / "bundle.zip"
        with zipped.open("xb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if as_zip:
            zipped.rename(out)
        else:
            unpacked = partial / "bag"
            with zipfile.ZipFile(zipped) as archive:
                [top] = {name.split("/")[0] for name in archive.namelist()}
                archive.extractall(unpacked)
            _fsync(unpacked / top)
            (unpacked / top).rename(out)
        _fsync(out.parent)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


@main.command("export")
@click.argument("filing_id", type=click.UUID)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Where to write the bundle: a folder, or a zip with --zip (must not exist).")
@click.option("--as", "as_email", required=True,
              help="Account that exports (may edit the case's filings, sees every exhibit).")
@click.option("--zip", "as_zip", is_flag=True, help="Write the bag as one zip file.")
@AGE_OPTION
@click.pass_context
@one_line_errors
def export_command(  # noqa: PLR0917 - one parameter per option
    ctx: click.Context, filing_id: uuid.UUID, out: Path, as_email: str, as_zip: bool,
    age_recipients: tuple[str, ...],
) -> None:
    """Export filing FILING_ID as a court bundle, running the same job as the web page and
    the API (here, in this process): a checkpoint signed first, the exhibits in order read
    verified, an `exported` custody entry per exhibit; then the bundle is copied to OUT (a
    `downloaded` entry per exhibit) and its path and tag-manifest SHA-256 printed. With
    --age-recipient the stored zip is encrypted to those keys and OUT(.age) is that file."""
    out = age_output(out, age_recipients, as_zip=as_zip).absolute()
    if out.exists() or out.is_symlink():
        raise CasefileError(f"{out} exists already: give a new name")
    if not out.parent.is_dir():
        raise CasefileError(f"{out.parent} is not a folder")
    app = _app(ctx)
    keys = _keys(app)
    store, source = _vault(app)
    with _session(ctx, app) as session:
        actor = _account(session, as_email)
        export = _keyring_errors_in_one_line(export_jobs.request_export)(
            session, actor, filing_id, store=store, keyring=source.get(),
            age_recipients=age_recipients,
        )
        for warning in export_jobs.warnings_of(export):
            exhibits = f" ({', '.join(warning['exhibits'])})" if warning["exhibits"] else ""
            click.echo(f"casefile: warning: {warning['message']}{exhibits}", err=True)
        status = export_jobs.run_export(
            session, export.id, keys=keys, keyring=source.get(), store=store,
            on_progress=_progress_line,
        )
        if sys.stderr.isatty():
            click.echo("", err=True)
        export = export_jobs.get_export(session, actor, export.id)
        if status != ExportStatus.DONE:
            raise CasefileError(f"export {export.id} failed: {export.error}")
        _, chunks = export_jobs.open_download(
            session, actor, export.id, store=store, keyring=source.get()
        )
        _write_out(chunks, out, as_zip=as_zip)
    click.echo(f"bundle written: {out} (export {export.id}, {export.progress_total} exhibits; "
               f"tag manifest SHA-256 {export.tagmanifest_sha256})"
               + (f"; encrypted with age to {len(age_recipients)} recipient(s)"
                  if age_recipients else ""))


@main.command("worker")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32),
              help="Jobs run at once by this process (threads).")
@click.pass_context
@one_line_errors
def worker_command(ctx: click.Context, workers: int) -> None:
    """Run background jobs (filing exports) from the queue until stopped (SIGINT or
    SIGTERM: the job in hand finishes first). Exports left running by a stopped process are
    queued again at the start, and queued ones that have waited 2 minutes are enqueued
    again (their message may have been lost)."""
    app = _app(ctx)
    jobs = queue.jobs(app)
    consumer = jobs.consumer(workers=workers)
    stale = dt.timedelta(minutes=app.extensions["casefile.settings"].queue_stale_minutes)
    enqueued = jobs.recover(stale)
    click.echo(f"casefile worker: {jobs.queued_count()} exports queued ({len(enqueued)} "
               "enqueued again); waiting for jobs", err=True)
    consumer.run()
