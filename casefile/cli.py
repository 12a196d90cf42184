"""The `casefile` command. Commands call the logic layer; none touches the database directly."""

from __future__ import annotations

import sys

from casefile.bundle import heap, warm

# `casefile bundle` starts its layout helpers now, before this module's imports (~0.9 s of
# CPU, one core): each readies its PDF writer on the other core meanwhile (bundle/warm.py).
if warm.runs_bundle(sys.argv):
    warm.start()
    heap.keep_freed_memory()  # its chunks' pages reused, not faulted in anew (bundle/heap.py)

import functools
import getpass
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casefile import failures, request_scope
from casefile.db import Database
from casefile.logic import retry
from casefile.logic.accounts import accounts, tokens
from casefile.logic.cases import cases
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import trusted as custody_trusted
from casefile.logic.custody import verify as custody_verify_logic
from casefile.logic.errors import Busy, DomainError, NotFound, ValidationFailed
from casefile.model import CustodyCheckpoint, Forum, User
from casefile.settings import Settings, SettingsError, load_settings
from casefile.vault import signing_key
from casefile.vault.blobstore import BlobStoreError
from casefile.vault.envelope import Keyring

F = TypeVar("F", bound=Callable[..., Any])


class CasefileError(click.ClickException):
    """A one-line reason on stderr and exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"casefile: {self.format_message()}", err=True, file=file)


def one_line_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationFailed as error:
            raise CasefileError("; ".join(f"{k}: {v}" for k, v in error.fields.items())) from None
        except (DomainError, SettingsError) as error:
            raise CasefileError(str(error)) from None
        except DBAPIError as error:
            if retry.is_busy(error):
                raise CasefileError(Busy().message) from None
            failure = failures.classify(error)
            if failure is not None:
                raise CasefileError(failure.message) from None
            raise
        except (OSError, BlobStoreError) as error:
            failure = failures.classify(error)
            if failure is not None:
                raise CasefileError(failure.message) from None
            raise

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
    ctx.obj = settings
    return settings


def _app(ctx: click.Context, *, http: bool = True) -> Flask:
    """The app; `http=False`: without its HTTP side (create_app), for a command that needs
    only the database, the keys and the store."""
    from casefile import create_app  # noqa: PLC0415 - only commands that need the app build it

    return create_app(_settings(ctx), http=http)


@contextmanager
def _session(
    ctx: click.Context, app: Flask | None = None, *, snapshot: bool = False
) -> Iterator[Session]:
    """The command's session; `snapshot`: a read-only view of one moment (Database.snapshot)."""
    app = app or _app(ctx)
    database: Database = app.extensions["casefile.db"]
    try:
        with (
            app.app_context(),
            database.snapshot() if snapshot else database.session() as (session),
        ):
            yield session
    finally:
        database.engine.dispose()  # a CLI command is one unit of work: close its connections


def _account(session: Session, email: str) -> User:
    user = accounts.find_by_email(session, email)
    if user is None:
        raise NotFound(f"no account with email {email}")
    return user


class OneLineGroup(click.Group):
    """Usage mistakes too end in one line on stderr, not a usage screen."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("casefile: aborted", err=True)
            sys.exit(1)
        except click.ClickException as error:
            message = error.format_message().splitlines()[0] if error.format_message() else ""
            click.echo(f"casefile: {message}", err=True)
            sys.exit(error.exit_code)


@click.group(cls=OneLineGroup)
@click.version_option(package_name="casefile")
def main() -> None:
    """Casefile: evidence vault and case-building tool."""


# --- instance -------------------------------------------------------------------------------


@main.command()
@click.pass_context
@one_line_errors
def init(ctx: click.Context) -> None:
    """Create the instance folder and keys, and bring the database schema up to date.
    Safe to run again: it creates only what is missing."""
    from casefile import schema  # noqa: PLC0415

    settings = _settings(ctx)
    instance = settings.instance_path
    if not instance.exists():
        instance.mkdir(mode=0o700, parents=True)
        click.echo(f"created instance folder {instance} (mode 700)")
    else:
        click.echo(f"instance folder {instance} exists")
    os.chmod(instance, 0o700)  # noqa: PTH101 - explicit about the mode it enforces
    if _write_secret(settings.secret_key_path, secrets.token_urlsafe(48)):
        click.echo(f"created secret key {settings.secret_key_path} (mode 600)")
    else:
        click.echo(f"secret key {settings.secret_key_path} exists")
    if settings.kek_text is None:
        if Keyring.create_file(settings.kek_path):
            click.echo(f"created key-encryption key {settings.kek_path} (mode 600)")
        else:
            click.echo(f"key-encryption key {settings.kek_path} exists")
    if signing_key.create(settings.signing_key_path):
        click.echo(f"created custody signing key {settings.signing_key_path} (mode 600)")
    else:
        click.echo(f"custody signing key {settings.signing_key_path} exists")
    storage = settings.storage_url
    if storage.startswith("file://"):
        folder = Path(storage.removeprefix("file://"))
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        click.echo(f"blob store {folder}")
    database = Database.from_url(
        settings.database_url, lock_timeout_ms=settings.lock_timeout_ms
    )
    with database.engine.begin() as connection:
        schema.upgrade(connection)
    click.echo(f"database schema up to date ({_redact(settings.database_url)})")
    try:
        _encrypt_plaintext_totp(settings, database)
        _seal_restricted(database, settings)
    finally:
        database.engine.dispose()


def _encrypt_plaintext_totp(settings: Settings, database: Database) -> None:
    """TOTP secrets stored in plain base32 before they were encrypted: encrypt them under the
    KEK now (an Alembic revision cannot: it never holds the KEK)."""
    from casefile.logic.accounts import totp_at_rest  # noqa: PLC0415

    keyring = (
        Keyring.from_text(settings.kek_text)
        if settings.kek_text is not None
        else Keyring.load(settings.kek_path)
    )
    if keyring is None:
        raise CasefileError(f"no key-encryption key at {settings.kek_path}")
    with database.sessions() as session:
        moved = totp_at_rest.encrypt_plaintext(session, keyring)
    if moved:
        click.echo(f"encrypted {moved} two-factor secrets stored in plain text before")


def _seal_restricted(database: Database, settings: Settings) -> None:
    """Restricted items from before sealing existed: seal their metadata now (init holds
    the KEK; a migration cannot)."""
    from casefile.logic.evidence import metadata  # noqa: PLC0415

    if settings.kek_text is not None:
        keyring: Keyring | None = Keyring.from_text(settings.kek_text)
    else:
        keyring = Keyring.load(settings.kek_path)
    if keyring is None:
        return
    with database.session() as session:
        report = metadata.seal_restricted(session, keyring)
    if report.sealed or report.wiped:
        click.echo(
            f"restricted items' metadata sealed: {report.sealed} sealed, "
            f"{report.wiped} of deleted items removed"
        )


def _write_secret(path: Path, value: str) -> bool:
    """Create a 0600 file holding `value`; never overwrite an existing key."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)  # noqa: PTH101
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return True


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (gunicorn restarts one that dies). More than one: PostgreSQL.",
)
@click.option("--threads", default=32, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.5, 300),
    help="Seconds a client may take to send a request's headers.",
)
@click.option(
    "--body-idle-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.5, 3600),
    help="Seconds a request body may pause before the request is answered 408.",
)
@click.pass_context
@one_line_errors
def serve(
    ctx: click.Context,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    header_timeout: float,
    body_idle_timeout: float,
) -> None:
    """Serve the web UI and API (gunicorn, threaded; request bodies stream, never spool)."""
    from casefile import schema, server  # noqa: PLC0415

    app = _app(ctx)
    engine = app.extensions["casefile.db"].engine
    if schema.pending(engine):
        raise CasefileError("the database schema is not up to date: run `casefile init`")
    _encrypt_plaintext_totp(_settings(ctx), app.extensions["casefile.db"])
    engine.dispose()  # no connection may cross into the worker process
    click.echo(f"Casefile on http://{host}:{port}/ (Ctrl+C stops it)")
    server.serve(
        app,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        header_timeout=header_timeout,
        body_idle_timeout=body_idle_timeout,
    )


# --- users ----------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Accounts (the operator on this host acts as the instance administrator)."""


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CasefileError("no password on standard input")
        return password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CasefileError("the passwords do not match")
    return first


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the account an instance administrator.")
@click.option("--name", "display_name", help="Display name (default: from the email).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
@one_line_errors
def create_user(
    ctx: click.Context, email: str, admin: bool, display_name: str | None, password_stdin: bool
) -> None:
    """Create an account."""
    password = _read_password(password_stdin)
    with _session(ctx) as session:
        data = accounts.parse_account_input(
            email=email, password=password, display_name=display_name, is_admin=admin
        )
        user = accounts.create_account(
            session, None, data, min_password_length=_settings(ctx).password_min_length
        )
        click.echo(f"created {'administrator' if user.is_admin else 'account'} {user.email}")


@users.command("list")
@click.pass_context
@one_line_errors
def list_users(ctx: click.Context) -> None:
    """List accounts."""
    with _session(ctx) as session:
        for user in accounts.list_all(session):
            flags = [
                f
                for f, on in (
                    ("admin", user.is_admin),
                    ("disabled", user.is_disabled),
                    ("2fa", user.totp_enabled),
                    ("must-change-password", user.password_must_change),
                )
                if on
            ]
            click.echo(f"{user.email}\t{user.display_name}\t{','.join(flags) or '-'}")


def _set_disabled(ctx: click.Context, email: str, *, disabled: bool) -> None:
    with _session(ctx) as session:
        user = _account(session, email)
        accounts.set_disabled(session, None, user, disabled=disabled)
        click.echo(f"{'disabled' if disabled else 'enabled'} {user.email}")


@users.command("disable")
@click.argument("email")
@click.pass_context
@one_line_errors
def disable_user(ctx: click.Context, email: str) -> None:
    """Disable an account and end its sessions."""
    _set_disabled(ctx, email, disabled=True)


@users.command("enable")
@click.argument("email")
@click.pass_context
@one_line_errors
def enable_user(ctx: click.Context, email: str) -> None:
    """Re-enable a disabled account."""
    _set_disabled(ctx, email, disabled=False)


@users.command("reset-2fa")
@click.argument("email")
@click.pass_context
@one_line_errors
def reset_2fa(ctx: click.Context, email: str) -> None:
    """Turn off an account's two-factor sign-in (lost device)."""
    with _session(ctx) as session:
        user = _account(session, email)
        accounts.reset_totp(session, None, user)
        click.echo(f"two-factor sign-in reset for {user.email}")


@users.command("unlock")
@click.argument("email")
@click.pass_context
@one_line_errors
def unlock_user(ctx: click.Context, email: str) -> None:
    """Clear an account's failed sign-in counts (the throttle)."""
    settings = _settings(ctx)
    app = _app(ctx)
    with _session(ctx, app) as session:
        user = _account(session, email)
        accounts.unlock(session, None, user, throttle=request_scope.throttle(app))
        click.echo(f"sign-in unlocked for {user.email}")
    if settings.throttle_storage_url.startswith("memory://"):
        click.echo(
            "note: auth.throttle_storage_url is memory://, which each serving process keeps "
            "for itself; unlock from the administrators' page instead",
            err=True,
        )


@users.command("reset-password")
@click.argument("email")
@click.pass_context
@one_line_errors
def reset_password(ctx: click.Context, email: str) -> None:
    """Give EMAIL a temporary password, printed alone on the last line; they must choose
    their own at the next sign-in. Their sessions end and their API tokens are revoked."""
    with _session(ctx) as session:
        user = _account(session, email)
        temporary = accounts.reset_password(session, None, user)
        click.echo(f"password reset for {user.email}; sessions ended, API tokens revoked")
        click.echo(temporary)


@users.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True)
@click.option("--days", type=int, help="Lifetime in days (default: auth.api_token_days).")
@click.pass_context
@one_line_errors
def user_token(ctx: click.Context, email: str, name: str, days: int | None) -> None:
    """Create an API token for EMAIL and print it alone on the last line."""
    with _session(ctx) as session:
        user = _account(session, email)
        token, plaintext = tokens.create_token(
            session, user, name=name, days=days or _settings(ctx).api_token_days
        )
        click.echo(f"token {token.prefix}… for {user.email}, expires {token.expires_at:%Y-%m-%d}")
        click.echo(plaintext)


# --- cases ----------------------------------------------------------------------------------


@main.group("cases")
def cases_group() -> None:
    """Cases."""


@cases_group.command("create")
@click.option("--as", "as_email", required=True, help="Account that creates it (its lead).")
@click.option("--title", required=True)
@click.option("--forum", required=True, type=click.Choice([f.value for f in Forum]))
@click.option("--court")
@click.option("--reference", help="Court reference, e.g. ICC-01/19.")
@click.option("--ern-pattern", help="e.g. MMR-OTP-{batch:04d}-{seq:04d}")
@click.option("--language", "languages", multiple=True, help="Working language (repeatable).")
@click.option("--description")
@click.pass_context
@one_line_errors
def create_case(ctx: click.Context, /, as_email: str, **fields: Any) -> None:
    """Create a case."""
    fields["languages"] = list(fields["languages"])
    data = cases.parse_case_input({k: v for k, v in fields.items() if v is not None})
    with _session(ctx) as session:
        case = cases.create_case(session, _account(session, as_email), data)
        click.echo(f"created case {case.id} {case.title!r}")


@cases_group.command("list")
@click.option("--as", "as_email", required=True, help="List the cases this account can see.")
@click.pass_context
@one_line_errors
def list_cases(ctx: click.Context, as_email: str) -> None:
    """List the cases an account is a member of."""
    with _session(ctx) as session:
        actor = _account(session, as_email)
        cursor = None
        while True:
            page = cases.list_cases(session, actor, limit=200, cursor=cursor)
            for case in page.items:
                click.echo(f"{case.id}\t{case.forum.value}\t{case.reference or '-'}\t{case.title}")
            if page.next_cursor is None:
                break
            cursor = page.next_cursor


# --- custody log ----------------------------------------------------------------------------


@main.group("custody")
def custody_group() -> None:
    """The tamper-evident custody log."""


def _keys(app: Flask) -> custody_checkpoints.CustodyKeys:
    keys: custody_checkpoints.CustodyKeys | None = app.extensions["casefile.custody_keys"]
    if keys is None:
        raise CasefileError("no custody signing key in the instance folder: run `casefile init`")
    return keys


@custody_group.command("checkpoint")
@click.pass_context
@one_line_errors
def custody_checkpoint(ctx: click.Context) -> None:
    """Sign a checkpoint of the log as it is now and print it."""
    app = _app(ctx)
    keys = _keys(app)
    with _session(ctx, app) as session:

        def sign() -> CustodyCheckpoint:
            checkpoint = custody_checkpoints.make_checkpoint(session, keys)
            session.commit()
            return checkpoint

        checkpoint = retry.run(session, sign)
        click.echo(checkpoint.note, nl=False)


@custody_group.command("verify")
@click.option(
    "--public-key",
    help="Verifier key to check signatures with (default: this instance's own).",
)
@click.option(
    "--trusted",
    "trusted",
    is_flag=True,
    help="Also prove that the log extends each CHECKPOINT given (a signed checkpoint kept "
    "elsewhere: a file, a custody report's JSON, or an http(s) URL).",
)
@click.argument("checkpoints", nargs=-1, metavar="[CHECKPOINT]...")
@click.pass_context
@one_line_errors
def custody_verify(
    ctx: click.Context, public_key: str | None, trusted: bool, checkpoints: tuple[str, ...]
) -> None:
    """Recompute every entry, node and checkpoint; exit 1 naming the first mismatch.

    With --trusted CHECKPOINT..., also prove that the log extends each checkpoint, in the
    order given (a consistency proof): a log shortened together with its nodes and
    checkpoints verifies on its own, but not against a checkpoint kept from before."""
    if trusted != bool(checkpoints):
        raise click.UsageError("give checkpoints after --trusted, and --trusted only with them")
    try:  # read them all first: an unreadable one fails before the long walk
        notes = [(source, custody_trusted.read_source(source)) for source in checkpoints]
    except custody_trusted.TrustedCheckpointError as error:
        raise CasefileError(str(error)) from None
    app = _app(ctx)
    key = public_key or _keys(app).verifier_key
    # One consistent view of the log, which appends (and on SQLite, every write) need not
    # wait for: a minute-long verify would otherwise hold up every upload meanwhile.
    with _session(ctx, app, snapshot=True) as session:
        total = custody_entries.log_size(session)
        with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
            done = [0]

            def advance(count: int) -> None:
                bar.update(count - done[0])
                done[0] = count

            report = custody_verify_logic.verify_log(session, key, progress=advance)
            bar.update(total - done[0])
        if report.mismatch is not None:
            raise CasefileError(f"custody log does not verify: {report.mismatch}")
        try:
            extended = custody_trusted.ensure_all_trusted_extended(
                session, notes, key, report.entries
            )
        except custody_trusted.TrustedCheckpointError as error:
            raise CasefileError(f"custody log does not verify: {error}") from None
    summary = (
        f"custody log verified: {report.entries} entries, {report.nodes} tree nodes, "
        f"{report.checkpoints} signed checkpoints"
    )
    if extended:
        sizes = ", ".join(str(item.checkpoint.size) for item in extended)
        summary += f"; it extends {len(extended)} trusted checkpoints (sizes {sizes})"
    click.echo(summary)


@main.group("keys")
def keys_group() -> None:
    """The key-encryption key."""


@keys_group.command("rotate")
@click.pass_context
@one_line_errors
def keys_rotate(ctx: click.Context) -> None:
    """New KEK; rewrap every item's data key under it; retire the old one (resumable)."""
    from casefile.logic import keys  # noqa: PLC0415

    settings = _settings(ctx)
    if settings.kek_text is not None:
        raise CasefileError(
            "the KEK comes from CASEFILE_KEK: rotate needs it as a file (CASEFILE_KEK_FILE)"
        )
    app = _app(ctx)
    with (
        _session(ctx, app) as session,
        click.progressbar(length=1, label="rewrapping data keys", file=sys.stderr) as bar,
    ):

        def advance(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        result = keys.rotate(session, settings.kek_path, progress=advance)
    click.echo(
        f"key-encryption key rotated: new key {result.new_key_id}, "
        f"{result.rewrapped} data keys rewrapped, {result.already_current} already current, "
        f"retired {', '.join(map(str, result.retired_key_ids)) or 'none'}"
    )
    click.echo(
        f"TOTP secrets: {result.totp_secrets_rewrapped} re-encrypted, "
        f"{result.totp_secrets_encrypted} plaintext secrets encrypted"
    )


# Evidence commands (ingest, scrub, keys), backup/restore and frameworks live beside this module;
# importing registers them.
from casefile import cli_backup, cli_bundle, cli_export, cli_frameworks, cli_vault  # noqa: E402, F401
