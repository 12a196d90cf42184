"""RFC 6962 Merkle tree: published vectors and a naive recursive reference."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from pathlib import Path

import pytest

from casefile.verifier import merkle
from casefile.verifier.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodes,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_at,
    roots_at_sizes,
    verify_consistency,
    verify_inclusion,
)

# Published vectors, copied into the tests with their source (the file's "source" key).
VECTORS_PATH = Path(__file__).resolve().parent / "data" / "rfc6962-merkle.json"


def _load_vectors() -> dict:
    # Fail, never skip: the vectors are the external anchor of these tests.
    if not VECTORS_PATH.is_file():
        pytest.fail(f"published Merkle vectors missing at {VECTORS_PATH}")
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


VECTORS = _load_vectors()
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(h) for h in VECTORS["root_hashes_by_tree_size_hex"]]


def unhex(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


# --------------------------------------------------------------------------
# Naive reference: RFC 6962 section 2.1 MTH, PATH and PROOF, literally.


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries

    @functools.cache  # noqa: B019 - instances live for one test
    def mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return _sha(b"")
        if n == 1:
            return _sha(b"\x00" + self.entries[start])
        k = _k(n)
        return _sha(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def sides(self, m: int, start: int, end: int) -> list[str]:
        """Which side each PATH element is on: the shape the verifier follows."""
        n = end - start
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return [*self.sides(m, start, start + k), "R"]
        return [*self.sides(m - k, start + k, end), "L"]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = _k(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]  # noqa: FBT003

    def proof(self, m: int, n: int) -> list[bytes]:
        return self.subproof(m, 0, n, True)  # noqa: FBT003


def random_entries(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 40)) for _ in range(count)]


def bounded_nodes(store: MemoryNodes, size: int, calls: list[tuple[int, int]]):
    """A get_node that records calls and refuses anything but perfect subtrees in [0, size)."""

    def get(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"asked for ({level}, {index}) beyond size {size}"
        calls.append((level, index))
        return store(level, index)

    return get


def log2_squared_bound(size: int) -> int:
    bits = max(size.bit_length(), 1)
    return bits * bits


# --------------------------------------------------------------------------
# Hashing and roots


def test_vector_file_has_expected_shape():
    assert len(LEAVES) == 8
    assert len(ROOTS) == 9
    assert VECTORS["inclusion_proofs"]
    assert VECTORS["consistency_proofs"]


def test_hash_primitives():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(LEAVES[0]) == ROOTS[1]


@pytest.mark.parametrize("size", range(9))
def test_vector_roots_from_stored_nodes(size):
    store = MemoryNodes.from_entries(LEAVES)
    assert root_at(size, store) == ROOTS[size]
    assert Reference(LEAVES).mth(0, size) == ROOTS[size]


def test_compact_range_roots_after_each_append():
    tree = CompactRange()
    assert tree.size == 0
    assert tree.root() == ROOTS[0]
    assert tree.frontier() == []
    for count, entry in enumerate(LEAVES, start=1):
        tree.append(leaf_hash(entry))
        assert tree.size == count
        assert tree.root() == ROOTS[count]
        assert len(tree.frontier()) == count.bit_count()


def test_compact_range_reports_every_node_of_the_vectors():
    reported: dict[tuple[int, int], bytes] = {}
    tree = CompactRange()
    for entry in LEAVES:
        for level, index, value in tree.append(leaf_hash(entry)):
            assert (level, index) not in reported, "a node was reported twice"
            reported[level, index] = value
    expected = {
        (level, index): bytes.fromhex(value)
        for level, row in enumerate(VECTORS["node_hashes_by_level_hex"])
        for index, value in enumerate(row)
    }
    assert reported == expected


def test_compact_range_append_reports_completed_subtrees_in_order():
    tree = CompactRange()
    for _ in range(7):
        tree.append(b"\x11" * 32)
    completed = tree.append(b"\x22" * 32)  # leaf 7 completes 6-7, 4-7 and 0-7
    assert [(level, index) for level, index, _ in completed] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[-1][2] == tree.root()


def test_compact_range_frontier_round_trip():
    entries = random_entries(45, seed=1)
    tree = CompactRange()
    for count, entry in enumerate(entries, start=1):
        tree.append(leaf_hash(entry))
        restored = CompactRange.from_frontier(tree.size, tree.frontier())
        assert restored.root() == tree.root() == Reference(entries).mth(0, count)
    # The restored range keeps growing identically.
    restored = CompactRange.from_frontier(tree.size, tree.frontier())
    extra = leaf_hash(b"next")
    assert restored.append(extra) == tree.append(extra)
    assert restored.root() == tree.root()


def test_compact_range_frontier_is_largest_first():
    entries = random_entries(6, seed=2)
    tree = CompactRange()
    for entry in entries:
        tree.append(leaf_hash(entry))
    ref = Reference(entries)
    assert tree.frontier() == [ref.mth(0, 4), ref.mth(4, 6)]


def test_compact_range_rejects_bad_state_and_input():
    with pytest.raises(ValueError, match="frontier"):
        CompactRange.from_frontier(3, [b"\x00" * 32])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange.from_frontier(1, [b"\x00" * 31])
    with pytest.raises(ValueError, match="non-negative"):
        CompactRange.from_frontier(-1, [])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange().append(b"raw entry, not a hash")


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 8, 13, 64, 65, 100])
def test_compact_range_matches_reference(count):
    entries = random_entries(count, seed=count)
    tree = CompactRange()
    for entry in entries:
        tree.append(leaf_hash(entry))
    assert tree.root() == Reference(entries).mth(0, count)


def test_roots_at_sizes_streams():
    entries = random_entries(70, seed=3)
    consumed = []

    def leaves():
        for entry in entries:
            consumed.append(entry)
            yield leaf_hash(entry)

    ref = Reference(entries)
    roots = roots_at_sizes(leaves(), [37, 0, 1, 37, 64])
    assert roots == {0: EMPTY_ROOT, 1: ref.mth(0, 1), 37: ref.mth(0, 37), 64: ref.mth(0, 64)}
    assert len(consumed) == 64  # stops at the largest size asked for
    with pytest.raises(ValueError, match="only 70 leaves"):
        roots_at_sizes((leaf_hash(e) for e in entries), [71])


# --------------------------------------------------------------------------
# Inclusion proofs


@pytest.mark.parametrize(
    "vector", VECTORS["inclusion_proofs"], ids=lambda v: f"{v['leaf_index']}-of-{v['tree_size']}"
)
def test_inclusion_vectors(vector):
    index, size, expected = vector["leaf_index"], vector["tree_size"], unhex(vector["path_hex"])
    store = MemoryNodes.from_entries(LEAVES)
    assert inclusion_proof(index, size, store) == expected
    assert Reference(LEAVES).path(index, 0, size) == expected
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, expected, ROOTS[size])


def test_inclusion_all_pairs_up_to_eight_against_vectors_and_reference():
    store = MemoryNodes.from_entries(LEAVES)
    ref = Reference(LEAVES)
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            assert proof == ref.path(index, 0, size)
            verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])


@pytest.mark.parametrize("seed", range(3))
def test_inclusion_all_pairs_random_trees(seed):
    entries = random_entries(70, seed=100 + seed)
    store = MemoryNodes.from_entries(entries)
    ref = Reference(entries)
    for size in range(1, len(entries) + 1):
        root = ref.mth(0, size)
        for index in range(size):
            calls: list[tuple[int, int]] = []
            proof = inclusion_proof(index, size, bounded_nodes(store, size, calls))
            assert proof == ref.path(index, 0, size), (index, size)
            assert len(calls) <= log2_squared_bound(size)
            verify_inclusion(leaf_hash(entries[index]), index, size, proof, root)


def test_inclusion_large_tree_spot_checks():
    entries = random_entries(1500, seed=7)
    store = MemoryNodes.from_entries(entries)
    ref = Reference(entries)
    rng = random.Random(8)
    for _ in range(200):
        size = rng.randrange(1, len(entries) + 1)
        index = rng.randrange(size)
        calls: list[tuple[int, int]] = []
        proof = inclusion_proof(index, size, bounded_nodes(store, size, calls))
        assert proof == ref.path(index, 0, size)
        assert len(calls) <= log2_squared_bound(size)
        verify_inclusion(leaf_hash(entries[index]), index, size, proof, ref.mth(0, size))


def assert_rejected(verify, args, description):
    try:
        verify(*args)
    except ProofError:
        return
    pytest.fail(f"accepted: {description}")


def flip_bit(value: bytes, bit: int = 0) -> bytes:
    raw = bytearray(value)
    raw[bit // 8] ^= 1 << (bit % 8)
    return bytes(raw)


def inclusion_corruptions(entries, index, size, proof):
    """(description, leaf hash, index, size, proof, root) that must all be rejected."""
    ref = Reference(entries)
    leaf, root = leaf_hash(entries[index]), ref.mth(0, size)
    extra = b"\x42" * 32
    for position in range(len(proof)):
        for bit in (0, 7, 255):
            bad = list(proof)
            bad[position] = flip_bit(bad[position], bit)
            yield f"flip bit {bit} of hash {position}", leaf, index, size, bad, root
        yield (
            f"drop hash {position}",
            leaf,
            index,
            size,
            proof[:position] + proof[position + 1 :],
            root,
        )
        if position + 1 < len(proof):
            swapped = list(proof)
            swapped[position], swapped[position + 1] = swapped[position + 1], swapped[position]
            if swapped != proof:
                yield f"swap hashes {position}", leaf, index, size, swapped, root
    yield "add a hash at the end", leaf, index, size, [*proof, extra], root
    yield "add a hash at the start", leaf, index, size, [extra, *proof], root
    yield "repeat the last hash", leaf, index, size, [*proof, *proof[-1:]] or [extra], root
    yield "flip a bit of the root", leaf, index, size, proof, flip_bit(root)
    yield "flip a bit of the leaf", flip_bit(leaf, 100), index, size, proof, root
    yield "raw entry as leaf hash", _sha(entries[index]), index, size, proof, root
    yield "index equal to size", leaf, size, size, proof, root
    yield "size zero", leaf, index, 0, proof, root
    yield "negative index", leaf, -1, size, proof, root
    for wrong_index in (index - 1, index + 1, index ^ 1, index + 2):
        if 0 <= wrong_index < size and wrong_index != index:
            yield f"wrong index {wrong_index}", leaf, wrong_index, size, proof, root
    # A wrong size is only meaningful together with that size's true root: a
    # signed checkpoint binds the two (see test_inclusion_size_must_come_with_its_root).
    for wrong_size in (size - 1, size + 1, size * 2, size + 7):
        if index < wrong_size <= len(entries) and wrong_size != size:
            yield f"wrong size {wrong_size}", leaf, index, wrong_size, proof, ref.mth(0, wrong_size)
    yield "short hash", leaf, index, size, [h[:31] for h in proof] or [b"\x00" * 31], root
    yield "short root", leaf, index, size, proof, root[:31]


def test_inclusion_corruptions_vectors():
    store = MemoryNodes.from_entries(LEAVES)
    checked = 0
    for vector in VECTORS["inclusion_proofs"]:
        index, size = vector["leaf_index"], vector["tree_size"]
        proof = unhex(vector["path_hex"])
        assert proof == inclusion_proof(index, size, store)
        for description, *args in inclusion_corruptions(LEAVES, index, size, proof):
            assert_rejected(verify_inclusion, args, f"{description} for leaf {index} of {size}")
            checked += 1
    assert checked > 50


def test_inclusion_corruptions_all_small_pairs():
    entries = random_entries(20, seed=11)
    store = MemoryNodes.from_entries(entries)
    for size in range(1, len(entries) + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            for description, *args in inclusion_corruptions(entries, index, size, proof):
                assert_rejected(verify_inclusion, args, f"{description} for leaf {index} of {size}")


def test_inclusion_size_must_come_with_its_root():
    """Documented property: the proof alone does not pin the size.

    The verifier walks the shape given by (index, size). When another size gives
    the same shape, the old proof still reaches the old root. Sizes and roots
    must therefore be taken together from a signed checkpoint.
    """
    entries = random_entries(16, seed=12)
    ref = Reference(entries)
    store = MemoryNodes.from_entries(entries)
    aliases = 0
    for size in range(1, 17):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            for other in range(index + 1, 17):
                if other == size:
                    continue
                same_shape = ref.sides(index, 0, other) == ref.sides(index, 0, size)
                try:
                    verify_inclusion(
                        leaf_hash(entries[index]), index, other, proof, ref.mth(0, size)
                    )
                except ProofError:
                    accepted = False
                else:
                    accepted = True
                assert accepted == same_shape, (index, size, other)
                aliases += accepted
    assert aliases  # e.g. leaf 0 in sizes 3 and 4: both paths go left, left


def test_inclusion_generation_rejects_bad_arguments():
    store = MemoryNodes.from_entries(LEAVES)
    for index, size in [(0, 0), (8, 8), (-1, 4), (3, -1)]:
        with pytest.raises(ValueError):  # noqa: PT011
            inclusion_proof(index, size, store)


def test_get_node_must_return_a_hash():
    with pytest.raises(ValueError, match="get_node"):
        inclusion_proof(0, 2, lambda level, index: b"short")  # noqa: ARG005
    with pytest.raises(KeyError):
        root_at(9, MemoryNodes.from_entries(LEAVES))


# --------------------------------------------------------------------------
# Consistency proofs


@pytest.mark.parametrize(
    "vector", VECTORS["consistency_proofs"], ids=lambda v: f"{v['size1']}-to-{v['size2']}"
)
def test_consistency_vectors(vector):
    old, new, expected = vector["size1"], vector["size2"], unhex(vector["path_hex"])
    store = MemoryNodes.from_entries(LEAVES)
    assert consistency_proof(old, new, store) == expected
    if old != new:
        assert Reference(LEAVES).proof(old, new) == expected
    verify_consistency(old, new, ROOTS[old], ROOTS[new], expected)


def test_consistency_all_pairs_up_to_eight():
    store = MemoryNodes.from_entries(LEAVES)
    ref = Reference(LEAVES)
    for new in range(9):
        for old in range(new + 1):
            proof = consistency_proof(old, new, store)
            if 0 < old < new:
                assert proof == ref.proof(old, new)
            else:
                assert proof == []
            verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize("seed", range(3))
def test_consistency_all_pairs_random_trees(seed):
    entries = random_entries(70, seed=200 + seed)
    store = MemoryNodes.from_entries(entries)
    ref = Reference(entries)
    for new in range(1, len(entries) + 1):
        for old in range(1, new):
            calls: list[tuple[int, int]] = []
            proof = consistency_proof(old, new, bounded_nodes(store, new, calls))
            assert proof == ref.proof(old, new), (old, new)
            assert len(calls) <= log2_squared_bound(new)
            verify_consistency(old, new, ref.mth(0, old), ref.mth(0, new), proof)


def test_consistency_large_tree_spot_checks():
    entries = random_entries(1500, seed=9)
    store = MemoryNodes.from_entries(entries)
    ref = Reference(entries)
    rng = random.Random(10)
    for _ in range(200):
        new = rng.randrange(2, len(entries) + 1)
        old = rng.randrange(1, new)
        calls: list[tuple[int, int]] = []
        proof = consistency_proof(old, new, bounded_nodes(store, new, calls))
        assert proof == ref.proof(old, new)
        assert len(calls) <= log2_squared_bound(new)
        verify_consistency(old, new, ref.mth(0, old), ref.mth(0, new), proof)


def consistency_corruptions(entries, old, new, proof):
    """(description, old size, new size, old root, new root, proof) that must all be rejected."""
    ref = Reference(entries)
    old_root, new_root = ref.mth(0, old), ref.mth(0, new)
    extra = b"\x42" * 32
    for position in range(len(proof)):
        for bit in (0, 7, 255):
            bad = list(proof)
            bad[position] = flip_bit(bad[position], bit)
            yield f"flip bit {bit} of hash {position}", old, new, old_root, new_root, bad
        dropped = proof[:position] + proof[position + 1 :]
        yield f"drop hash {position}", old, new, old_root, new_root, dropped
    yield "add a hash at the end", old, new, old_root, new_root, [*proof, extra]
    yield "add a hash at the start", old, new, old_root, new_root, [extra, *proof]
    yield "prepend the old root", old, new, old_root, new_root, [old_root, *proof]
    yield "empty proof", old, new, old_root, new_root, []
    yield "flip a bit of the old root", old, new, flip_bit(old_root), new_root, proof
    yield "flip a bit of the new root", old, new, old_root, flip_bit(new_root), proof
    yield "roots swapped", old, new, new_root, old_root, proof
    yield "sizes swapped", new, old, new_root, old_root, proof
    yield "short new root", old, new, old_root, new_root[:31], proof
    yield "short hash", old, new, old_root, new_root, [h[:31] for h in proof]
    # Wrong sizes come with that size's true root, as a signed checkpoint would.
    for wrong_old in (old - 1, old + 1, old * 2, old // 2):
        if 0 < wrong_old < new and wrong_old != old:
            yield (
                f"wrong old size {wrong_old}",
                wrong_old,
                new,
                ref.mth(0, wrong_old),
                new_root,
                proof,
            )
    for wrong_new in (new - 1, new + 1, new * 2):
        if old < wrong_new <= len(entries) and wrong_new != new:
            yield (
                f"wrong new size {wrong_new}",
                old,
                wrong_new,
                old_root,
                ref.mth(0, wrong_new),
                proof,
            )


def test_consistency_corruptions_vectors():
    checked = 0
    for vector in VECTORS["consistency_proofs"]:
        old, new, proof = vector["size1"], vector["size2"], unhex(vector["path_hex"])
        if old == new:
            continue
        for description, *args in consistency_corruptions(LEAVES, old, new, proof):
            assert_rejected(verify_consistency, args, f"{description} for {old} -> {new}")
            checked += 1
    assert checked > 50


def test_consistency_corruptions_all_small_pairs():
    entries = random_entries(24, seed=13)
    store = MemoryNodes.from_entries(entries)
    for new in range(2, len(entries) + 1):
        for old in range(1, new):
            proof = consistency_proof(old, new, store)
            for description, *args in consistency_corruptions(entries, old, new, proof):
                assert_rejected(verify_consistency, args, f"{description} for {old} -> {new}")


def test_consistency_edge_cases():
    r3, r5 = ROOTS[3], ROOTS[5]
    # Same size: empty proof, equal roots.
    verify_consistency(3, 3, r3, r3, [])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(3, 3, r3, r5, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(3, 3, r3, r3, [r3])
    # From the empty tree: empty proof, and the old root must be the empty root.
    verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, r3, r5, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 5, EMPTY_ROOT, r5, [r3])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, r3, r3, [])
    # Shrinking and nonsense sizes.
    with pytest.raises(ProofError, match="larger than"):
        verify_consistency(5, 3, r5, r3, [])
    with pytest.raises(ProofError, match="non-negative"):
        verify_consistency(-1, 3, r3, r3, [])
    with pytest.raises(ProofError, match="non-negative"):
        verify_consistency(True, 3, r3, r3, [])  # noqa: FBT003
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(1, 3, r3.hex(), r3, [])  # type: ignore[arg-type]


def test_consistency_generation_edge_cases():
    store = MemoryNodes.from_entries(LEAVES)
    assert consistency_proof(0, 0, store) == []
    assert consistency_proof(0, 8, store) == []
    assert consistency_proof(8, 8, store) == []
    with pytest.raises(ValueError, match="larger than"):
        consistency_proof(5, 3, store)


def test_inclusion_verifier_input_types():
    leaf = leaf_hash(LEAVES[0])
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(leaf[:16], 0, 1, [], ROOTS[1])
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(leaf, 0, 2, [ROOTS[1].hex()], ROOTS[2])  # type: ignore[list-item]
    with pytest.raises(ProofError, match="non-negative"):
        verify_inclusion(leaf, 0, 1.0, [], ROOTS[1])  # type: ignore[arg-type]
    verify_inclusion(leaf, 0, 1, [], ROOTS[1])  # a one-leaf tree: empty proof
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, 1, [], ROOTS[2])


def test_module_exports_are_defined():
    for name in merkle.__all__:
        assert hasattr(merkle, name), name
