"""Signed checkpoints of the custody log: the signing key and the policy for automatic
checkpoints (every so many entries or minutes), making one (signed only if the tree extends
the one signed before), finding them, and the consistency proof between two of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile import db
from casefile.db import utcnow
from casefile.logic import retry
from casefile.logic.custody import log_state
from casefile.logic.custody.log_state import LogState
from casefile.logic.custody.proofs import with_stored_nodes
from casefile.logic.errors import NotFound, ValidationFailed
from casefile.model import CustodyCheckpoint
from casefile.verifier import merkle
from casefile.verifier.signed_note import Checkpoint, sign_note, verifier_key

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


def due(session: Session, state: LogState) -> bool:
    """Whether the policy asks for a checkpoint now (never without a signing key)."""
    keys: CustodyKeys | None = session.info.get(KEYS)
    policy: CheckpointPolicy | None = session.info.get(POLICY)
    if keys is None or policy is None:
        return False
    latest = state.checkpoint
    behind = state.tree.size - (latest[0] if latest else 0)
    stale = latest is None or utcnow() - latest[1] >= dt.timedelta(minutes=policy.every_minutes)
    return behind >= policy.every_entries or (behind > 0 and stale)


def make_if_due(session: Session, state: LogState) -> None:
    """Sign the log now if the policy asks for it (appends call this as they go)."""
    keys: CustodyKeys | None = session.info.get(KEYS)
    if keys is not None and due(session, state):
        make_checkpoint(session, keys)


def latest_checkpoint(session: Session) -> CustodyCheckpoint | None:
    return session.scalars(
        select(CustodyCheckpoint).order_by(CustodyCheckpoint.size.desc()).limit(1)
    ).first()


def make_checkpoint(session: Session, keys: CustodyKeys) -> CustodyCheckpoint:
    """Sign the log as it is now (or return the latest checkpoint if nothing was added)."""
    state = log_state.take_lock(session)
    size = state.tree.size
    latest = latest_checkpoint(session)
    if latest is not None and latest.size == size:
        return latest
    old = latest.size if latest is not None else 0

    def root_and_proof(get: merkle.GetNode) -> tuple[bytes, list[bytes]]:
        root = merkle.root_at(size, get) if size else merkle.EMPTY_ROOT
        return root, merkle.consistency_proof(old, size, get) if old else []

    root, proof = with_stored_nodes(session, root_and_proof)
    if latest is not None:
        # Never sign a tree that does not extend what was signed before.
        merkle.verify_consistency(latest.size, size, latest.root, root, proof)
    note = sign_note(Checkpoint(keys.origin, size, root).to_text(), keys.origin, keys.private_key)
    checkpoint = CustodyCheckpoint(size=size, origin=keys.origin, root=root, note=note)
    session.add(checkpoint)
    session.flush()
    state.checkpoint = (checkpoint.size, checkpoint.time)
    return checkpoint


@retry.transaction
def checkpoint_covering(session: Session, keys: CustodyKeys | None, seq: int) -> CustodyCheckpoint:
    """The latest checkpoint, made now if the latest does not yet include entry `seq`."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.size > seq:
        return latest
    if keys is None:
        raise NotFound("no signed checkpoint covers this entry yet")
    db.begin_writing(session)  # a GET's report: this transaction writes
    checkpoint = make_checkpoint(session, keys)
    session.commit()
    db.end_writing(session)
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


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """Between two signed checkpoints; both sizes must be checkpoints the log has signed."""
    if old > new:
        raise ValidationFailed({"old": "must not be larger than new"})
    get_checkpoint(session, old)
    get_checkpoint(session, new)
    if old in (0, new):
        return []
    return with_stored_nodes(session, lambda get: merkle.consistency_proof(old, new, get))
