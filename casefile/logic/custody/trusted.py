"""`casefile custody verify --trusted`: hold the log to checkpoints kept elsewhere.

A log that verifies on its own can still be a shortened one: whoever can drop the database's
triggers can delete the newest entries, nodes and checkpoints together, and what is left is
a smaller log that is perfectly consistent. Only a checkpoint kept outside the database
shows it: the log must extend every checkpoint it ever signed. Each trusted checkpoint (a
signed note from a file, from a custody report's JSON, or from an http(s) URL) must carry
this instance's signature, cover no more entries than the log holds, and the current tree
must extend it: an RFC 9162 consistency proof, computed from the stored nodes and checked
with the portable verifier code (casefile/verifier/merkle.py). Run it after `verify_log` has
checked those nodes against the entries.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from casefile.logic.custody import proofs as custody_proofs
from casefile.verifier import merkle
from casefile.verifier.signed_note import Checkpoint, NoteError, open_note, parse_verifier_key

MAX_BYTES = 256 * 1024  # a checkpoint is a few hundred bytes; a custody report can be larger
FETCH_TIMEOUT_SECONDS = 15.0
_URL_SCHEMES = ("http://", "https://")
_CHUNK = 16 * 1024


class TrustedCheckpointError(Exception):
    """A trusted checkpoint that cannot be read, is not this log's, or the log does not
    extend; the message names its source."""


@dataclass(frozen=True)
class Trusted:
    source: str
    checkpoint: Checkpoint


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (never to ftp:// or file://)."""

    def redirect_request(  # noqa: PLR0917 - urllib's own signature, overridden
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not newurl.lower().startswith(_URL_SCHEMES):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-http URL", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, timeout: float) -> bytes:
    """At most MAX_BYTES + 1 bytes of the body, within `timeout` seconds overall (the socket
    timeout alone would let a server that sends a byte at a time hold on for hours)."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json"})  # noqa: S310 - only http(s) reaches here
    body = bytearray()
    with opener.open(request, timeout=timeout) as response:
        while len(body) <= MAX_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no complete answer within {timeout:g} seconds")
            chunk = response.read1(min(_CHUNK, MAX_BYTES + 1 - len(body)))
            if not chunk:
                break
            body += chunk
    return bytes(body)


def read_source(source: str, *, timeout: float = FETCH_TIMEOUT_SECONDS) -> str:
    """The signed note a source holds: a file or http(s) URL serving the note itself (as
    GET /api/v1/custody/checkpoint does), or a custody report's JSON (its "checkpoint")."""
    try:
        if source.lower().startswith(_URL_SCHEMES):
            raw = _fetch(source, timeout)
        else:
            with Path(source).open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
    except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
        raise TrustedCheckpointError(
            f"trusted checkpoint {source}: cannot read it ({error})"
        ) from None
    if len(raw) > MAX_BYTES:
        raise TrustedCheckpointError(
            f"trusted checkpoint {source}: larger than {MAX_BYTES} bytes, not a checkpoint"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustedCheckpointError(f"trusted checkpoint {source}: not UTF-8 text") from None
    if text.lstrip().startswith("{"):
        return _note_of_report(source, text)
    return text


def _note_of_report(source: str, text: str) -> str:
    try:
        report = json.loads(text)
    except ValueError as error:
        raise TrustedCheckpointError(f"trusted checkpoint {source}: bad JSON ({error})") from None
    note = report.get("checkpoint") if isinstance(report, dict) else None
    if not isinstance(note, str):
        raise TrustedCheckpointError(
            f'trusted checkpoint {source}: a JSON file must be a custody report with a "checkpoint"'
        )
    return note


def open_trusted(source: str, note: str, verifier_key: str) -> Trusted:
    """The checkpoint in `note`, if this instance's key signed it for this log."""
    try:
        key = parse_verifier_key(verifier_key)
        checkpoint = Checkpoint.parse(open_note(note, key))
    except (NoteError, ValueError) as error:
        raise TrustedCheckpointError(
            f"trusted checkpoint {source}: signature or format: {error}"
        ) from None
    if checkpoint.origin != key.name:
        raise TrustedCheckpointError(
            f"trusted checkpoint {source}: it is for the log {checkpoint.origin!r}, "
            f"not {key.name!r}"
        )
    return Trusted(source, checkpoint)


def ensure_extends_trusted(session: Session, trusted: Trusted, size: int) -> None:
    """The stored log of `size` entries extends the trusted checkpoint (consistency proof
    from the stored nodes), else TrustedCheckpointError naming it."""
    checkpoint = trusted.checkpoint
    name = f"trusted checkpoint {trusted.source} (size {checkpoint.size})"
    if checkpoint.size > size:
        raise TrustedCheckpointError(
            f"{name}: it covers {checkpoint.size} entries but the log holds {size}: "
            "entries were removed (rollback)"
        )

    def root_and_proof(get: merkle.GetNode) -> tuple[bytes, list[bytes]]:
        root = merkle.root_at(size, get) if size else merkle.EMPTY_ROOT
        proof = merkle.consistency_proof(checkpoint.size, size, get) if checkpoint.size else []
        return root, proof

    try:
        root, proof = custody_proofs.with_stored_nodes(session, root_and_proof)
        merkle.verify_consistency(checkpoint.size, size, checkpoint.root, root, proof)
    except (merkle.ProofError, RuntimeError) as error:
        raise TrustedCheckpointError(
            f"{name}: the log does not extend it (rolled back or forked): {error}"
        ) from None


def ensure_all_trusted_extended(
    session: Session, sources: list[tuple[str, str]], verifier_key: str, size: int
) -> list[Trusted]:
    """Each (source, note) in order; the first that fails raises TrustedCheckpointError."""
    checked = []
    for source, note in sources:
        trusted = open_trusted(source, note, verifier_key)
        ensure_extends_trusted(session, trusted, size)
        checked.append(trusted)
    return checked
