"""Checks a custody report offline: entries, their inclusion proofs, the signed checkpoint.

No database, no Flask, no secret: what a registry, a judge or opposing counsel runs on the
report in a court bundle (or on GET /api/v1/evidence/{id}/custody). Standard library plus
`cryptography` for Ed25519.

A report is JSON: {"checkpoint": signed note text, "entries": [{"seq", "time", "actor",
"action", "case", "item", "details", "leaf_hash", "inclusion_proof": {"leaf_index",
"tree_size", "hashes": [hex...]}}, ...]}. An entry withheld from the report's reader is
{"seq", "time", "leaf_hash", "redacted": true, "inclusion_proof"}: its leaf hash is checked
against the checkpoint, its content cannot be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import merkle
from .custody_entry import EncodingError, entry_bytes_from_json
from .signed_note import Checkpoint, NoteError, open_note


@dataclass
class Verdict:
    checkpoint: Checkpoint | None = None
    entries_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems and self.checkpoint is not None


def verify_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """The checkpoint inside a signed note, if the given key signed it (NoteError if not)."""
    return Checkpoint.parse(open_note(note, verifier_key))


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a hex string")
    raw = bytes.fromhex(value)
    if len(raw) != merkle.HASH_SIZE:
        raise ValueError(f"{what} must be 32 bytes")
    return raw


def _entry_problem(entry: Mapping[str, Any], checkpoint: Checkpoint) -> str | None:  # noqa: PLR0911
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        return f"entry {seq}: its sequence number is not an integer"
    if entry.get("redacted") is True:
        # Its content is withheld from this reader: only its stated leaf hash can be
        # checked, by its inclusion proof below.
        try:
            leaf = _hex(entry.get("leaf_hash"), "leaf hash")
        except (ValueError, TypeError) as error:
            return f"entry {seq}: malformed redacted entry ({error})"
    else:
        try:
            leaf = merkle.leaf_hash(entry_bytes_from_json(entry))
        except (KeyError, TypeError, EncodingError) as error:
            return f"entry {seq}: malformed ({error})"
        if "leaf_hash" in entry and entry["leaf_hash"] != leaf.hex():
            return f"entry {seq}: its content does not hash to the leaf hash it states"
    proof = entry.get("inclusion_proof")
    if not isinstance(proof, Mapping):
        return f"entry {seq}: no inclusion proof"
    try:
        if proof.get("leaf_index") != seq:
            return f"entry {seq}: the proof is for leaf {proof.get('leaf_index')}"
        if proof.get("tree_size") != checkpoint.size:
            return f"entry {seq}: the proof is not for the checkpoint's tree size"
        hashes = [_hex(value, "proof hash") for value in proof.get("hashes", [])]
        merkle.verify_inclusion(leaf, seq, checkpoint.size, hashes, checkpoint.root)
    except (ValueError, TypeError) as error:
        return f"entry {seq}: inclusion proof does not verify ({error})"
    return None


def verify_report(report: Mapping[str, Any], verifier_key: str) -> Verdict:
    verdict = Verdict()
    try:
        verdict.checkpoint = verify_checkpoint(str(report.get("checkpoint", "")), verifier_key)
    except (NoteError, ValueError) as error:
        verdict.problems.append(f"checkpoint: {error}")
        return verdict
    entries: Sequence[Mapping[str, Any]] = report.get("entries") or []
    for entry in entries:
        problem = _entry_problem(entry, verdict.checkpoint)
        verdict.entries_checked += 1
        if problem:
            verdict.problems.append(problem)
    return verdict
