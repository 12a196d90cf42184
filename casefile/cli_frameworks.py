"""`casefile frameworks` commands: load a framework file (a national code for a universal
jurisdiction case, a new version of a shipped one) and list every version. Registered on the
main group by casefile.cli; they call the logic layer only."""

from __future__ import annotations

from pathlib import Path

import click

from casefile.cli import CasefileError, _session, main, one_line_errors
from casefile.logic.errors import DomainError
from casefile.logic.frameworks import registry
from casefile.logic.frameworks.document import MAX_BYTES


@main.group()
def frameworks() -> None:
    """Legal frameworks: the crimes and their elements that charges and the proof matrix use."""


@frameworks.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@one_line_errors
def load(ctx: click.Context, file: Path) -> None:
    """Validate FILE (docs/frameworks.md) and store it as a new version of its framework."""
    if file.stat().st_size > MAX_BYTES:
        raise CasefileError(f"{file}: larger than {MAX_BYTES // 1024 // 1024} MB")
    data = file.read_bytes()
    with _session(ctx) as session:
        try:
            framework = registry.load(session, None, data)
        except DomainError as error:  # the file's name on the one line of a refusal
            raise CasefileError(f"{file}: {error.message}") from None
    click.echo(
        f"loaded {framework.id} version {framework.version}: {framework.title} "
        f"({len(framework.crimes)} crimes and modes of liability, sha256 {framework.sha256})"
    )


@frameworks.command("list")
@click.pass_context
@one_line_errors
def list_frameworks(ctx: click.Context) -> None:
    """Every version of every framework: id, version, origin, crimes, title."""
    with _session(ctx) as session:
        for info in registry.versions(session):
            click.echo(f"{info.id}\t{info.version}\t{info.origin}\t{info.crimes}\t{info.title}")
