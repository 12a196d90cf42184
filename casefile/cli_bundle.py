"""`casefile bundle` (a court bundle of chosen items, until filings bring `casefile export
FILING`) and `casefile verify-bundle` (offline: no database, no secret, no settings).
Registered on the main group by casefile.cli; they call casefile.logic and casefile.verifier."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import click

from casefile.bundle import age, warm
from casefile.bundle.writer import BundleError
from casefile.cli import CasefileError, _account, _app, _keys, _session, main, one_line_errors
from casefile.cli_vault import _keyring_errors_in_one_line, _vault
from casefile.logic.export import items as export_items
from casefile.verifier import bundle_verifier


def age_output(out: Path, age_recipients: Sequence[str], *, as_zip: bool) -> Path:
    """--age-recipient checked before anything is signed or written (it needs --zip, and
    every key must be an age public key); OUT with `.age` added if it lacks it."""
    if not age_recipients:
        return out
    if not as_zip:
        raise CasefileError("--age-recipient needs --zip: only a zip is encrypted")
    try:
        age.recipients_of(age_recipients)
    except age.BadRecipient as error:
        raise CasefileError(f"no bundle written: {error}") from None
    return out if out.name.endswith(age.SUFFIX) else out.with_name(out.name + age.SUFFIX)


AGE_OPTION = click.option(
    "--age-recipient", "age_recipients", multiple=True, metavar="AGE1...",
    help="Encrypt the zip to this age public key, for transport (repeatable; needs --zip): "
    "writes OUT.age, and no plaintext zip.")


@main.command("bundle")
@click.argument("case_id", type=click.UUID)
@click.argument("erns", nargs=-1, required=True)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="The bundle to write: a folder, or a zip with --zip (must not exist).")
@click.option("--as", "as_email", required=True, help="Account that exports (sees every item).")
@click.option("--zip", "as_zip", is_flag=True, help="Write the bag as one zip file.")
@AGE_OPTION
@click.option("--classification", default="public", show_default=True,
              type=click.Choice(["public", "confidential", "under_seal", "ex_parte"]))
@click.option("--title", help="The bundle's title (default: Exhibits from <case>).")
@click.option("--organization", help="Source-Organization in bag-info.txt (default: the "
              "custody log's origin).")
@click.pass_context
@one_line_errors
def bundle_command(  # noqa: PLR0917 - one parameter per option
    ctx: click.Context,
    case_id: uuid.UUID,
    erns: tuple[str, ...],
    out: Path,
    as_email: str,
    as_zip: bool,
    age_recipients: tuple[str, ...],
    classification: str,
    title: str | None,
    organization: str | None,
) -> None:
    """Write a court bundle of the items ERN... of case CASE_ID to OUT: a BagIt bag with the
    originals (read verified), stamped PDF renditions, the index, each item's custody report
    and the signed checkpoint; each item gets an `exported` custody entry naming it."""
    out = age_output(out, age_recipients, as_zip=as_zip)
    # The layout helpers import WeasyPrint on the other core while this process imports,
    # starts its application, authorizes and signs the checkpoint.
    warm.start()  # started as the process started (cli.py): a no-op then
    app = _app(ctx, http=False)  # it serves no request
    keys = _keys(app)
    store, source = _vault(app)
    with _session(ctx, app) as session:
        actor = _account(session, as_email)
        prepared = _keyring_errors_in_one_line(export_items.prepare)(
            session, actor, case_id, list(erns), keys=keys, keyring=source.get(), store=store,
            classification=classification, title=title, organization=organization,
        )
        try:
            written = export_items.export(session, actor, prepared, out, as_zip=as_zip,
                                          age_recipients=list(age_recipients))
        except BundleError as error:
            raise CasefileError(f"no bundle written: {error}") from None
    for warning in written.warnings:
        click.echo(f"casefile: {warning}", err=True)
    click.echo(
        f"bundle written: {written.path} ({written.exhibits} exhibits, "
        f"{written.payload_bytes:,} payload bytes; tag manifest SHA-256 "
        f"{written.tagmanifest_sha256})"
        + (f"; encrypted with age to {len(age_recipients)} recipient(s)" if age_recipients
           else "")
    )


@main.command("verify-bundle")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--key", help="The verifier key you trust (name+keyid+base64, a PEM public "
              "key, or a file holding one); default: only the key inside the bundle.")
def verify_bundle(path: Path, key: str | None) -> None:
    """Check a court bundle offline (its folder or zip): BagIt fixity, every exhibit against
    the index, the signature over the tag manifest, the checkpoint and every inclusion
    proof. Exit 1 naming each failure."""
    report = bundle_verifier.verify(path, key)
    bundle_verifier.print_report(report, click.echo)
    if not report.valid:
        first = report.problems[0]
        more = len(report.problems) - 1
        raise CasefileError(
            f"bundle does not verify: {first}" + (f" (and {more} more)" if more else "")
        )
