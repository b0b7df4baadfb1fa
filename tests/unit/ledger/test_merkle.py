"""hub.ledger.merkle against RFC 6962 reference values, the transparency-dev/merkle vectors, the
recursive definitions of RFC 9162 section 2.1, and tampering properties."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError, VerificationError
from hub.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    GetNode,
    consistency_proof,
    consistency_proof_from_leaves,
    inclusion_proof,
    inclusion_proof_from_leaves,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2] / "assets" / "merkle" / "testdata"

# --- RFC 9162 section 2.1 written out as defined (recursive), as an independent reference ---------


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _split(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _split(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def node_reader(leaves: list[bytes]) -> GetNode:
    """get_node over a fixed list of leaves that fails the test if asked for a node outside it."""

    @functools.cache
    def get_node(level: int, index: int) -> bytes:
        begin, end = index << level, (index + 1) << level
        assert end <= len(leaves), f"node ({level}, {index}) reaches past tree size {len(leaves)}"
        return ref_mth(leaves[begin:end])

    return get_node


# --- RFC 6962 reference tree (the 8 leaves used by the Go and C++ CT code) -----------------------

RFC_LEAVES = [
    leaf_hash(bytes.fromhex(h))
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
RFC_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
H = bytes.fromhex
# (index, size, proof) and (old size, new size, proof) as published with the CT reference code.
RFC_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
RFC_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def test_hash_functions_are_the_rfc_6962_ones() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_reference_tree(size: int) -> None:
    want = EMPTY_ROOT if size == 0 else RFC_ROOTS[size - 1]
    assert root_from_leaf_hashes(RFC_LEAVES[:size]) == want
    assert CompactRange.from_leaf_hashes(RFC_LEAVES[:size]).root() == want


@pytest.mark.parametrize(("index", "size", "proof"), RFC_INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof_from_leaves(index, RFC_LEAVES[:size]) == proof
    verify_inclusion(RFC_LEAVES[index], index, size, proof, RFC_ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), RFC_CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof_from_leaves(old, RFC_LEAVES[:new]) == proof
    verify_consistency(old, new, proof, RFC_ROOTS[old - 1], RFC_ROOTS[new - 1])


# --- transparency-dev/merkle vectors (tests/assets/merkle) ------------------------------------------

INCLUSION_FILES = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((VECTORS / "consistency").rglob("*.json"))


def _vector_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_every_vector_file_is_there_and_both_outcomes_occur() -> None:
    assert len(INCLUSION_FILES) == 98
    assert len(CONSISTENCY_FILES) == 98
    for files, valid in ((INCLUSION_FILES, 6), (CONSISTENCY_FILES, 6)):
        assert sum(not _load(p)["wantErr"] for p in files) == valid


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_vector_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    leaf, root = _b64(v["leafHash"]), _b64(v["root"])
    proof = [_b64(p) for p in v["proof"] or []]
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(leaf, v["leafIdx"], v["treeSize"], proof, root)
    else:
        verify_inclusion(leaf, v["leafIdx"], v["treeSize"], proof, root)
        assert root_from_inclusion_proof(leaf, v["leafIdx"], v["treeSize"], proof) == root


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_vector_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], [_b64(p) for p in v["proof"] or []], _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# --- generated proofs: RFC 9162 definitions, verification, exact length -----------------------------

LEAVES = [leaf_hash(b"entry %d" % i) for i in range(300)]
ROOTS = [CompactRange.from_leaf_hashes(LEAVES[:n]).root() for n in range(len(LEAVES) + 1)]
ANOTHER_HASH = hashlib.sha256(b"another").digest()


@pytest.mark.parametrize("size", range(1, 65))
def test_inclusion_proofs_for_every_index_up_to_size_64(size: int) -> None:
    leaves = LEAVES[:size]
    get_node = node_reader(leaves)
    for index in range(size):
        proof = inclusion_proof(index, size, get_node)
        assert proof == ref_path(index, leaves), index
        assert inclusion_proof_from_leaves(index, leaves) == proof
        verify_inclusion(leaves[index], index, size, proof, ROOTS[size])
        for wrong_length in (proof + [ANOTHER_HASH], proof[:-1], [ANOTHER_HASH] + proof):
            if len(wrong_length) != len(proof):
                with pytest.raises(VerificationError):
                    verify_inclusion(leaves[index], index, size, wrong_length, ROOTS[size])


@pytest.mark.parametrize("new_size", range(1, 65))
def test_consistency_proofs_for_every_old_size_up_to_64(new_size: int) -> None:
    leaves = LEAVES[:new_size]
    get_node = node_reader(leaves)
    for old_size in range(1, new_size + 1):
        proof = consistency_proof(old_size, new_size, get_node)
        assert proof == ref_subproof(old_size, leaves, True), old_size
        assert consistency_proof_from_leaves(old_size, leaves) == proof
        verify_consistency(old_size, new_size, proof, ROOTS[old_size], ROOTS[new_size])
        for wrong_length in (proof + [ANOTHER_HASH], proof[:-1]):
            if len(wrong_length) != len(proof):
                with pytest.raises(VerificationError):
                    verify_consistency(old_size, new_size, wrong_length, ROOTS[old_size], ROOTS[new_size])


def test_proof_generation_refuses_positions_outside_the_tree() -> None:
    get_node = node_reader(LEAVES[:5])
    for index, size in ((5, 5), (-1, 5), (0, 0)):
        with pytest.raises(ValueError):
            inclusion_proof(index, size, get_node)
    for old, new in ((0, 5), (6, 5), (-1, 5)):
        with pytest.raises(ValueError):
            consistency_proof(old, new, get_node)


def test_a_root_mismatch_names_the_expected_and_the_calculated_root() -> None:
    proof = inclusion_proof_from_leaves(3, LEAVES[:10])
    with pytest.raises(VerificationError) as caught:
        verify_inclusion(LEAVES[3], 3, 10, proof, ROOTS[9])
    assert caught.value.expected == ROOTS[9].hex()
    assert caught.value.calculated == ROOTS[10].hex()
    assert ROOTS[10].hex() in caught.value.diagnostics()

    proof = consistency_proof_from_leaves(3, LEAVES[:10])
    with pytest.raises(VerificationError) as caught:
        verify_consistency(3, 10, proof, ROOTS[3], ROOTS[11])
    assert (caught.value.expected, caught.value.calculated) == (ROOTS[11].hex(), ROOTS[10].hex())


def test_consistency_from_the_empty_tree_is_refused_even_when_trivial() -> None:
    for new_size, proof in ((0, []), (1, []), (4, [ROOTS[4]])):
        with pytest.raises(VerificationError):
            verify_consistency(0, new_size, proof, EMPTY_ROOT, ROOTS[new_size])


def test_an_inclusion_proof_alone_does_not_bind_the_tree_size() -> None:
    # RFC 9162 (and transparency-dev) behaviour, pinned so nobody relies on the opposite: index 0
    # has the same path shape in trees of 5 to 8 leaves, so the size-8 proof checks out against the
    # size-8 root under the claim "size 5". The signed checkpoint is what binds size and root together.
    proof = inclusion_proof_from_leaves(0, LEAVES[:8])
    verify_inclusion(LEAVES[0], 0, 5, proof, ROOTS[8])
    with pytest.raises(VerificationError):
        verify_inclusion(LEAVES[0], 0, 5, proof, ROOTS[5])


# --- tampering properties -----------------------------------------------------------------------------


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    size = draw(st.integers(min_value=2, max_value=len(LEAVES)))
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return index, size, inclusion_proof_from_leaves(index, LEAVES[:size])


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    new_size = draw(st.integers(min_value=2, max_value=len(LEAVES)))
    old_size = draw(st.integers(min_value=1, max_value=new_size - 1))
    return old_size, new_size, consistency_proof_from_leaves(old_size, LEAVES[:new_size])


def _flip(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
    offset = data.draw(st.integers(min_value=0, max_value=HASH_SIZE - 1), label="byte")
    mask = data.draw(st.integers(min_value=1, max_value=255), label="xor mask")
    changed = bytearray(proof[element])
    changed[offset] ^= mask
    return proof[:element] + [bytes(changed)] + proof[element + 1 :]


@settings(max_examples=300, deadline=None)
@given(case=inclusion_cases(), data=st.data())
def test_flipping_any_byte_of_an_inclusion_proof_fails(
    case: tuple[int, int, list[bytes]], data: st.DataObject
) -> None:
    index, size, proof = case
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
    with pytest.raises(VerificationError):
        verify_inclusion(LEAVES[index], index, size, _flip(proof, data), ROOTS[size])


@settings(max_examples=300, deadline=None)
@given(case=inclusion_cases(), other=st.integers(min_value=-2, max_value=2 * len(LEAVES)))
def test_changing_the_index_or_the_size_of_an_inclusion_proof_fails(
    case: tuple[int, int, list[bytes]], other: int
) -> None:
    index, size, proof = case
    if other != index:  # another index in the same tree, against the same root
        with pytest.raises(VerificationError):
            verify_inclusion(LEAVES[index], other, size, proof, ROOTS[size])
    if other != size:  # another size, against the root a checkpoint of that size would carry
        claimed_root = ROOTS[other] if 0 <= other < len(ROOTS) else ANOTHER_HASH
        with pytest.raises(VerificationError):
            verify_inclusion(LEAVES[index], index, other, proof, claimed_root)


@settings(max_examples=300, deadline=None)
@given(case=consistency_cases(), data=st.data())
def test_flipping_any_byte_of_a_consistency_proof_fails(
    case: tuple[int, int, list[bytes]], data: st.DataObject
) -> None:
    old_size, new_size, proof = case
    verify_consistency(old_size, new_size, proof, ROOTS[old_size], ROOTS[new_size])
    with pytest.raises(VerificationError):
        verify_consistency(old_size, new_size, _flip(proof, data), ROOTS[old_size], ROOTS[new_size])


@settings(max_examples=300, deadline=None)
@given(
    case=consistency_cases(),
    old=st.integers(min_value=-1, max_value=len(LEAVES)),
    new=st.integers(min_value=-1, max_value=len(LEAVES)),
)
def test_changing_the_sizes_of_a_consistency_proof_fails(
    case: tuple[int, int, list[bytes]], old: int, new: int
) -> None:
    old_size, new_size, proof = case
    if (old, new) == (old_size, new_size):
        return
    old_root = ROOTS[old] if old >= 0 else ANOTHER_HASH
    new_root = ROOTS[new] if new >= 0 else ANOTHER_HASH
    with pytest.raises(VerificationError):
        verify_consistency(old, new, proof, old_root, new_root)


# --- compact range -------------------------------------------------------------------------------------

RANGE_SIZES = [*range(70), 127, 128, 129, 255, 256, 257, 299, 300]


@pytest.mark.parametrize("size", RANGE_SIZES)
def test_compact_range_root_and_round_trip(size: int) -> None:
    tree = CompactRange.from_leaf_hashes(LEAVES[:size])
    assert tree.size == size
    assert tree.root() == root_from_leaf_hashes(LEAVES[:size]) == ref_mth(LEAVES[:size])
    data = tree.to_bytes()
    assert len(data) == 8 + HASH_SIZE * size.bit_count()
    restored = CompactRange.from_bytes(data)
    assert restored == tree
    assert restored.root() == tree.root()
    for leaf in LEAVES[size : size + 3]:  # a restored range carries on exactly like the original
        restored.append(leaf)
        tree.append(leaf)
        assert restored.root() == tree.root() == root_from_leaf_hashes(LEAVES[: tree.size])


def test_compact_range_serialization_layout() -> None:
    tree = CompactRange.from_leaf_hashes(LEAVES[:13])  # 13 = 8 + 4 + 1
    frontier = [ref_mth(LEAVES[0:8]), ref_mth(LEAVES[8:12]), LEAVES[12]]
    assert tree.hashes == tuple(frontier)
    assert tree.to_bytes() == (13).to_bytes(8, "big") + b"".join(frontier)
    assert CompactRange().to_bytes() == bytes(8)
    assert CompactRange().root() == EMPTY_ROOT
    assert repr(tree) == f"CompactRange(size=13, root={ROOTS[13].hex()})"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(7),
        (3).to_bytes(8, "big") + bytes(32),  # size 3 needs two hashes
        (1).to_bytes(8, "big") + bytes(33),
        bytes(8) + bytes(32),  # the empty range has no hashes
        (2**64 - 1).to_bytes(8, "big"),
    ],
)
def test_compact_range_rejects_malformed_bytes(data: bytes) -> None:
    with pytest.raises(DecodeError):
        CompactRange.from_bytes(data)


def test_compact_range_rejects_a_leaf_hash_of_the_wrong_size() -> None:
    tree = CompactRange()
    with pytest.raises(ValueError):
        tree.append(b"short")
    assert tree.size == 0
    with pytest.raises(ValueError):
        root_from_leaf_hashes([LEAVES[0], b"short"])


def test_a_million_leaves() -> None:
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(1_000_000)]
    root = root_from_leaf_hashes(leaves)
    assert CompactRange.from_leaf_hashes(leaves).root() == root
    index = 765_432
    proof = inclusion_proof_from_leaves(index, leaves)
    verify_inclusion(leaves[index], index, len(leaves), proof, root)
