"""`casefile` commands for the evidence vault: ingest, scrub, keys seal-restricted, reindex.
Registered on the main group by casefile.cli; they call the logic layer only."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
from flask import Flask
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from casefile.cli import (
    CasefileError,
    _account,
    _app,
    _session,
    keys_group,
    main,
    one_line_errors,
)
from casefile.logic.evidence import ingest as ingest_logic
from casefile.logic.evidence import metadata as metadata_logic
from casefile.logic.evidence import scrub as scrub_logic
from casefile.logic.search import index as search_index
from casefile.model import Case
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import KeyringError, KeyringSource

P = ParamSpec("P")
T = TypeVar("T")


class _CountColumn(ProgressColumn):
    """`12/40 files, 3.1 files/s` from the task's `count` and `of` fields."""

    def __init__(self, noun: str) -> None:
        super().__init__()
        self.noun = noun

    def render(self, task: Task) -> Text:
        count, total = task.fields.get("count", 0), task.fields.get("of", 0)
        elapsed = task.elapsed or 0.0
        rate = f" {count / elapsed:.1f}/s" if elapsed > 0 and count else ""
        return Text(f"{count}/{total} {self.noun}{rate}", style="progress.download", no_wrap=True)


def _progress(noun: str) -> Progress:
    """Files, bytes and rate on stderr (drawn live on a terminal, once at the end elsewhere)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        _CountColumn(noun),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _vault(app: Flask) -> tuple[BlobStore, KeyringSource]:
    source: KeyringSource = app.extensions["casefile.keyring"]
    try:
        source.get()
    except KeyringError as error:
        raise CasefileError(str(error)) from None
    return app.extensions["casefile.blobs"], source


def _keyring_errors_in_one_line(function: Callable[P, T]) -> Callable[P, T]:
    """The KEK can vanish or change mid-run (a rotation retiring a key): say so in one line."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except KeyringError as error:
            raise CasefileError(str(error)) from None

    return wrapper


# --- ingest ---------------------------------------------------------------------------------


@main.command()
@click.argument("case_id", type=click.UUID)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--as", "as_email", required=True, help="Account the items are added as.")
@click.option(
    "--sidecar",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Collector metadata: CSV (path or filename column, then field columns) or JSON "
    "(path or file name → object of fields).",
)
@click.pass_context
@one_line_errors
def ingest(
    ctx: click.Context,
    case_id: uuid.UUID,
    paths: tuple[Path, ...],
    as_email: str,
    sidecar: Path | None,
) -> None:
    """Add every file under PATH... to the case CASE_ID.

    Folders are walked recursively in sorted order; hidden files and symbolic links are left
    out. Files whose SHA-256 is already an item of the case are skipped, so running the same
    command again after an interruption finishes the rest. Sidecar fields: title, description,
    collected_at (ISO 8601 with a time zone), collected_by, location, lat, lon, source,
    original_url, capture_tool, language, sensitivity (standard or restricted), consent_notes,
    declared_hashes (md5:…,sha1:…) or md5 / sha1 / sha256 columns."""
    metadata = ingest_logic.load_sidecar(sidecar) if sidecar is not None else None
    plan = ingest_logic.plan(paths, metadata, exclude=sidecar)
    for path, why in plan.ignored:
        click.echo(f"casefile: left out {path} ({why})", err=True)
    for key in plan.unmatched:
        click.echo(f"casefile: sidecar entry {key} names no file here", err=True)
    app = _app(ctx)
    store, source = _vault(app)
    summary = ingest_logic.Summary()
    with _session(ctx, app) as session:
        actor = _account(session, as_email)
        ingest_logic.authorize(session, actor, case_id)  # before the bar: a refusal is one line
        try:
            with _progress("files") as progress:
                task = progress.add_task(
                    "ingesting", total=plan.total_bytes, count=0, of=len(plan.files)
                )

                def advance(count: int) -> None:
                    progress.advance(task, count)

                def done(outcome: ingest_logic.Outcome) -> None:
                    progress.update(task, count=progress.tasks[task].fields["count"] + 1)
                    if outcome.status == "failed":
                        progress.console.print(
                            f"casefile: failed {outcome.source.relative}: {outcome.reason}",
                            markup=False,
                            highlight=False,
                        )

                _keyring_errors_in_one_line(ingest_logic.ingest)(
                    session,
                    actor,
                    case_id,
                    plan.files,
                    store=store,
                    keyring=source.get,
                    summary=summary,
                    on_bytes=advance,
                    on_file=done,
                )
        except KeyboardInterrupt:
            click.echo(f"interrupted: {summary.line()}; run the same command again to finish")
            raise click.Abort from None
    click.echo(summary.line())
    if summary.failed:
        count = len(summary.failed)
        raise CasefileError(f"{count} file{'s' if count != 1 else ''} failed (reasons above)")


# --- scrub ----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--repair",
    is_flag=True,
    help="Remove orphan blobs and leftovers of interrupted writes (never the blob of an item).",
)
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Orphans and leftovers younger than this may be an intake in progress: they are "
    "listed, not counted, never removed.",
)
@click.pass_context
@one_line_errors
def scrub(ctx: click.Context, repair: bool, grace_minutes: int) -> None:
    """Re-read every item: decrypt, authenticate and hash it; check the database against the
    blob store. Exit 1 on any failure, missing blob, orphan or leftover."""
    app = _app(ctx)
    store, source = _vault(app)
    with _session(ctx, app) as session:
        items = scrub_logic.active_items(session)
        with _progress("items") as progress:
            task = progress.add_task(
                "scrubbing", total=sum(size for _, size in items), count=0, of=len(items)
            )

            def advance(size: int) -> None:
                progress.update(task, advance=size, count=progress.tasks[task].fields["count"] + 1)

            report = _keyring_errors_in_one_line(scrub_logic.scrub)(
                session,
                store=store,
                keyring=source.get,
                items=items,
                repair=repair,
                grace=dt.timedelta(minutes=grace_minutes),
                on_item=advance,
            )
    _print_report(report, repair=repair, grace_minutes=grace_minutes)
    if not report.passed:
        problems = []
        if report.failures:
            problems.append(f"{len(report.failures)} item(s) failed")
        if report.unrepaired:
            problems.append(
                f"{len(report.unrepaired)} orphan(s) or leftover(s)"
                + ("" if repair else ": `casefile scrub --repair` removes them")
            )
        raise CasefileError("scrub found problems: " + "; ".join(problems))


def _print_report(report: scrub_logic.ScrubReport, *, repair: bool, grace_minutes: int) -> None:
    for failure in report.failures:
        click.echo(
            f"FAILED {failure.ern} (item {failure.item_id}, case {failure.case_id}): "
            f"{failure.reason}"
        )
    for blob_id in report.orphans:
        click.echo(f"orphan blob {blob_id} (no active item)")
    for name in report.leftovers:
        click.echo(f"leftover {name} (an interrupted write)")
    for name in report.recent:
        click.echo(
            f"recent {name} (younger than {grace_minutes} min: may be an intake in "
            "progress; not counted, not removed)"
        )
    for name in report.removed:
        click.echo(f"removed {name}")
    if report.expired_uploads:
        click.echo(f"removed {report.expired_uploads} abandoned resumable upload(s)")
    for name, why in report.kept:
        click.echo(f"kept {name}: {why}")
    click.echo(
        f"scrub: {report.checked} items checked, {report.ok} ok, "
        f"{len(report.failures)} failed; {len(report.orphans)} orphan blobs, "
        f"{len(report.leftovers)} leftovers"
        + (f", {len(report.removed)} removed" if repair else "")
    )


# --- keys seal-restricted -------------------------------------------------------------------


@keys_group.command("seal-restricted")
@click.pass_context
@one_line_errors
def keys_seal_restricted(ctx: click.Context) -> None:
    """Seal the metadata of restricted items still stored in the clear (items from before
    sealing existed) under each item's data key, and index it blindly. Resumable; `casefile
    init` runs it too."""
    app = _app(ctx)
    _, source = _vault(app)
    with _session(ctx, app) as session:
        report = _keyring_errors_in_one_line(metadata_logic.seal_restricted)(session, source.get())
    click.echo(
        f"restricted items: {report.sealed} sealed, {report.wiped} deleted items' metadata removed"
    )


# --- reindex --------------------------------------------------------------------------------


@main.command()
@click.option("--case", "case_id", type=click.UUID, help="Only the items of this case.")
@click.pass_context
@one_line_errors
def reindex(ctx: click.Context, case_id: uuid.UUID | None) -> None:
    """(Re)build the search index of existing items and incidents (all, or one case's), a batch per
    transaction: rerun after an interruption and it does it all again. Restricted items are
    indexed blindly (the KEK opens their sealed metadata)."""
    app = _app(ctx)
    _, source = _vault(app)
    with _session(ctx, app) as session:
        if case_id is not None and session.get(Case, case_id) is None:
            raise CasefileError(f"no case {case_id}")
        total = search_index.documents_to_index(session, case_id)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        with progress:
            task = progress.add_task("indexing items and incidents", total=total)
            seen = _keyring_errors_in_one_line(search_index.reindex)(
                session,
                source.get(),
                case_id=case_id,
                progress=lambda count: progress.advance(task, count),
            )
    click.echo(f"search index rebuilt: {seen} items and incidents")
