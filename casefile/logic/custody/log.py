"""The custody log's append side: one append function for every action.

Every action that touches a case or an item calls `append` (or `append_many`) inside its own
transaction, so the entry commits with the action or not at all. The first append of a
transaction takes the log's lock (log_state); automatic checkpoints are signed as the log
reaches them (checkpoints).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, LargeBinary, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from casefile import driver_statements
from casefile.db import Base, utcnow
from casefile.logic.custody import checkpoints, log_state
from casefile.model import CustodyAction, CustodyEntry, CustodyNode, User
from casefile.verifier import merkle
from casefile.verifier.custody_entry import canonical_json, entry_bytes, format_time

# Appends run once per action, so their statements are built once, in Core: no ORM
# bookkeeping for tree nodes, which are written once and read only by position.
_ENTRIES = Base.metadata.tables[CustodyEntry.__tablename__]
_NODES = Base.metadata.tables[CustodyNode.__tablename__]
_INSERT_ENTRY = insert(_ENTRIES).values(
    {column.name: bindparam(column.name, type_=column.type) for column in _ENTRIES.c}
)
_INSERT_NODES = insert(_NODES)
_NEW_NODES = (
    func.unnest(
        bindparam("levels", type_=ARRAY(Integer)),
        bindparam("indexes", type_=ARRAY(BigInteger)),
        bindparam("hashes", type_=ARRAY(LargeBinary)),
    )
    .table_valued("level", "index", "hash")
    .render_derived(name="node")
)


LABEL_WIDTH = 400  # custody_entries.actor_label


def actor_label(actor: User | None) -> str:
    """Who acted, as the entry records and hashes it: "name <e-mail>". A display name (up to
    200 characters) with a long address (up to 254) can exceed the column: the name is then
    shortened, marked with an ellipsis, so the label stored is the label hashed, on every
    database (PostgreSQL would refuse the entry, and with it the action)."""
    if actor is None:
        return "operator on the server (command line)"
    label = f"{actor.display_name} <{actor.email}>"
    if len(label) <= LABEL_WIDTH:
        return label
    room = max(LABEL_WIDTH - len(actor.email) - len(" <>") - 1, 0)
    return f"{actor.display_name[:room]}… <{actor.email}>"[:LABEL_WIDTH]


@dataclass(frozen=True)
class NewEntry:
    """One entry for `append_many`: what `append` takes, as a value."""

    actor: User | None
    action: CustodyAction
    case_id: uuid.UUID | None = None
    item_id: uuid.UUID | None = None
    details: Mapping[str, Any] | None = None


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
    [entry] = append_many(
        session, [NewEntry(actor, action, case_id=case_id, item_id=item_id, details=details)]
    )
    return entry


def hold_lock(session: Session) -> None:
    """Take the log's lock now, in the caller's transaction (as the first append would), so
    that rows the caller adds before its appends are flushed under it (the lock order)."""
    log_state.take_lock(session)


def append_many(
    session: Session, entries: Sequence[NewEntry], *, entities: bool = True
) -> list[CustodyEntry]:
    """Append entries in order in the caller's transaction: the same log as one `append` per
    entry (same sequence numbers, leaves, tree nodes and automatic checkpoints, at the same
    sizes), written with one multi-row INSERT of entries and one of tree nodes per run of
    entries between two automatic checkpoints (PostgreSQL: one statement of arrays). On any
    failure nothing of the call is left in the log's state (the caller's transaction is to be
    rolled back). Returns the entries written, unless `entities` is false (a caller that does
    not use them: bulk intake)."""
    if not entries:
        return []
    state = log_state.held(session) or log_state.take_lock(
        session
    )  # the state hold_lock took, if it did
    written: list[CustodyEntry] = []
    try:
        rows: list[dict[str, Any]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for new in entries:
            fields = _entry_fields(state.tree.size, new)
            nodes += state.tree.append(fields["leaf_hash"])
            rows.append(fields)
            if checkpoints.due(session, state):
                _write(session, rows, nodes)
                if entities:
                    written += (CustodyEntry(**fields) for fields in rows)
                rows, nodes = [], []
                checkpoints.make_if_due(session, state)
        _write(session, rows, nodes)
    except BaseException:
        log_state.forget(session)  # the tree may be ahead of what was written: read it again
        raise
    # The rows are written. The caller gets their values as entities that are not attached to
    # the session (attaching them costs a tenth of an append); adding one back would insert
    # it twice, which the primary key refuses.
    if entities:
        written += (CustodyEntry(**fields) for fields in rows)
    return written


def _entry_fields(size: int, new: NewEntry) -> dict[str, Any]:
    """The row of the entry at position `size`, with its leaf hash."""
    actor = new.actor
    moment = utcnow()
    details_json = canonical_json(dict(new.details or {}))
    label = actor_label(actor)
    leaf = merkle.leaf_hash(
        entry_bytes(
            seq=size,
            time=format_time(moment),
            actor_id=str(actor.id) if actor else None,
            actor_label=label,
            action=new.action.value,
            case_id=str(new.case_id) if new.case_id else None,
            item_id=str(new.item_id) if new.item_id else None,
            details_json=details_json,
        )
    )
    return {
        "seq": size,
        "time": moment,
        "actor_id": actor.id if actor else None,
        "actor_label": label,
        "action": new.action,
        "case_id": new.case_id,
        "item_id": new.item_id,
        "details": details_json,
        "leaf_hash": leaf,
    }


def _write(
    session: Session, rows: Sequence[Mapping[str, Any]], nodes: Sequence[tuple[int, int, bytes]]
) -> None:
    """Entries and the tree nodes they complete: one statement each (PostgreSQL: one in all),
    run on the driver's cursor (driver_statements: a single append costs 25-70% less CPU than
    through Connection.execute, bench/README.md)."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        levels, indexes, hashes = zip(*nodes, strict=True)
        parameters: dict[str, Any] = {
            "levels": list(levels),
            "indexes": list(indexes),
            "hashes": list(hashes),
        }
        parameters.update((name, [row[name] for row in rows]) for name in _ENTRY_NAMES)
        driver_statements.execute(connection, _PG_INSERT_ENTRIES_AND_NODES, parameters)
    else:
        driver_statements.execute_many(connection, _INSERT_ENTRY, rows)
        driver_statements.execute_many(
            connection,
            _INSERT_NODES,
            [{"level": level, "index": index, "hash": digest} for level, index, digest in nodes],
        )


_ENTRY_NAMES = tuple(column.name for column in _ENTRIES.c)
# PostgreSQL: the entries (one array per column) and their nodes (three arrays) in one
# statement, so one round trip whatever their number. A statement of a few parameters, the
# same text every time: psycopg parses a statement's text once if it is under 4 KiB with at
# most 50 parameters (a VALUES row per entry, 9 parameters each, was parsed on every append).
_NEW_ENTRIES = driver_statements.unnest(
    "entry", [(column.name, column.type) for column in _ENTRIES.c]
)
_PG_INSERT_ENTRIES_AND_NODES = (
    insert(_NODES)
    .from_select(
        ["level", "index", "hash"],
        select(_NEW_NODES.c.level, _NEW_NODES.c["index"], _NEW_NODES.c.hash),
    )
    .add_cte(
        insert(_ENTRIES)
        .from_select(list(_ENTRY_NAMES), select(*(_NEW_ENTRIES.c[name] for name in _ENTRY_NAMES)))
        .cte("entries")
    )
)
