"""The custody log: one append function for every action, signed checkpoints, proofs.

Every action that touches a case or an item calls `append` inside its own transaction, so the
entry commits with the action or not at all. Appends are serialised (PostgreSQL: a
transaction-scoped advisory lock; SQLite: every transaction is BEGIN IMMEDIATE), so sequence
numbers are gapless and the Merkle tree is well defined.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    Select,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session, SessionTransaction

from casefile import db, driver_statements
from casefile.db import Base, utcnow
from casefile.logic import retry
from casefile.logic.errors import NotFound, ValidationFailed
from casefile.model import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode, User
from casefile.verifier import merkle
from casefile.verifier.custody_entry import canonical_json, entry_bytes, format_time
from casefile.verifier.signed_note import Checkpoint, sign_note, verifier_key

ADVISORY_LOCK_KEY = 0x63617365_66696C65  # "casefile"
KEYS = "casefile.custody_keys"
POLICY = "casefile.custody_policy"

T = TypeVar("T")
Node: TypeAlias = tuple[int, int]  # (level, index) of a perfect subtree
_PLACEHOLDER = bytes(merkle.HASH_SIZE)


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


def _lock_and_read_head(connection: Connection) -> list[Any]:
    """PostgreSQL: take the log's lock, then read its head, in one round trip.

    The two statements are pipelined on the psycopg connection (with the BEGIN psycopg sends
    first, if the transaction has not begun): the server still runs them one after the
    other, and under READ COMMITTED the head read takes its snapshot once the lock is held,
    so it sees every append committed before. Its results are converted as SQLAlchemy would.
    """
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"custody appends on PostgreSQL need psycopg 3, not {type(driver)!r}")
    with driver_statements.sqlalchemy_errors(connection, _LOCK_SQL), driver.cursor() as cursor:
        with driver.pipeline():
            cursor.execute(_LOCK_SQL, (ADVISORY_LOCK_KEY,))
            cursor.execute(_head_sql(connection.dialect))
        rows = cursor.fetchall()
    return [
        (
            size,
            checkpoint_size,
            None if time is None else time.astimezone(dt.UTC),  # as UTCDateTime gives it
            level,
            digest if digest is None else bytes(digest),
        )
        for size, checkpoint_size, time, level, digest in rows
    ]


def log_size(session: Session) -> int:
    last = session.scalar(select(func.max(CustodyEntry.seq)))
    return 0 if last is None else last + 1


# Appends run once per action, so their statements are built once, in Core: no ORM
# bookkeeping for tree nodes, which are written once and read only by position.
_ENTRIES = Base.metadata.tables[CustodyEntry.__tablename__]
_NODES = Base.metadata.tables[CustodyNode.__tablename__]
_CHECKPOINTS = Base.metadata.tables[CustodyCheckpoint.__tablename__]
_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
_ONE = literal_column("1", BigInteger)  # constants written into the statement: no parameters
_MAX_LEVEL = 63  # sequence numbers are BIGINT: a log never has 2**63 entries
_HEAD = select(
    # max() alone in its own SELECT: both databases answer it from the end of the index
    func.coalesce(
        select(func.max(_ENTRIES.c.seq)).scalar_subquery() + _ONE, literal_column("0")
    ).label("size")
).cte("head")
_LEVELS = (
    values(column("level", Integer), name="levels", literal_binds=True)
    .data([(level,) for level in range(_MAX_LEVEL)])
    .cte("levels")
)  # a named WITH clause: SQLite has no column list on a VALUES alias


def _shifted(size: Any, level: Any) -> Any:
    return size.op(">>", return_type=BigInteger)(level)


# The log's size, its latest checkpoint and the frontier (one perfect subtree per bit set in
# the size: at `level`, the node `(size >> level) - 1`) in one statement: an append reads its
# whole starting state in one round trip. Each node is a correlated lookup by primary key.
_HEAD_STATE = (
    select(
        _HEAD.c.size,
        *(
            select(column).order_by(_CHECKPOINTS.c.size.desc()).limit(_ONE).scalar_subquery()
            for column in (_CHECKPOINTS.c.size, _CHECKPOINTS.c.time)
        ),
        _LEVELS.c.level,
        select(_NODES.c.hash)
        .where(
            _NODES.c.level == _LEVELS.c.level,
            _NODES.c.index == _shifted(_HEAD.c.size, _LEVELS.c.level) - _ONE,
        )
        .scalar_subquery(),
    )
    .select_from(
        _HEAD.outerjoin(
            _LEVELS,
            _shifted(_HEAD.c.size, _LEVELS.c.level).op("&", return_type=BigInteger)(_ONE) == _ONE,
        )
    )
    .order_by(_LEVELS.c.level.desc())
)


@functools.cache
def _head_sql(dialect: Dialect) -> str:
    """_HEAD_STATE compiled once per dialect: SQLAlchemy cannot cache a statement with a
    literal VALUES list, and compiling it again costs 40 times what running it does."""
    return str(_HEAD_STATE.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


_HEAD_TYPES = (BigInteger(), BigInteger(), _CHECKPOINTS.c.time.type, Integer(), LargeBinary())


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
_NODE_QUERY_SIZES = (8, 16, 32, 64)  # positions per query, padded: few statements to cache
_WANTED = (
    func.unnest(
        bindparam("levels", type_=ARRAY(Integer)),
        bindparam("indexes", type_=ARRAY(BigInteger)),
    )
    .table_valued("level", "index")
    .render_derived(name="wanted")
)
_WANTED_NODE = (
    select(_NODES.c.hash)
    .where(_NODES.c.level == _WANTED.c.level, _NODES.c.index == _WANTED.c["index"])
    .limit(1)  # keeps it a lookup by primary key per position, whatever the statistics say
    .lateral("node")
)
# PostgreSQL: the nodes at any number of positions, given as two arrays, in one statement.
_PG_NODES_AT = select(_WANTED.c.level, _WANTED.c["index"], _WANTED_NODE.c.hash).join_from(
    _WANTED, _WANTED_NODE, true()
)
_STATE = "casefile.custody_state"


@dataclass
class _LogState:
    """The log's size, frontier and latest checkpoint as the current transaction sees them.

    Appends and checkpoints hold the log's lock until their transaction ends, so only this
    transaction changes these meanwhile, and it keeps them up to date. The state is kept in
    session.info for as long as the transaction (or savepoint) that read it is the session's
    innermost one: a new transaction, or any savepoint begun, released or rolled back since,
    reads it again.
    """

    transaction: SessionTransaction
    tree: merkle.CompactRange
    checkpoint: tuple[int, dt.datetime] | None  # (size, time) of the latest one


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _held(session: Session) -> _LogState | None:
    """The log's state if this transaction holds its lock already (pending rows flushed)."""
    state = session.info.get(_STATE)
    if isinstance(state, _LogState) and state.transaction is _innermost(session):
        session.flush()
        return state
    return None


def _state(session: Session) -> _LogState:
    """Take the log's lock (if this transaction does not hold it yet) and return its state."""
    state = _held(session)
    if state is not None:
        return state
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = _lock_and_read_head(connection)
    else:  # BEGIN IMMEDIATE holds the database's one write lock already
        rows = driver_statements.fetch_all(connection, _head_sql(connection.dialect), _HEAD_TYPES)
    session.flush()  # the action's own pending rows; the head read touches custody tables only
    size, checkpoint_size, checkpoint_time = rows[0][:3]
    frontier = [digest for *_, level, digest in rows if level is not None]
    if len(frontier) != size.bit_count() or None in frontier:
        missing = [level for *_, level, digest in rows if level is not None and digest is None]
        raise RuntimeError(
            f"custody tree nodes missing at levels {missing}; run `casefile custody verify`"
        )
    tree = merkle.CompactRange.from_frontier(size, frontier)
    checkpoint = None if checkpoint_size is None else (checkpoint_size, checkpoint_time)
    transaction = _innermost(session)
    if transaction is None:  # the queries above began one
        raise RuntimeError("no transaction after querying the custody log")
    state = _LogState(transaction, tree, checkpoint)
    session.info[_STATE] = state
    return state


@functools.cache
def _nodes_at(count: int) -> Select[int, int, bytes]:
    """SQLite: the nodes at `count` positions (parameters level_0, index_0, level_1...). An
    OR of equalities, answered from the primary key; SQLite would scan the whole table for a
    row-value IN list."""
    return select(_NODES.c.level, _NODES.c.index, _NODES.c.hash).where(
        or_(
            *(
                and_(
                    _NODES.c.level == bindparam(f"level_{row}", type_=Integer),
                    _NODES.c.index == bindparam(f"index_{row}", type_=BigInteger),
                )
                for row in range(count)
            )
        )
    )


def _forget_state(session: Session) -> None:
    session.info.pop(_STATE, None)


def _stored_nodes(session: Session, positions: Iterable[tuple[int, int]]) -> dict[Node, bytes]:
    """The stored hashes at these (level, index) positions, in as few queries as it takes."""
    wanted = sorted(set(positions))
    connection = session.connection()
    if connection.dialect.name == "postgresql":  # one query, however many
        levels = [level for level, _ in wanted]
        indexes = [index for _, index in wanted]
        rows = connection.execute(_PG_NODES_AT, {"levels": levels, "indexes": indexes})
        return {(level, index): digest for level, index, digest in rows}
    found: dict[Node, bytes] = {}
    largest = _NODE_QUERY_SIZES[-1]
    for start in range(0, len(wanted), largest):
        chunk = wanted[start : start + largest]
        slots = next(size for size in _NODE_QUERY_SIZES if size >= len(chunk))
        chunk += chunk[-1:] * (slots - len(chunk))  # repeat the last: same statement shape
        parameters: dict[str, int] = {}
        for row, (level, index) in enumerate(chunk):
            parameters[f"level_{row}"] = level
            parameters[f"index_{row}"] = index
        for level, index, digest in connection.execute(_nodes_at(slots), parameters):
            found[level, index] = digest
    return found


def with_stored_nodes(session: Session, compute: Callable[[merkle.GetNode], T]) -> T:
    """`compute(get_node)` over the stored tree, reading every node it needs in one query.

    The merkle functions choose which nodes to read from sizes and positions alone, never
    from the hashes they get, so a first run with placeholder hashes lists the nodes; the
    second run gets the stored ones (a missing node raises RuntimeError, as node_getter does).
    """
    wanted: list[Node] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return _PLACEHOLDER

    compute(record)
    found = _stored_nodes(session, wanted)

    def get(level: int, index: int) -> bytes:
        digest = found.get((level, index))
        if digest is None:
            raise RuntimeError(f"custody tree node ({level}, {index}) missing")
        return digest

    return compute(get)


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
    _state(session)


def append_many(session: Session, entries: Sequence[NewEntry]) -> list[CustodyEntry]:
    """Append entries in order in the caller's transaction: the same log as one `append` per
    entry (same sequence numbers, leaves, tree nodes and automatic checkpoints, at the same
    sizes), written with one multi-row INSERT of entries and one of tree nodes per run of
    entries between two automatic checkpoints. On any failure nothing of the call is left
    in the log's state (the caller's transaction is to be rolled back)."""
    if not entries:
        return []
    state = _held(session) or _state(session)  # the state hold_lock took, if it did
    written: list[CustodyEntry] = []
    try:
        rows: list[dict[str, Any]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for new in entries:
            fields = _entry_fields(state.tree.size, new)
            nodes += state.tree.append(fields["leaf_hash"])
            rows.append(fields)
            if _checkpoint_due(session, state):
                _write(session, rows, nodes)
                written += (CustodyEntry(**fields) for fields in rows)
                rows, nodes = [], []
                _auto_checkpoint(session, state)
        _write(session, rows, nodes)
    except BaseException:
        _forget_state(session)  # the tree may be ahead of what was written: read it again
        raise
    # The rows are written. The caller gets their values as entities that are not attached to
    # the session (attaching them costs a tenth of an append); adding one back would insert
    # it twice, which the primary key refuses.
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
        parameters = {"levels": list(levels), "indexes": list(indexes), "hashes": list(hashes)}
        for row, fields in enumerate(rows):
            parameters.update((f"{name}_{row}", value) for name, value in fields.items())
        driver_statements.execute(connection, _pg_insert_entries_and_nodes(len(rows)), parameters)
    else:
        driver_statements.execute_many(connection, _INSERT_ENTRY, rows)
        driver_statements.execute_many(
            connection,
            _INSERT_NODES,
            [{"level": level, "index": index, "hash": digest} for level, index, digest in nodes],
        )


@functools.lru_cache(maxsize=128)
def _pg_insert_entries_and_nodes(count: int) -> Any:
    """PostgreSQL: `count` entries (parameters seq_0, time_0, ... seq_1, ...) as one
    multi-row VALUES and their nodes (three arrays) in one statement, so one round trip.
    One statement object per count: driver_statements compiles each once."""
    entries = insert(_ENTRIES).values(
        [
            {
                column.name: bindparam(f"{column.name}_{row}", type_=column.type)
                for column in _ENTRIES.c
            }
            for row in range(count)
        ]
    )
    return (
        insert(_NODES)
        .from_select(
            ["level", "index", "hash"],
            select(_NEW_NODES.c.level, _NEW_NODES.c["index"], _NEW_NODES.c.hash),
        )
        .add_cte(entries.cte("entries"))
    )


def _checkpoint_due(session: Session, state: _LogState) -> bool:
    keys: CustodyKeys | None = session.info.get(KEYS)
    policy: CheckpointPolicy | None = session.info.get(POLICY)
    if keys is None or policy is None:
        return False
    latest = state.checkpoint
    behind = state.tree.size - (latest[0] if latest else 0)
    stale = latest is None or utcnow() - latest[1] >= dt.timedelta(minutes=policy.every_minutes)
    return behind >= policy.every_entries or (behind > 0 and stale)


def _auto_checkpoint(session: Session, state: _LogState) -> None:
    keys: CustodyKeys | None = session.info.get(KEYS)
    if keys is not None and _checkpoint_due(session, state):
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
    state = _state(session)
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


def inclusion_proof(session: Session, seq: int, size: int) -> list[bytes]:
    return with_stored_nodes(session, lambda get: merkle.inclusion_proof(seq, size, get))


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """Between two signed checkpoints; both sizes must be checkpoints the log has signed."""
    if old > new:
        raise ValidationFailed({"old": "must not be larger than new"})
    get_checkpoint(session, old)
    get_checkpoint(session, new)
    if old in (0, new):
        return []
    return with_stored_nodes(session, lambda get: merkle.consistency_proof(old, new, get))


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
