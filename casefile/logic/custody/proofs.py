"""Inclusion proofs for many custody entries at once: every stored tree node they need read
in one query, the proofs computed in memory (casefile/verifier/merkle.py).

A report of n entries against a tree of s leaves needs at most n * O(log^2 s) node reads if
each proof is fetched on its own; the proofs share most of their upper nodes, so the set of
distinct positions is far smaller, and one statement fetches it: PostgreSQL unnests two
arrays, SQLite walks a JSON array (json_each), each position a lookup by primary key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from casefile.verifier import merkle

Node = tuple[int, int]  # (level, index) of a perfect subtree
_PLACEHOLDER = bytes(merkle.HASH_SIZE)

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
