"""The custody log: one append function for every action, signed checkpoints, proofs.

Every action that touches a case or an item calls `append` inside its own transaction, so the
entry commits with the action or not at all. Appends are serialised (PostgreSQL: a
transaction-scoped advisory lock; SQLite: every transaction is BEGIN IMMEDIATE), so sequence
numbers are gapless and the Merkle tree is well defined.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from casefile.bundle import merkle
from casefile.bundle.custody_entry import canonical_json, entry_bytes, format_time
from casefile.bundle.signed_note import Checkpoint, sign_note, verifier_key
from casefile.db import utcnow
from casefile.logic.errors import NotFound, ValidationFailed
from casefile.model import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode, User

ADVISORY_LOCK_KEY = 0x63617365_66696C65  # "casefile"
KEYS = "casefile.custody_keys"
POLICY = "casefile.custody_policy"


@dataclass(frozen=True)
class CustodyKeys:
    """The instance's checkpoint signing key and the log's origin line (its key name)."""

    origin: str
    private_key: Ed25519PrivateKey

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.origin, self.private_key.public_key())


@dataclass(frozen=True)
class CheckpointPolicy:
    every_entries: int = 100
    every_minutes: int = 10


def bind(session_info: dict[str, Any], keys: CustodyKeys | None, policy: CheckpointPolicy) -> None:
    """Give sessions what automatic checkpoints need (create_app calls this)."""
    session_info[KEYS] = keys
    session_info[POLICY] = policy


def actor_label(actor: User | None) -> str:
    if actor is None:
        return "operator on the server (command line)"
    return f"{actor.display_name} <{actor.email}>"


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def log_size(session: Session) -> int:
    last = session.scalar(select(func.max(CustodyEntry.seq)))
    return 0 if last is None else last + 1


def _frontier(session: Session, size: int) -> list[bytes]:
    """Hashes of the perfect subtrees that make up [0, size), largest first."""
    wanted: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            wanted.append((level, start >> level))
            start += 1 << level
    if not wanted:
        return []
    rows = session.execute(
        select(CustodyNode.level, CustodyNode.index, CustodyNode.hash).where(
            or_(*(and_(CustodyNode.level == lv, CustodyNode.index == ix) for lv, ix in wanted))
        )
    ).all()
    found = {(level, index): digest for level, index, digest in rows}
    missing = [pair for pair in wanted if pair not in found]
    if missing:
        raise RuntimeError(f"custody tree nodes missing: {missing}; run `casefile custody verify`")
    return [found[pair] for pair in wanted]


def append(
    session: Session,
    actor: User | None,
    action: CustodyAction,
    *,
    case_id: uuid.UUID | None = None,
    item_id: uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> CustodyEntry:
    """Append one entry in the caller's transaction; the caller commits it with its action."""
    _lock(session)
    session.flush()
    size = log_size(session)
    tree = merkle.CompactRange.from_frontier(size, _frontier(session, size))
    moment = utcnow()
    details_json = canonical_json(dict(details or {}))
    label = actor_label(actor)
    leaf = merkle.leaf_hash(
        entry_bytes(
            seq=size,
            time=format_time(moment),
            actor_id=str(actor.id) if actor else None,
            actor_label=label,
            action=action.value,
            case_id=str(case_id) if case_id else None,
            item_id=str(item_id) if item_id else None,
            details_json=details_json,
        )
    )
    entry = CustodyEntry(
        seq=size,
        time=moment,
        actor_id=actor.id if actor else None,
        actor_label=label,
        action=action,
        case_id=case_id,
        item_id=item_id,
        details=details_json,
        leaf_hash=leaf,
    )
    session.add(entry)
    session.add_all(
        CustodyNode(level=level, index=index, hash=digest)
        for level, index, digest in tree.append(leaf)
    )
    session.flush()
    _auto_checkpoint(session, tree.size)
    return entry


def _auto_checkpoint(session: Session, size: int) -> None:
    keys: CustodyKeys | None = session.info.get(KEYS)
    policy: CheckpointPolicy | None = session.info.get(POLICY)
    if keys is None or policy is None:
        return
    latest = latest_checkpoint(session)
    behind = size - (latest.size if latest else 0)
    stale = latest is None or utcnow() - latest.time >= dt.timedelta(minutes=policy.every_minutes)
    if behind >= policy.every_entries or (behind > 0 and stale):
        make_checkpoint(session, keys)


def node_getter(session: Session) -> merkle.GetNode:
    def get(level: int, index: int) -> bytes:
        node = session.get(CustodyNode, (level, index))
        if node is None:
            raise RuntimeError(f"custody tree node ({level}, {index}) missing")
        return node.hash

    return get


def latest_checkpoint(session: Session) -> CustodyCheckpoint | None:
    return session.scalars(
        select(CustodyCheckpoint).order_by(CustodyCheckpoint.size.desc()).limit(1)
    ).first()


def make_checkpoint(session: Session, keys: CustodyKeys) -> CustodyCheckpoint:
    """Sign the log as it is now (or return the latest checkpoint if nothing was added)."""
    _lock(session)
    session.flush()
    size = log_size(session)
    latest = latest_checkpoint(session)
    if latest is not None and latest.size == size:
        return latest
    get = node_getter(session)
    root = merkle.root_at(size, get) if size else merkle.EMPTY_ROOT
    if latest is not None:
        # Never sign a tree that does not extend what was signed before.
        proof = merkle.consistency_proof(latest.size, size, get) if latest.size else []
        merkle.verify_consistency(latest.size, size, latest.root, root, proof)
    note = sign_note(Checkpoint(keys.origin, size, root).to_text(), keys.origin, keys.private_key)
    checkpoint = CustodyCheckpoint(size=size, origin=keys.origin, root=root, note=note)
    session.add(checkpoint)
    session.flush()
    return checkpoint


def checkpoint_covering(session: Session, keys: CustodyKeys | None, seq: int) -> CustodyCheckpoint:
    """The latest checkpoint, made now if the latest does not yet include entry `seq`."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.size > seq:
        return latest
    if keys is None:
        raise NotFound("no signed checkpoint covers this entry yet")
    checkpoint = make_checkpoint(session, keys)
    session.commit()
    return checkpoint


def get_checkpoint(session: Session, size: int) -> CustodyCheckpoint:
    checkpoint = session.get(CustodyCheckpoint, size)
    if checkpoint is None:
        raise NotFound(f"no checkpoint of size {size}")
    return checkpoint


def list_checkpoints(
    session: Session, *, start: int = 0, limit: int = 100
) -> list[CustodyCheckpoint]:
    if start < 0:
        raise ValidationFailed({"from": "must be 0 or more"})
    return list(
        session.scalars(
            select(CustodyCheckpoint)
            .where(CustodyCheckpoint.size >= start)
            .order_by(CustodyCheckpoint.size)
            .limit(limit)
        )
    )


def inclusion_proof(session: Session, seq: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(seq, size, node_getter(session))


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """Between two signed checkpoints; both sizes must be checkpoints the log has signed."""
    if old > new:
        raise ValidationFailed({"old": "must not be larger than new"})
    get_checkpoint(session, old)
    get_checkpoint(session, new)
    if old in (0, new):
        return []
    return merkle.consistency_proof(old, new, node_getter(session))


def entries_for(
    session: Session,
    *,
    case_id: uuid.UUID | None = None,
    item_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: CustodyAction | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after_seq: int | None = None,
    limit: int = 500,
) -> list[CustodyEntry]:
    query = select(CustodyEntry).order_by(CustodyEntry.seq).limit(limit)
    if case_id is not None:
        query = query.where(CustodyEntry.case_id == case_id)
    if item_id is not None:
        query = query.where(CustodyEntry.item_id == item_id)
    if actor_id is not None:
        query = query.where(CustodyEntry.actor_id == actor_id)
    if action is not None:
        query = query.where(CustodyEntry.action == action)
    if since is not None:
        query = query.where(CustodyEntry.time >= since)
    if until is not None:
        query = query.where(CustodyEntry.time < until)
    if after_seq is not None:
        query = query.where(CustodyEntry.seq > after_seq)
    return list(session.scalars(query))


def entry_json(entry: CustodyEntry) -> dict[str, Any]:
    """The entry as exported: exactly the fields of its canonical encoding, plus its hash."""
    return {
        "seq": entry.seq,
        "time": format_time(entry.time),
        "actor": {
            "id": str(entry.actor_id) if entry.actor_id else None,
            "label": entry.actor_label,
        },
        "action": entry.action.value,
        "case": str(entry.case_id) if entry.case_id else None,
        "item": str(entry.item_id) if entry.item_id else None,
        "details": json.loads(entry.details),
    }
