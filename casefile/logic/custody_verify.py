"""`casefile custody verify`: recompute the whole log and compare it with what is stored.

It reads every entry once in sequence order (bounded memory), recomputes each leaf from the
entry's fields, rebuilds the tree, and checks every stored checkpoint's signature and root,
every stored tree node, and consistency between successive checkpoints. It reports the first
entry, node or checkpoint that does not match. It never repairs anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from casefile.bundle import merkle
from casefile.bundle.custody_entry import entry_bytes, format_time
from casefile.bundle.signed_note import Checkpoint, NoteError, open_note
from casefile.model import CustodyCheckpoint, CustodyEntry, CustodyNode

BATCH = 20_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Mismatch:
    what: str  # "entry", "checkpoint" or "node"
    where: int  # sequence number, checkpoint size, or node level
    message: str

    def __str__(self) -> str:
        return f"{self.what} {self.where}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    nodes: int
    mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


class _Found(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        super().__init__(str(mismatch))
        self.mismatch = mismatch


def verify_log(
    session: Session, verifier_key: str, progress: Progress | None = None
) -> VerifyReport:
    counts = {"entries": 0, "checkpoints": 0, "nodes": 0}
    try:
        checkpoints = _signed_checkpoints(session, verifier_key)
        counts["checkpoints"] = len(checkpoints)
        size = _entries(session, checkpoints, progress, counts)
        _checkpoints_within(checkpoints, size)
        counts["nodes"] = _nodes(session, size)
        _consistency(session, checkpoints)
    except _Found as found:
        return VerifyReport(mismatch=found.mismatch, **counts)
    return VerifyReport(mismatch=None, **counts)


def _signed_checkpoints(session: Session, verifier_key: str) -> dict[int, CustodyCheckpoint]:
    checkpoints: dict[int, CustodyCheckpoint] = {}
    for row in session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.size)):
        try:
            signed = Checkpoint.parse(open_note(row.note, verifier_key))
        except (NoteError, ValueError) as error:
            raise _Found(
                Mismatch("checkpoint", row.size, f"signature or format: {error}")
            ) from None
        if (signed.origin, signed.size, signed.root) != (row.origin, row.size, row.root):
            raise _Found(
                Mismatch("checkpoint", row.size, "stored fields differ from the signed note")
            )
        checkpoints[row.size] = row
    return checkpoints


def _entries(
    session: Session,
    checkpoints: dict[int, CustodyCheckpoint],
    progress: Progress | None,
    counts: dict[str, int],
) -> int:
    tree = merkle.CompactRange()
    leaf_node = aliased(CustodyNode)
    query = (
        select(
            CustodyEntry.seq,
            CustodyEntry.time,
            CustodyEntry.actor_id,
            CustodyEntry.actor_label,
            CustodyEntry.action,
            CustodyEntry.case_id,
            CustodyEntry.item_id,
            CustodyEntry.details,
            CustodyEntry.leaf_hash,
            leaf_node.hash,
        )
        .outerjoin(leaf_node, and_(leaf_node.level == 0, leaf_node.index == CustodyEntry.seq))
        .order_by(CustodyEntry.seq)
        .execution_options(yield_per=BATCH)
    )
    if 0 in checkpoints and checkpoints[0].root != merkle.EMPTY_ROOT:
        raise _Found(Mismatch("checkpoint", 0, "the empty log's root is wrong"))
    # Streams through a server-side cursor on PostgreSQL: closed even when we stop early.
    with closing(session.connection().execute(query)) as rows:
        size = _walk_entries(rows, tree, checkpoints, progress)
    counts["entries"] = size
    return size


def _walk_entries(
    rows: Iterable[Any],
    tree: merkle.CompactRange,
    checkpoints: dict[int, CustodyCheckpoint],
    progress: Progress | None,
) -> int:
    expected = 0
    for seq, time, actor_id, label, action, case_id, item_id, details, stored, node in rows:
        if seq != expected:
            message = (
                f"missing (the next stored entry is {seq})" if seq > expected else "out of order"
            )
            raise _Found(Mismatch("entry", expected, message))
        leaf = merkle.leaf_hash(
            entry_bytes(
                seq=seq,
                time=format_time(time),
                actor_id=str(actor_id) if actor_id else None,
                actor_label=label,
                action=action.value,
                case_id=str(case_id) if case_id else None,
                item_id=str(item_id) if item_id else None,
                details_json=details,
            )
        )
        if leaf != stored:
            raise _Found(Mismatch("entry", seq, "its fields do not hash to its recorded leaf hash"))
        if node != leaf:
            raise _Found(Mismatch("node", 0, f"leaf node {seq} is missing or differs"))
        tree.append(leaf)
        expected += 1
        checkpoint = checkpoints.get(expected)
        if checkpoint is not None and checkpoint.root != tree.root():
            raise _Found(
                Mismatch("checkpoint", expected, "its root does not match the entries it covers")
            )
        if progress is not None and expected % BATCH == 0:
            progress(expected)
    return expected


def _checkpoints_within(checkpoints: dict[int, CustodyCheckpoint], size: int) -> None:
    beyond = [cp for cp in checkpoints if cp > size]
    if beyond:
        raise _Found(
            Mismatch(
                "checkpoint",
                min(beyond),
                f"covers {min(beyond)} entries but the log holds {size}: entries were removed",
            )
        )


def _nodes(session: Session, size: int) -> int:
    """Every stored interior node is the hash of its two children, and exactly the nodes a
    log of `size` entries has are stored."""
    per_level = dict(
        session.execute(select(CustodyNode.level, func.count()).group_by(CustodyNode.level)).all()
    )
    for level in range(max([*per_level, size.bit_length()]) + 1):
        wanted = size >> level
        if per_level.get(level, 0) != wanted:
            raise _Found(
                Mismatch("node", level, f"{per_level.get(level, 0)} stored, {wanted} expected")
            )
    left, right = aliased(CustodyNode), aliased(CustodyNode)
    parent = aliased(CustodyNode)
    query = (
        select(parent.level, parent.index, parent.hash, left.hash, right.hash)
        .outerjoin(left, and_(left.level == parent.level - 1, left.index == parent.index * 2))
        .outerjoin(
            right, and_(right.level == parent.level - 1, right.index == parent.index * 2 + 1)
        )
        .where(parent.level >= 1)
        .order_by(parent.level, parent.index)
        .execution_options(yield_per=BATCH)
    )
    checked = 0
    with closing(session.connection().execute(query)) as rows:
        for level, index, digest, left_hash, right_hash in rows:
            if (
                left_hash is None
                or right_hash is None
                or digest != merkle.node_hash(left_hash, right_hash)
            ):
                raise _Found(
                    Mismatch("node", level, f"node {index} is not the hash of its children")
                )
            checked += 1
    return checked + size


def _consistency(session: Session, checkpoints: dict[int, CustodyCheckpoint]) -> None:
    """Proofs served from the stored nodes really do link each checkpoint to the next."""
    from casefile.logic.custody import node_getter  # noqa: PLC0415

    get = node_getter(session)
    sizes = sorted(checkpoints)
    for old, new in itertools.pairwise(sizes):
        if old == 0:
            continue
        try:
            proof = merkle.consistency_proof(old, new, get)
            merkle.verify_consistency(old, new, checkpoints[old].root, checkpoints[new].root, proof)
        except (merkle.ProofError, RuntimeError) as error:
            raise _Found(
                Mismatch("checkpoint", new, f"not consistent with checkpoint {old}: {error}")
            ) from None
