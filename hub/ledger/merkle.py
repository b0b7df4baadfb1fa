"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and the compact range.

Pure functions on bytes: no I/O. Proof generation reads the tree through a
``GetNode`` callable, ``get_node(level, index)``, which returns the hash of the
perfect subtree at that position (level 0 holds the leaf hashes; the node
``(level, index)`` covers leaves ``[index << level, (index + 1) << level)``).
Only nodes wholly inside the tree are ever asked for, so a caller can back it
with tlog-tiles; the partial nodes on the right border are computed here.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step and
raises :class:`hub.errors.VerificationError` naming the expected and the
calculated value. As in transparency-dev/merkle, a proof of the wrong length is
rejected, and so is any consistency proof from the empty tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from hub.errors import DecodeError, VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)`` -> hash of the perfect subtree at that position."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 section 2.1, level by level (no recursion)."""
    _check_hashes(hashes, "leaf hash")
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [_sha256(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2])]
        if len(level) % 2:
            paired.append(level[-1])  # the last node has no right sibling: it moves up unchanged
        level = paired
    return level[0]


# --- proof generation -------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, bottom-up. Requires 0 <= index < size."""
    if not 0 <= index < size:
        raise ValueError(f"inclusion proof needs 0 <= index < size, got index {index}, size {size}")
    return _path(index, size, 0, get_node)


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 section 2.1.4.1. Requires 0 < old_size <= new_size."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"consistency proof needs 0 < old_size <= new_size, got {old_size}, {new_size}")
    if old_size == new_size:
        return []
    # The old tree's last leaf sits in a perfect subtree of 2**shift leaves that both trees share;
    # the proof is that subtree's hash (omitted when it is the whole old tree) followed by its
    # inclusion path in the new tree.
    shift = _trailing_zeros(old_size)
    seed = [] if old_size == 1 << shift else [get_node(shift, (old_size - 1) >> shift)]
    return seed + _path(old_size - 1, new_size, shift, get_node)


def inclusion_proof_from_leaves(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Inclusion proof for ``index`` in the tree made of all of ``leaf_hashes``."""
    return inclusion_proof(index, len(leaf_hashes), _leaf_reader(leaf_hashes))


def consistency_proof_from_leaves(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Consistency proof from the first ``old_size`` leaves to all of ``leaf_hashes``."""
    return consistency_proof(old_size, len(leaf_hashes), _leaf_reader(leaf_hashes))


def _path(leaf: int, size: int, from_level: int, get_node: GetNode) -> list[bytes]:
    # Below `inner` the paths to `leaf` and to `size - 1` differ: every level has a sibling, and
    # the topmost one may be a partial subtree on the right border. Above it the path runs along
    # the right border, where only right children have a (perfect, left) sibling.
    inner = (leaf ^ (size - 1)).bit_length()
    proof = []
    for level in range(from_level, inner):
        begin = ((leaf >> level) ^ 1) << level
        proof.append(_range_hash(begin, min(begin + (1 << level), size), get_node))
    for level in range(max(inner, from_level), size.bit_length()):
        if (leaf >> level) & 1:
            proof.append(get_node(level, (leaf >> level) ^ 1))
    return proof


def _range_hash(begin: int, end: int, get_node: GetNode) -> bytes:
    """MTH of leaves [begin, end), where begin is aligned to a power of two >= end - begin."""
    parts = []
    for level in reversed(range((end - begin).bit_length())):
        if (end - begin) >> level & 1:
            parts.append(get_node(level, begin >> level))
            begin += 1 << level
    result = parts.pop()
    while parts:
        result = node_hash(parts.pop(), result)
    return result


def _leaf_reader(leaf_hashes: Sequence[bytes]) -> GetNode:
    def get_node(level: int, index: int) -> bytes:
        return root_from_leaf_hashes(leaf_hashes[index << level : (index + 1) << level])

    return get_node


# --- verification -----------------------------------------------------------------------------------


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` yields for ``leaf_hash`` at ``index`` (RFC 9162 2.1.3.2, steps 1-4)."""
    if not 0 <= index < size:
        raise VerificationError(f"inclusion proof: index {index} is not below tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_length(proof, _inclusion_proof_size(index, size), "inclusion")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is entry ``index`` of the tree of ``size`` entries with ``root``."""
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise VerificationError(
            f"inclusion proof for index {index} in tree size {size} does not lead to the root",
            expected=root.hex(),
            calculated=calculated.hex(),
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``)."""
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"consistency proof: old size {old_size} is not within 0..{new_size}")
    if old_size == 0:
        raise VerificationError("a consistency proof from the empty tree proves nothing; it is refused")
    if old_size == new_size:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise VerificationError(
                f"roots differ for the same tree size {old_size}",
                expected=old_root.hex(),
                calculated=new_root.hex(),
            )
        return
    if not proof:
        raise VerificationError("consistency proof is empty")  # RFC 9162 2.1.4.2 step 1
    _check_length(proof, _consistency_proof_size(old_size, new_size), "consistency")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: a power of two is its own shared subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise VerificationError(
            f"consistency proof does not lead to the root of tree size {old_size}",
            expected=old_root.hex(),
            calculated=fr.hex(),
        )
    if sr != new_root:
        raise VerificationError(
            f"consistency proof does not lead to the root of tree size {new_size}",
            expected=new_root.hex(),
            calculated=sr.hex(),
        )


def _inclusion_proof_size(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_size(old_size: int, new_size: int) -> int:
    shift = _trailing_zeros(old_size)
    seed = 0 if old_size == 1 << shift else 1
    return seed + _inclusion_proof_size(old_size - 1, new_size) - shift


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _check_length(proof: Sequence[bytes], want: int, kind: str) -> None:
    if len(proof) != want:
        raise VerificationError(f"{kind} proof has {len(proof)} hashes, this position needs {want}")
    _check_hashes(proof, f"{kind} proof element", error=VerificationError)


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _check_hashes(values: Iterable[bytes], what: str, error: type[Exception] = ValueError) -> None:
    for i, value in enumerate(values):
        if len(value) != HASH_SIZE:
            raise error(f"{what} {i} is {len(value)} bytes, not {HASH_SIZE}")


# --- compact range ----------------------------------------------------------------------------------


class CompactRange:
    """The Merkle frontier of a log: the roots of the perfect subtrees covering [0, size).

    O(log n) memory; enough to append leaves and compute the root without the log. Serialised
    as an 8-byte big-endian size followed by the frontier's 32-byte hashes, left to right.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> CompactRange:
        result = cls()
        for h in hashes:
            result.append(h)
        return result

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        if len(data) < 8:
            raise DecodeError(f"compact range is {len(data)} bytes, shorter than its 8-byte size")
        size = int.from_bytes(data[:8], "big")
        count = size.bit_count()
        if len(data) != 8 + HASH_SIZE * count:
            raise DecodeError(
                f"compact range of size {size} needs {count} hashes ({8 + HASH_SIZE * count} bytes), "
                f"got {len(data)} bytes"
            )
        result = cls()
        result._size = size
        result._hashes = [data[8 + HASH_SIZE * i : 8 + HASH_SIZE * (i + 1)] for i in range(count)]
        return result

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier: roots of its perfect subtrees, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        if self._size == (1 << 64) - 1:
            raise ValueError("compact range is full (2**64 - 1 leaves)")
        h, size = leaf_hash, self._size
        while size & 1:  # merge with each complete subtree of the same height
            h = node_hash(self._hashes.pop(), h)
            size >>= 1
        self._hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        """MTH of the covered leaves (EMPTY_ROOT for none)."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            result = node_hash(h, result)
        return result

    def to_bytes(self) -> bytes:
        return self._size.to_bytes(8, "big") + b"".join(self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
