"""`casefile custody verify`: recompute the whole log and compare it with what is stored.

It reads every entry once in sequence order (bounded memory), recomputes each leaf from the
entry's fields, rebuilds the tree, and checks every stored checkpoint's signature and root,
every stored tree node, and consistency between successive checkpoints. It reports the first
entry, node or checkpoint that does not match. It never repairs anything.

It is written for speed as well (a million entries in seconds, see bench/README.md):

* rows come straight from the driver's cursor, with no ORM, Row or type processing per row
  (PostgreSQL writes times and ids as text itself, through a server-side cursor that a
  thread keeps one batch ahead);
* each leaf is first computed by a transcription of the canonical encoding (entry_bytes);
  an entry whose leaf then differs from its recorded one is recomputed exactly as
  custody_log.append computes it before it is reported, so a mismatch is never an artefact of
  the fast path;
* the stored interior nodes are streamed level by level in index order and compared with
  the nodes the rebuilt tree completes, instead of being joined row by row; the leaf nodes
  are compared with the entries' leaf hashes by the database, in one query;
* checkpoint signatures are checked in a thread alongside (Ed25519 releases the GIL).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Text,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from casefile.db import Base
from casefile.model import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode
from casefile.verifier import merkle
from casefile.verifier.custody_entry import entry_bytes, format_time
from casefile.verifier.signed_note import (
    Checkpoint,
    NoteError,
    VerifierKey,
    open_note,
    parse_verifier_key,
)

BATCH = 20_000
Progress = Callable[[int], None]

_ENTRIES = Base.metadata.tables[CustodyEntry.__tablename__]
_NODES = Base.metadata.tables[CustodyNode.__tablename__]
_ACTIONS = frozenset(action.value for action in CustodyAction)
_PROOFS_PER_QUERY = 128


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
        checkpoints = {
            row.size: row
            for row in session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.size))
        }
        counts["checkpoints"] = len(checkpoints)
        # Signatures are checked in a thread while the entries are walked (Ed25519 lets go of
        # the GIL: at a checkpoint every 100 entries they are seconds per million entries);
        # a forged checkpoint is still the mismatch reported, whatever the walk finds.
        with ThreadPoolExecutor(1, "casefile-verify-signatures") as pool:
            notes = [(row.size, row.origin, row.root, row.note) for row in checkpoints.values()]
            signatures = pool.submit(_ensure_signed_as_stored, notes, verifier_key)
            try:
                size = _entries(session, checkpoints, progress, counts)
            finally:
                signatures.result()
        _ensure_checkpoints_within_log(checkpoints, size)
        _node_counts(session, size)
        _consistency(session, checkpoints)
    except _Found as found:
        return VerifyReport(mismatch=found.mismatch, **counts)
    return VerifyReport(mismatch=None, **counts)


def _ensure_signed_as_stored(notes: list[tuple[int, str, bytes, str]], verifier_key: str) -> None:
    """Each (size, origin, root, note), in size order, is signed by the key and says what
    its row says."""
    key: str | VerifierKey = verifier_key
    with contextlib.suppress(NoteError, ValueError):  # else open_note says why, as before
        key = parse_verifier_key(verifier_key)  # once, not once per checkpoint
    for size, origin, root, note in notes:
        try:
            signed = Checkpoint.parse(open_note(note, key))
        except (NoteError, ValueError) as error:
            raise _Found(Mismatch("checkpoint", size, f"signature or format: {error}")) from None
        if (signed.origin, signed.size, signed.root) != (origin, size, root):
            raise _Found(Mismatch("checkpoint", size, "stored fields differ from the signed note"))


# --- entries and nodes, in one pass -----------------------------------------------------------


_PG_TIME_TEXT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'  # format_time's format, in to_char's terms
_IDS_REMEMBERED = 1 << 16  # SQLite: actor, case and item ids recur; hyphenate each once


@functools.cache
def _entry_rows(dialect: str) -> Select[Any]:
    """Every entry in sequence order, read with _driver_rows, so as the driver returns the
    columns; except that PostgreSQL writes the time as the text and the ids as the JSON that
    the canonical encoding embeds (datetime and UUID objects would cost psycopg more than the
    rest of an entry's check). SQLite returns text anyway, which _sqlite_time_text and
    _sqlite_id_json finish."""
    entries = _ENTRIES.c
    time: Any = entries.time
    ids: list[Any] = [entries.actor_id, entries.case_id, entries.item_id]
    if dialect == "postgresql":
        time = func.to_char(func.timezone("UTC", entries.time), _PG_TIME_TEXT)
        ids = [
            func.coalesce(literal('"').concat(cast(column, Text)).concat('"'), "null")
            for column in ids
        ]
    actor_id, case_id, item_id = ids
    return select(
        entries.seq,
        time,
        actor_id,
        entries.actor_label,
        entries.action,
        case_id,
        item_id,
        entries.details,
        entries.leaf_hash,
    ).order_by(entries.seq)


def _sqlite_time_text(raw: Any) -> str:
    """format_time's text from SQLite's "YYYY-MM-DD HH:MM:SS.ffffff" (UTC)."""
    return f"{raw[:10]}T{raw[11:]}Z" if raw[10:11] == " " else str(raw)


def _sqlite_id_json(raw: Any) -> str:
    """json.dumps(str(UUID)) from SQLite's 32 hex digits; null for NULL."""
    if raw is None:
        return "null"
    return f'"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"'


def _as_is(text: Any) -> Any:
    return text


def _entries(
    session: Session,
    checkpoints: dict[int, CustodyCheckpoint],
    progress: Progress | None,
    counts: dict[str, int],
) -> int:
    if 0 in checkpoints and checkpoints[0].root != merkle.EMPTY_ROOT:
        raise _Found(Mismatch("checkpoint", 0, "the empty log's root is wrong"))
    connection = session.connection()
    with ExitStack() as cursors:
        rows = _driver_rows(connection, _entry_rows(connection.dialect.name), cursors)
        nodes = _StoredNodes(connection, cursors)
        walk = _Walk(connection, checkpoints, nodes, progress)
        walk.run(rows)
    _leaf_nodes(connection, walk.size)
    counts["entries"] = walk.size
    counts["nodes"] = 2 * walk.size - walk.size.bit_count()  # all of them, each checked
    return walk.size


_FIRST_WRONG_LEAF_NODE = (
    select(func.min(_ENTRIES.c.seq))
    .select_from(
        _ENTRIES.outerjoin(_NODES, and_(_NODES.c.level == 0, _NODES.c.index == _ENTRIES.c.seq))
    )
    .where(or_(_NODES.c.hash.is_(None), _NODES.c.hash != _ENTRIES.c.leaf_hash))
)


def _leaf_nodes(connection: Connection, size: int) -> None:
    """Each entry's leaf node holds its leaf hash (which the walk checked), compared inside
    the database: one query instead of a million rows. Nodes beyond the log: _node_counts."""
    wrong = connection.execute(_FIRST_WRONG_LEAF_NODE).scalar()
    if wrong is not None and wrong < size:
        raise _Found(Mismatch("node", 0, f"leaf node {wrong} is missing or differs"))


def _driver_rows(connection: Connection, query: Select[Any], cursors: ExitStack) -> Iterator[Any]:
    """The rows of `query` as the DBAPI cursor returns them, BATCH at a time, without a
    SQLAlchemy Row for each (that alone costs seconds per million rows). The cursor is
    closed with `cursors`, even when the walk stops early.

    On PostgreSQL the cursor is a named, server-side one, so only a batch or two is ever in
    memory, and a thread fetches the next batch while this one is checked: the server
    produces rows while Python hashes them, instead of each waiting for the other."""
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the session's connection is closed")
    if connection.dialect.name != "postgresql":
        cursor = driver.cursor()
        cursors.callback(cursor.close)
        cursor.execute(sql)
        while rows := cursor.fetchmany(BATCH):
            yield from rows
        return
    cursor = driver.cursor(name=f"casefile_verify_{next(_CURSOR_NUMBERS)}")
    cursors.callback(cursor.close)
    cursor.execute(sql)
    fetcher = ThreadPoolExecutor(1, "casefile-verify")
    cursors.callback(fetcher.shutdown)  # runs before cursor.close: waits for a fetch under way
    pending = fetcher.submit(cursor.fetchmany, BATCH)
    while rows := pending.result():
        pending = fetcher.submit(cursor.fetchmany, BATCH)
        yield from rows


_CURSOR_NUMBERS = itertools.count()


class _StoredNodes:
    """The stored interior nodes, one stream per level, each in index order.

    The walk rebuilds the tree leaf by leaf, completing each level's nodes in index order
    and every node after its two children; so comparing each node it completes with the
    next stored one of that level checks that every stored node is the hash of its
    (already checked) children, with one range scan per level and no joins. (Level 0, the
    leaves, is compared with the entries' leaf hashes by the database: see _leaf_nodes.)
    """

    def __init__(self, connection: Connection, cursors: ExitStack) -> None:
        self.connection = connection
        self.cursors = cursors
        self.levels: list[Iterator[Any]] = [iter(())]  # level 0 is not streamed

    def level(self, level: int) -> Iterator[Any]:
        while len(self.levels) <= level:
            query = (
                select(_NODES.c.index, _NODES.c.hash)
                .where(_NODES.c.level == len(self.levels))
                .order_by(_NODES.c.index)
            )
            self.levels.append(_driver_rows(self.connection, query, self.cursors))
        return self.levels[level]


def _entry_gap(expected: int, seq: int) -> _Found:
    gap = f"missing (the next stored entry is {seq})"
    return _Found(Mismatch("entry", expected, gap if seq > expected else "out of order"))


def _ensure_root_matches(checkpoint: CustodyCheckpoint, frontier: list[bytes]) -> None:
    if checkpoint.root != merkle.CompactRange.from_frontier(checkpoint.size, frontier).root():
        message = "its root does not match the entries it covers"
        raise _Found(Mismatch("checkpoint", checkpoint.size, message))


def _node_mismatch(level: int, index: int, stored: Any) -> _Found:
    if stored is None or stored[0] != index:
        return _Found(Mismatch("node", level, f"node {index} is missing"))
    return _Found(Mismatch("node", level, f"node {index} is not the hash of its children"))


class _Walk:
    """Recomputes each entry's leaf in sequence order and rebuilds the tree from them."""

    def __init__(
        self,
        connection: Connection,
        checkpoints: dict[int, CustodyCheckpoint],
        nodes: _StoredNodes,
        progress: Progress | None,
    ) -> None:
        self.connection = connection
        self.checkpoints = checkpoints
        self.nodes = nodes
        self.progress = progress
        self.size = 0  # entries walked, once all are
        # The text of a time and the JSON of an id from what the query returns: see
        # _entry_rows (PostgreSQL writes them itself).
        self.time_text: Callable[[Any], str] = _as_is
        self.id_json: Callable[[Any], str] = _as_is
        if connection.dialect.name != "postgresql":
            self.time_text = _sqlite_time_text
            self.id_json = functools.lru_cache(maxsize=_IDS_REMEMBERED)(_sqlite_id_json)

    def run(self, rows: Iterable[Any]) -> None:
        """The loop runs a million times for a million entries, so it is written out flat:
        it appends to the tree as merkle.CompactRange.append does, on a frontier of its own
        (the hashes of the perfect subtrees so far, largest first), comparing each node it
        completes with the stored one as it goes."""
        checkpoints, progress, streams = self.checkpoints, self.progress, self.nodes.levels
        sha256, time_text, id_json = hashlib.sha256, self.time_text, self.id_json
        frontier: list[bytes] = []
        size = 0
        for expected, row in enumerate(rows):
            seq, time, actor_id, label, action, case_id, item_id, details, stored = row
            if seq != expected:
                raise _entry_gap(expected, seq)
            if action not in _ACTIONS:
                raise _Found(Mismatch("entry", seq, f"unknown action {action!r}"))
            # entry_bytes, transcribed for speed: ids, time and action need no JSON escaping
            # (hex digits and hyphens, digits and punctuation, snake_case), the label is
            # escaped as json.dumps(ensure_ascii=False) does. Whatever does not match, for
            # whatever reason, is recomputed with entry_bytes itself before it is reported.
            try:
                encoded = (
                    f'{{"action":"{action}","actor":{{"id":{id_json(actor_id)},'
                    f'"label":{encode_basestring(label)}}},"case":{id_json(case_id)},'
                    f'"details":{details},"item":{id_json(item_id)},'
                    f'"seq":{seq},"time":"{time_text(time)}"}}'
                ).encode()
            except (TypeError, ValueError):  # not what append writes: left to the exact path
                encoded = b""
            leaf = sha256(b"\x00" + encoded).digest()
            if leaf != stored:
                leaf = self.exact_leaf(seq, stored)
            # Each trailing 1-bit of seq is a perfect subtree on the frontier that this leaf
            # completes a parent for: merge, and check the parent with the stored node.
            node, level, index = leaf, 0, seq
            while index & 1:
                node = sha256(b"\x01" + frontier.pop() + node).digest()
                level += 1
                index >>= 1
                stream = streams[level] if level < len(streams) else self.nodes.level(level)
                stored_node = next(stream, None)
                if stored_node is None or stored_node[0] != index or stored_node[1] != node:
                    raise _node_mismatch(level, index, stored_node)
            frontier.append(node)
            size = seq + 1
            if size in checkpoints:
                _ensure_root_matches(checkpoints[size], frontier)
            if progress is not None and size % BATCH == 0:
                progress(size)
        self.size = size

    def exact_leaf(self, seq: int, stored: bytes) -> bytes:
        """The leaf of an entry whose fast leaf differs from its recorded one, computed
        exactly as custody_log.append computes it, from the row read through the columns' types
        (the ORM's view of the entry); a mismatch if that differs too."""
        entry = self.connection.execute(select(_ENTRIES).where(_ENTRIES.c.seq == seq)).one()
        leaf = merkle.leaf_hash(
            entry_bytes(
                seq=entry.seq,
                time=format_time(entry.time),
                actor_id=str(entry.actor_id) if entry.actor_id else None,
                actor_label=entry.actor_label,
                action=entry.action.value,
                case_id=str(entry.case_id) if entry.case_id else None,
                item_id=str(entry.item_id) if entry.item_id else None,
                details_json=entry.details,
            )
        )
        if leaf != stored:
            message = "its fields do not hash to its recorded leaf hash"
            raise _Found(Mismatch("entry", seq, message))
        return leaf


def _ensure_checkpoints_within_log(checkpoints: dict[int, CustodyCheckpoint], size: int) -> None:
    beyond = [cp for cp in checkpoints if cp > size]
    if beyond:
        raise _Found(
            Mismatch(
                "checkpoint",
                min(beyond),
                f"covers {min(beyond)} entries but the log holds {size}: entries were removed",
            )
        )


def _node_counts(session: Session, size: int) -> None:
    """Exactly the nodes a log of `size` entries has are stored (the walk checked each of
    them; this finds any stored beyond them)."""
    per_level = dict(
        session.execute(select(CustodyNode.level, func.count()).group_by(CustodyNode.level)).all()
    )
    for level in range(max([*per_level, size.bit_length()]) + 1):
        wanted = size >> level
        if per_level.get(level, 0) != wanted:
            raise _Found(
                Mismatch("node", level, f"{per_level.get(level, 0)} stored, {wanted} expected")
            )


def _consistency(session: Session, checkpoints: dict[int, CustodyCheckpoint]) -> None:
    """Proofs served from the stored nodes really do link each checkpoint to the next."""
    from casefile.logic.custody.proofs import with_stored_nodes  # noqa: PLC0415

    pairs = [(old, new) for old, new in itertools.pairwise(sorted(checkpoints)) if old]
    for start in range(0, len(pairs), _PROOFS_PER_QUERY):
        group = pairs[start : start + _PROOFS_PER_QUERY]
        try:  # the nodes of many proofs, read together
            proofs: list[list[bytes]] | None = with_stored_nodes(
                session, functools.partial(_consistency_proofs, group)
            )
        except RuntimeError:  # a node is missing: find out for which checkpoint, one by one
            proofs = None
        for position, (old, new) in enumerate(group):
            try:
                if proofs is None:
                    proof = with_stored_nodes(
                        session, functools.partial(_consistency_proofs, [(old, new)])
                    )[0]
                else:
                    proof = proofs[position]
                merkle.verify_consistency(
                    old, new, checkpoints[old].root, checkpoints[new].root, proof
                )
            except (merkle.ProofError, RuntimeError) as error:
                raise _Found(
                    Mismatch("checkpoint", new, f"not consistent with checkpoint {old}: {error}")
                ) from None


def _consistency_proofs(pairs: list[tuple[int, int]], get: merkle.GetNode) -> list[list[bytes]]:
    return [merkle.consistency_proof(old, new, get) for old, new in pairs]
