"""RFC 6962 / RFC 9162 section 2.1 Merkle trees over SHA-256.

Standard library only, so that it can ship inside offline court bundles.

Conventions used throughout:

* Leaves are numbered from 0; a tree of ``size`` leaves covers leaves ``[0, size)``.
* ``leaf_hash(data) = SHA-256(0x00 || data)``,
  ``node_hash(left, right) = SHA-256(0x01 || left || right)``, and the root of
  the empty tree is ``SHA-256("")``.
* The *perfect subtree* at ``(level, index)`` is the hash of the ``2**level``
  leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf
  hash itself. Once it exists it never changes, so it is what a store keeps.
  The hash of an imperfect (right-edge) subtree depends on the tree size and is
  never stored: it is folded from the perfect subtrees of the binary
  decomposition of its width.
* A ``get_node(level, index)`` callable returns a stored perfect subtree hash.

Proof verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step;
every failure raises ``ProofError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeAlias

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "GetNode",
    "MemoryNodes",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_at",
    "roots_at_sizes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

GetNode: TypeAlias = Callable[[int, int], bytes]
"""``get_node(level, index)``: the stored hash of a perfect subtree."""


class ProofError(ValueError):
    """A Merkle proof, or the sizes and roots it is checked against, did not verify."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# --------------------------------------------------------------------------
# Input checks


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ensure_hash(value: object, what: str) -> None:
    if not _is_hash(value):
        msg = f"{what} must be {HASH_SIZE} bytes"
        raise ValueError(msg)


def _ensure_count(value: object, what: str) -> None:
    if not _is_count(value):
        msg = f"{what} must be a non-negative integer, got {value!r}"
        raise ValueError(msg)


def _ensure_proof_hash(value: object, what: str) -> None:
    if not _is_hash(value):
        msg = f"{what} is not a {HASH_SIZE}-byte hash"
        raise ProofError(msg)


def _ensure_proof_count(value: object, what: str) -> None:
    if not _is_count(value):
        msg = f"{what} must be a non-negative integer, got {value!r}"
        raise ProofError(msg)


def _ensure_proof_path(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _ensure_proof_hash(element, f"proof hash #{position}")


# --------------------------------------------------------------------------
# Compact range: the right-edge frontier of a growing tree


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Root of adjacent subtrees given largest (leftmost) first, merged right to left."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


class CompactRange:
    """The perfect subtrees covering leaves ``[0, size)``: O(log n) state for appends.

    The frontier holds one hash per set bit of ``size``, largest subtree first,
    e.g. size 6 = 4 + 2 is ``[hash(leaves 0-3), hash(leaves 4-5)]``.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_frontier(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Restore the state saved by ``size`` and ``frontier()``."""
        _ensure_count(size, "size")
        if len(hashes) != size.bit_count():
            msg = f"size {size} needs {size.bit_count()} frontier hashes, got {len(hashes)}"
            raise ValueError(msg)
        for position, value in enumerate(hashes):
            _ensure_hash(value, f"frontier hash #{position}")
        restored = cls()
        restored._size = size
        restored._hashes = list(hashes)
        return restored

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def frontier(self) -> list[bytes]:
        """Hashes of the perfect subtrees of the binary decomposition of size, largest first."""
        return list(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf *hash* (see ``leaf_hash``), not the raw entry.

        Returns every perfect subtree this append completed as ``(level, index,
        hash)``, starting with ``(0, leaf_index, leaf)`` and going up.
        """
        _ensure_hash(leaf, "leaf hash")
        index = self._size
        completed = [(0, index, leaf)]
        current = leaf
        level = 0
        # Each trailing 1-bit of the old size is a perfect subtree of the same
        # width as `current`, sitting immediately to its left: merge them.
        while (index >> level) & 1:
            current = node_hash(self._hashes.pop(), current)
            level += 1
            completed.append((level, index >> level, current))
        self._hashes.append(current)
        self._size = index + 1
        return completed

    def root(self) -> bytes:
        """RFC 6962 root hash of the current tree (``EMPTY_ROOT`` when empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        return _fold(self._hashes)


class MemoryNodes:
    """Keeps every perfect subtree hash in a dict; ``nodes(level, index)`` is a get_node.

    Meant for tests and small trees; a real store persists what
    ``CompactRange.append`` reports.
    """

    __slots__ = ("_nodes", "_range")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._range = CompactRange()
        self._nodes: dict[tuple[int, int], bytes] = {}
        for leaf in leaf_hashes:
            self.append(leaf)

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> MemoryNodes:
        """Build from raw entries, hashing each with ``leaf_hash``."""
        return cls(leaf_hash(entry) for entry in entries)

    def append(self, leaf: bytes) -> None:
        """Append a leaf hash and remember every subtree it completes."""
        for level, index, value in self._range.append(leaf):
            self._nodes[level, index] = value

    @property
    def size(self) -> int:
        """Number of leaves stored."""
        return self._range.size

    def root(self) -> bytes:
        """Root hash at the current size."""
        return self._range.root()

    def __call__(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[level, index]
        except KeyError:
            msg = f"no perfect subtree at level {level}, index {index}"
            raise KeyError(msg) from None

    def __len__(self) -> int:
        return len(self._nodes)


# --------------------------------------------------------------------------
# Proof generation from stored perfect subtrees


def _split(width: int) -> int:
    """RFC 6962 split point: the largest power of two strictly below ``width`` (>= 2)."""
    return 1 << ((width - 1).bit_length() - 1)


def _fetch(get_node: GetNode, level: int, index: int) -> bytes:
    value = get_node(level, index)
    if not _is_hash(value):
        msg = f"get_node({level}, {index}) did not return a {HASH_SIZE}-byte hash"
        raise ValueError(msg)
    return value


def _subtree_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """MTH of leaves ``[start, end)``, a (possibly imperfect) node of an RFC 6962 tree.

    Such a node is the concatenation of the perfect subtrees of the binary
    decomposition of its width, largest first, each aligned to its own width:
    O(log n) ``get_node`` calls.
    """
    parts: list[bytes] = []
    position = start
    while position < end:
        level = (end - position).bit_length() - 1
        width = 1 << level
        if position % width:
            msg = f"[{start}, {end}) is not a subtree of an RFC 6962 tree"
            raise ValueError(msg)
        parts.append(_fetch(get_node, level, position // width))
        position += width
    return _fold(parts)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, D[0:size]), in proof order (RFC 9162 2.1.3.1).

    Requires ``0 <= index < size``.
    """
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
    ranges.reverse()  # collected top-down; the proof lists the sibling of the leaf first
    return ranges


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(old, D[0:new]), in proof order (RFC 9162 2.1.4.1).

    Requires ``0 < old < new``.
    """
    ranges: list[tuple[int, int]] = []
    start, end = 0, new
    remaining = old  # leaves of the old tree inside [start, end)
    old_tree_is_whole = True  # RFC's flag b: [start, start + remaining) is the whole old tree
    while remaining != end - start:
        middle = start + _split(end - start)
        if remaining <= middle - start:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            remaining -= middle - start
            start = middle
            old_tree_is_whole = False
    if not old_tree_is_whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``size`` leaves (RFC 9162 2.1.3.1).

    Only asks ``get_node`` for perfect subtrees inside ``[0, size)``, at most
    O(log^2 size) of them.
    """
    _ensure_count(index, "index")
    _ensure_count(size, "size")
    if index >= size:
        msg = f"leaf index {index} is not in a tree of {size} leaves"
        raise ValueError(msg)
    return [_subtree_hash(start, end, get_node) for start, end in _inclusion_ranges(index, size)]


def consistency_proof(old: int, new: int, get_node: GetNode) -> list[bytes]:
    """Consistency proof from the tree of ``old`` leaves to that of ``new`` (RFC 9162 2.1.4.1).

    Empty when ``old == new`` or ``old == 0`` (nothing to prove in either case;
    see ``verify_consistency``). Only asks ``get_node`` for perfect subtrees
    inside ``[0, new)``, at most O(log^2 new) of them.
    """
    _ensure_count(old, "old size")
    _ensure_count(new, "new size")
    if old > new:
        msg = f"old size {old} is larger than new size {new}"
        raise ValueError(msg)
    if old in (0, new):
        return []
    return [_subtree_hash(start, end, get_node) for start, end in _consistency_ranges(old, new)]


def root_at(size: int, get_node: GetNode) -> bytes:
    """Root hash of the tree of ``size`` leaves from stored perfect subtrees."""
    _ensure_count(size, "size")
    if size == 0:
        return EMPTY_ROOT
    return _subtree_hash(0, size, get_node)


def roots_at_sizes(leaf_hashes: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """Stream leaf hashes once and return ``{size: root}`` for each requested size.

    Memory is O(log n) whatever the number of leaves. Consumes exactly
    ``max(sizes)`` leaf hashes from the iterable; raises ``ValueError`` if it
    runs out first.
    """
    wanted = sorted(set(sizes))
    for size in wanted:
        _ensure_count(size, "size")
    tree = CompactRange()
    leaves = iter(leaf_hashes)
    roots: dict[int, bytes] = {}
    for target in wanted:
        while tree.size < target:
            leaf = next(leaves, None)
            if leaf is None:
                msg = f"only {tree.size} leaves were given, no root at size {target}"
                raise ValueError(msg)
            tree.append(leaf)
        roots[target] = tree.root()
    return roots


# --------------------------------------------------------------------------
# Proof verification, RFC 9162 sections 2.1.3.2 and 2.1.4.2


def _shift_until_lsb_set_or_zero(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_inclusion(
    leaf_hash: bytes,
    index: int,
    size: int,
    proof: Sequence[bytes],
    root: bytes,
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises ``ProofError`` on any failure; returns ``None`` when the proof holds.
    The caller must take ``size`` and ``root`` together from one trusted
    source (a signed checkpoint): for some pairs of sizes the same proof leads
    to the same hash, so the proof alone does not pin the size.
    """
    _ensure_proof_hash(leaf_hash, "leaf hash")
    _ensure_proof_hash(root, "root")
    _ensure_proof_count(index, "leaf index")
    _ensure_proof_count(size, "tree size")
    _ensure_proof_path(proof)
    # Step 1.
    if index >= size:
        msg = f"leaf index {index} is not in a tree of {size} leaves"
        raise ProofError(msg)
    expected = len(_inclusion_ranges(index, size))
    if len(proof) != expected:
        msg = (
            f"inclusion proof for leaf {index} in a tree of {size} leaves must have "
            f"{expected} hashes, got {len(proof)}"
        )
        raise ProofError(msg)
    # Steps 2 and 3.
    fn, sn = index, size - 1
    r = leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            msg = "inclusion proof is longer than the path to the root"
            raise ProofError(msg)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until_lsb_set_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        msg = "inclusion proof is shorter than the path to the root"
        raise ProofError(msg)
    if r != root:
        msg = f"inclusion proof for leaf {index} does not lead to the root of the tree of {size}"
        raise ProofError(msg)


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``new_size`` leaves extends the one of ``old_size``.

    Raises ``ProofError`` on any failure; returns ``None`` when the proof holds.

    Edge cases (outside RFC 9162's ``0 < first < second``):

    * ``old_size == new_size``: the proof must be empty and the roots equal.
    * ``old_size == 0``: the proof must be empty and ``old_root`` must be
      ``EMPTY_ROOT``; every tree extends the empty tree, so ``new_root`` is not
      checked here.
    """
    _ensure_proof_count(old_size, "old size")
    _ensure_proof_count(new_size, "new size")
    _ensure_proof_hash(old_root, "old root")
    _ensure_proof_hash(new_root, "new root")
    _ensure_proof_path(proof)
    if old_size > new_size:
        msg = f"old size {old_size} is larger than new size {new_size}"
        raise ProofError(msg)
    if old_size in (0, new_size):
        _verify_trivial_consistency(old_size, new_size, old_root, new_root, proof)
        return
    expected = len(_consistency_ranges(old_size, new_size))
    if len(proof) != expected:
        msg = (
            f"consistency proof from {old_size} to {new_size} leaves must have "
            f"{expected} hashes, got {len(proof)}"
        )
        raise ProofError(msg)
    fr, sr = _roots_from_consistency(old_size, new_size, old_root, proof)
    if fr != old_root:
        msg = f"consistency proof does not lead to the old root (size {old_size})"
        raise ProofError(msg)
    if sr != new_root:
        msg = f"consistency proof does not lead to the new root (size {new_size})"
        raise ProofError(msg)


def _verify_trivial_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    if proof:
        msg = f"consistency proof from {old_size} to {new_size} leaves must be empty"
        raise ProofError(msg)
    if old_size == 0 and old_root != EMPTY_ROOT:
        msg = "the root of the empty tree must be SHA-256 of the empty string"
        raise ProofError(msg)
    if old_size == new_size and old_root != new_root:
        msg = f"two different roots for the same size {old_size}"
        raise ProofError(msg)


def _roots_from_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    proof: Sequence[bytes],
) -> tuple[bytes, bytes]:
    """RFC 9162 section 2.1.4.2 steps 1 to 6 and the ``sn == 0`` part of step 7."""
    # Step 1.
    if not proof:
        msg = "consistency proof is empty"
        raise ProofError(msg)
    path = list(proof)
    # Step 2.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Steps 3 and 4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            msg = "consistency proof is longer than the path to the new root"
            raise ProofError(msg)
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _shift_until_lsb_set_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7 (sn part; the roots are compared by the caller).
    if sn != 0:
        msg = "consistency proof is shorter than the path to the new root"
        raise ProofError(msg)
    return fr, sr
