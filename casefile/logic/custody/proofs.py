"""Proofs from the stored custody tree, computed in memory (casefile/verifier/merkle.py) from
the stored nodes they need, read together rather than one at a time.

- `inclusion_proofs`: many entries' proofs at once, for reports. A report of n entries
  against a tree of s leaves needs at most n * O(log^2 s) node reads if each proof is fetched
  on its own; the proofs share most of their upper nodes, so the set of distinct positions is
  far smaller, and one statement fetches it (`stored_nodes`): PostgreSQL unnests two arrays,
  SQLite walks a JSON array (json_each), each position a lookup by primary key.
- `with_stored_nodes`: any computation over the tree (one inclusion proof, a checkpoint's
  root and consistency proof, the operator's verification), its nodes read with statements
  of a few fixed shapes that stay cached: PostgreSQL one LATERAL lookup per position,
  SQLite an OR of primary-key equalities per 8-64 positions. Appends sign checkpoints
  through it, so its statements are the ones bench/custody_append.py measured.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from casefile.db import Base
from casefile.model import CustodyNode
from casefile.verifier import merkle

Node = tuple[int, int]  # (level, index) of a perfect subtree
_PLACEHOLDER = bytes(merkle.HASH_SIZE)
T = TypeVar("T")
_NODES = Base.metadata.tables[CustodyNode.__tablename__]

# PostgreSQL: the positions as two parallel arrays, unnested.
_PG_NODES_AT = text(
    'SELECT n.level, n."index", n.hash'
    ' FROM unnest(CAST(:levels AS INTEGER[]), CAST(:indexes AS BIGINT[])) AS wanted(level, "index")'
    ' JOIN custody_nodes AS n ON n.level = wanted.level AND n."index" = wanted."index"'
)
# SQLite: the positions as a JSON array of [level, index] pairs; json_each drives the loop and
# each pair is a primary-key lookup (checked by tests/logic/test_custody_proofs.py's plan test).
_SQLITE_NODES_AT = text(
    'SELECT n.level, n."index", n.hash'
    " FROM json_each(:wanted) AS wanted"
    " JOIN custody_nodes AS n"
    " ON n.level = json_extract(wanted.value, '$[0]')"
    " AND n.\"index\" = json_extract(wanted.value, '$[1]')"
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
# PostgreSQL, for with_stored_nodes: the nodes at any number of positions, given as two
# arrays, in one statement.
_PG_NODES_LATERAL = select(_WANTED.c.level, _WANTED.c["index"], _WANTED_NODE.c.hash).join_from(
    _WANTED, _WANTED_NODE, true()
)


def stored_nodes(session: Session, positions: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes at these (level, index) positions, in one query."""
    wanted = sorted(set(positions))
    if not wanted:
        return {}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            _PG_NODES_AT,
            {"levels": [level for level, _ in wanted], "indexes": [i for _, i in wanted]},
        )
    else:
        rows = connection.execute(_SQLITE_NODES_AT, {"wanted": json.dumps(wanted)})
    return {(level, index): bytes(digest) for level, index, digest in rows}


def inclusion_proofs(session: Session, seqs: Sequence[int], size: int) -> dict[int, list[bytes]]:
    """The inclusion proof of each entry `seq` in the tree of `size` leaves; the same hashes
    custody.inclusion_proof gives one at a time. merkle.inclusion_proof chooses its nodes from
    positions alone, so a first pass with placeholder hashes lists them all."""
    wanted: set[Node] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return _PLACEHOLDER

    unique = sorted(set(seqs))
    for seq in unique:
        merkle.inclusion_proof(seq, size, record)
    found = stored_nodes(session, wanted)

    def get(level: int, index: int) -> bytes:
        digest = found.get((level, index))
        if digest is None:
            raise RuntimeError(f"custody tree node ({level}, {index}) missing")
        return digest

    return {seq: merkle.inclusion_proof(seq, size, get) for seq in unique}


def inclusion_proof(session: Session, seq: int, size: int) -> list[bytes]:
    return with_stored_nodes(session, lambda get: merkle.inclusion_proof(seq, size, get))


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
    found = _stored_nodes_in_few_statements(session, wanted)

    def get(level: int, index: int) -> bytes:
        digest = found.get((level, index))
        if digest is None:
            raise RuntimeError(f"custody tree node ({level}, {index}) missing")
        return digest

    return compute(get)


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


def _stored_nodes_in_few_statements(
    session: Session, positions: Iterable[tuple[int, int]]
) -> dict[Node, bytes]:
    """The stored hashes at these (level, index) positions, in as few queries as it takes."""
    wanted = sorted(set(positions))
    connection = session.connection()
    if connection.dialect.name == "postgresql":  # one query, however many
        levels = [level for level, _ in wanted]
        indexes = [index for _, index in wanted]
        rows = connection.execute(_PG_NODES_LATERAL, {"levels": levels, "indexes": indexes})
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


def node_getter(session: Session) -> merkle.GetNode:
    def get(level: int, index: int) -> bytes:
        node = session.get(CustodyNode, (level, index))
        if node is None:
            raise RuntimeError(f"custody tree node ({level}, {index}) missing")
        return node.hash

    return get
