"""What `casefile ingest` asks of the database besides registering: the actor's right to add
evidence, which digests the case holds already, one SQLite connection for the run, and
registration that Ctrl-C does not cut in half."""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.model import Evidence, EvidenceStatus, User


def sha256s_in_case(
    session: Session, actor: User | None, case_id: uuid.UUID, sha256s: Collection[str]
) -> set[str]:
    """Which of these SHA-256 digests are active items of the case that the actor may see (a
    restricted item without a grant stays unknown: its bytes are registered anew)."""
    visible = authz.visible_evidence(session, actor, case_id)
    if not sha256s:
        return set()
    found = session.scalars(
        visible.with_only_columns(Evidence.sha256).where(
            Evidence.sha256.in_(sorted(set(sha256s))),
            Evidence.status == EvidenceStatus.ACTIVE,
        )
    )
    return set(found)


def sha256_in_case(session: Session, actor: User | None, case_id: uuid.UUID, sha256: str) -> bool:
    """Whether an active item of the case that the actor may see has this SHA-256."""
    return sha256 in sha256s_in_case(session, actor, case_id, [sha256])


def authorize(session: Session, actor: User | None, case_id: uuid.UUID) -> None:
    """Refuse at once an actor who may not add evidence to the case."""
    authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE)
    session.commit()  # end the read: SQLite takes its write lock at BEGIN


@contextmanager
def one_connection(session: Session) -> Iterator[Session]:
    """A session like `session` that keeps one SQLite connection for the whole run.

    The SQLite engine opens a connection per transaction (NullPool); each one costs a connect,
    its pragmas and a fresh read of the schema, and closing the last one checkpoints and
    removes the write-ahead log. Over thousands of one-file transactions that doubles the
    time. Transactions, commits and the custody log's settings are the same. Other databases
    keep their connections in a pool already: `session` itself is used."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        yield session
        return
    with (
        bind.connect() as connection,
        Session(
            bind=connection,
            expire_on_commit=False,
            info={
                key: session.info[key]
                for key in (custody_checkpoints.KEYS, custody_checkpoints.POLICY)
                if key in session.info
            },
        ) as own,
    ):
        yield own


@contextmanager
def interruptions_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise KeyboardInterrupt; a
    second Ctrl-C does not wait. Only the main thread receives signals, so elsewhere this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        del frame
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
