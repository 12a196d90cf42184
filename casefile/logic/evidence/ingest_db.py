"""What `casefile ingest` asks of the database besides registering: the actor's right to add
evidence, which digests the case holds already, one SQLite connection for the run, the
planner's statistics kept up with the run (PostgreSQL), and registration that Ctrl-C does not
cut in half."""

from __future__ import annotations

import json
import logging
import signal
import threading
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.evidence.sharing import with_sha256s
from casefile.model import Evidence, EvidenceStatus, User

log = logging.getLogger("casefile")


def sha256s_in_case(
    session: Session, actor: User | None, case_id: uuid.UUID, sha256s: Collection[str]
) -> set[str]:
    """Which of these SHA-256 digests are active items of the case that the actor may see (a
    restricted item without a grant stays unknown: its bytes are registered anew)."""
    visible = authz.visible_evidence(session, actor, case_id)
    if not sha256s:
        return set()
    found = session.scalars(
        with_sha256s(
            session,
            visible.with_only_columns(Evidence.sha256).where(
                Evidence.status == EvidenceStatus.ACTIVE
            ),
            sha256s,
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


# PostgreSQL plans the run's lookups by digest (`sharing.with_sha256s`: one probe per digest)
# from the evidence table's statistics, which autovacuum refreshes only a minute or more after
# a bulk load began (in a large table, only once 10 % of it has changed). Meanwhile a case the
# statistics do not know is taken for a row or two, every index that starts with case_id looks
# as good as `(case_id, sha256)`, and a probe may read every item of the case: at 3,000 items,
# ~20 ms of server CPU per lookup of 64 digests instead of ~0.5. So once the run has added
# STATISTICS_FROM items, and again each time that doubles, the planner is asked how many items
# it believes the case has; if fewer than half as many as the run added, the table is analyzed
# (as PostgreSQL's documentation advises after a bulk load), which also replans the prepared
# statements that read it.
STATISTICS_FROM = 256
STATISTICS_LOCK_TIMEOUT = "2s"  # another ANALYZE or VACUUM holding the table: not waited for


def statistics_due(before: int, after: int) -> bool:
    """Whether the run's count of added items reached STATISTICS_FROM, or a doubling of it,
    going from `before` to `after`."""
    mark = STATISTICS_FROM
    while mark <= after:
        if mark > before:
            return True
        mark *= 2
    return False


def planned_items(session: Session, case_id: uuid.UUID) -> float:
    """How many items of the case PostgreSQL's planner believes there are."""
    plan = session.scalar(
        text("EXPLAIN (FORMAT JSON) SELECT 1 FROM evidence WHERE case_id = :case_id"),
        {"case_id": case_id},
    )
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def keep_statistics(session: Session, case_id: uuid.UUID, before: int, after: int) -> None:
    """After a batch took the run's count of added items from `before` to `after`: on
    PostgreSQL, analyze the evidence table if the planner's statistics lag behind the run
    (see STATISTICS_FROM). Only plans change: a failure (the table's lock not had in time) is
    logged and the run goes on; PostgreSQL itself skips, with a warning, a table the role
    does not own. In a transaction of its own, after the batch's commit."""
    if session.get_bind().dialect.name != "postgresql" or not statistics_due(before, after):
        return
    try:
        if planned_items(session, case_id) * 2 < after:
            session.execute(text(f"SET LOCAL lock_timeout = '{STATISTICS_LOCK_TIMEOUT}'"))
            session.execute(text("ANALYZE evidence"))
        session.commit()
    except DBAPIError as error:
        session.rollback()
        log.info("the evidence table's statistics were not refreshed: %s", error.orig)


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
