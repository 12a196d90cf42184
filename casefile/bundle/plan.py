"""What a bundle holds, as plain typed values: the filing and its exhibits in order, and
where the writer gets each exhibit's verified bytes and custody report.

The writer knows nothing of the database: logic/export/ builds a plan from items (and will
from filings), authorized, and gives the readers below."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CLASSIFICATIONS = ("public", "confidential", "under_seal", "ex_parte")


@dataclass(frozen=True)
class ExhibitPlan:
    number: str  # as the forum numbers it: "Annex 3", "Anx 2", "Exhibit 12"
    item_id: str
    ern: str
    title: str
    date: str  # ISO 8601 date (or date and time) the exhibit is dated, "" if unknown
    mime: str
    source: str
    classification: str
    language: str
    original_name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BundlePlan:
    filing_id: str  # External-Identifier
    filing_title: str
    forum: str
    classification: str
    exhibits: tuple[ExhibitPlan, ...]
    organization: str = "Casefile"  # Source-Organization
    case_title: str = ""


@dataclass(frozen=True)
class Sources:
    """Where the writer reads what it bundles.

    `content(exhibit)`: the exhibit's bytes, decrypted and verified as they stream (it must
    raise, never end cleanly, when a check fails: logic/evidence/reading.py does); if what it
    returns is `Hashed`, the writer takes the SHA-256 its check computed instead of hashing
    the bytes a second time;
    `custody_report(exhibit)`: the item's report (entries with inclusion proofs) against
    `checkpoint`, the signed note signed for this bundle; `signing_key` signs the tag
    manifest; `verifier_key` is its public half as the instance publishes it."""

    content: Callable[[ExhibitPlan], Iterable[bytes]]
    custody_report: Callable[[ExhibitPlan], dict[str, Any]]
    checkpoint: str
    verifier_key: str
    signing_key: Ed25519PrivateKey


class Hashed(Iterator[bytes]):
    """Chunks whose reader hashes them with SHA-256 for its own check as they stream:
    `sha256` is the hex digest of every chunk given once the last was read and checked,
    None before (reading.VerifiedChunks). A reader says so by deriving from this class, never
    by merely having a `sha256` attribute: chunks that only carry the digest they are expected
    to have (a plan's, an index's) must be hashed by the writer, not believed."""

    @property
    def sha256(self) -> str | None:
        raise NotImplementedError


def watched(
    chunks: Iterable[bytes], each: Callable[[], object], at_end: Callable[[], object] = lambda: None
) -> Iterable[bytes]:
    """`chunks`, calling `each()` after every chunk taken (a heartbeat) and `at_end()` once
    the last was taken; still Hashed, with the reader's `sha256`, when `chunks` is."""
    if isinstance(chunks, Hashed):
        return _Watched(chunks, each, at_end)
    return _each_after(chunks, each, at_end)


def _each_after(
    chunks: Iterable[bytes], each: Callable[[], object], at_end: Callable[[], object]
) -> Iterator[bytes]:
    for chunk in chunks:
        each()
        yield chunk
    at_end()


class _Watched(Hashed):
    def __init__(
        self, chunks: Hashed, each: Callable[[], object], at_end: Callable[[], object]
    ) -> None:
        self._hashed = chunks
        self._chunks = iter(chunks)
        self._each = each
        self._at_end = at_end

    @property
    def sha256(self) -> str | None:
        return self._hashed.sha256

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._at_end()
            raise
        self._each()
        return chunk
