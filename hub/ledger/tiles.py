"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): which tiles a tree has, building them, and proofs from them.

Pure functions on bytes: no file or network I/O. Callers pass in what they have
read (as bytes, or as a ``read_tile`` callable) and get back bytes and paths
relative to the log's prefix. The tile geometry and paths are in
:mod:`hub.ledger.tile_paths`, the entry bundle encoding in :mod:`hub.ledger.entry_bundles`.

Building. :func:`tiles_for_growth` takes the leaf hashes appended since the
last publication and returns every tile that the new tree size has and the old
one did not have in the same form. :func:`bundles_for_growth` does the same for
entry bundles.

Proofs. :class:`TileReader` adapts the tiles of one published tree size to
the ``get_node(level, index)`` callable of :mod:`hub.ledger.merkle`, so RFC 9162
inclusion and consistency proofs come from tiles alone.
:func:`inclusion_proof_tiles` and :func:`consistency_proof_tiles` name the tiles
a proof reads: at most two per level (see :class:`TileReader`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.errors import DecodeError
from hub.ledger import merkle
from hub.ledger.entry_bundles import decode_entry_bundle, encode_entry_bundle
from hub.ledger.merkle import EMPTY_ROOT, HASH_SIZE, node_hash
from hub.ledger.tile_paths import (
    FULL_TILE_SIZE,
    MAX_LEVEL,
    MAX_TREE_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    entries_path,
    tile_path,
)

__all__ = [
    "TILE_WIDTH",
    "ReadBundle",
    "ReadTile",
    "TileReader",
    "bundles_for_growth",
    "changed_tiles",
    "consistency_proof_tiles",
    "decode_entry_bundle",
    "entries_path",
    "inclusion_proof_tiles",
    "tile_path",
    "tile_root",
    "tiles_for_growth",
    "tiles_for_size",
]
# TILE_WIDTH, tile_path, entries_path (hub.ledger.tile_paths) and decode_entry_bundle
# (hub.ledger.entry_bundles) are exported here too, for the callers that read back with them
# the tiles and bundles this module builds.

ReadTile = Callable[[int, int, int], bytes]
"""``read_tile(level, index, width)`` -> the published tile's bytes.

It must return at least ``width`` hashes. It may return more, up to a full
tile (for example the full tile once the partial one has been deleted, as
tlog-tiles allows); only the first ``width`` hashes are used.
"""

ReadBundle = Callable[[int, int], bytes]
"""``read_bundle(index, width)`` -> the published entry bundle's bytes (at least ``width`` entries)."""


# --- which tiles a tree has ---------------------------------------------------------------------------


def _check_size(size: int, what: str = "tree size") -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError(f"{what} {size!r} is not an integer in 0..2**64-1")


def _check_growth(old_size: int, new_size: int, given: int, what: str) -> None:
    """A growth from ``old_size`` to ``new_size`` with ``given`` new items (``what``)."""
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if given != new_size - old_size:
        raise ValueError(f"growth from {old_size} to {new_size} needs {new_size - old_size} {what}, got {given}")


def _width_in(level: int, index: int, size: int) -> int:
    """Width of tile (level, index) in a tree of ``size`` leaves: 256, 1..255, or 0 if it has none."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile of a tree of ``size`` leaves, level by level, left to right."""
    return changed_tiles(0, size)


def changed_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles a tree of ``new_size`` has that one of ``old_size`` has not in the same form.

    These are the tiles completed between the two sizes and the partial tiles
    on the right edge of the new tree, level by level, left to right: exactly
    the keys of :func:`tiles_for_growth`.
    """
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    result: list[Tile] = []
    level = 0
    while True:
        old_n, new_n = old_size >> (TILE_HEIGHT * level), new_size >> (TILE_HEIGHT * level)
        if new_n == old_n:  # then no level above changes either
            return result
        for index in range(old_n // TILE_WIDTH, (new_n - 1) // TILE_WIDTH + 1):
            result.append(Tile(level, index, min(TILE_WIDTH, new_n - index * TILE_WIDTH)))
        level += 1


# --- building -----------------------------------------------------------------------------------------


def tile_root(data: bytes) -> bytes:
    """MTH of the hashes of a full tile: the hash it contributes to the level above."""
    if len(data) != FULL_TILE_SIZE:
        raise ValueError(f"a full tile is {FULL_TILE_SIZE} bytes, not {len(data)}")
    return _subtree_root(data, 0, TILE_WIDTH)


def _subtree_root(data: bytes | memoryview, offset: int, count: int) -> bytes:
    """Root of the perfect subtree over ``count`` (a power of two) hashes of ``data`` from hash ``offset``."""
    level = [bytes(data[(offset + i) * HASH_SIZE : (offset + i + 1) * HASH_SIZE]) for i in range(count)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _prefix(data: bytes, level: int, index: int, width: int, what: str = "tile") -> bytes:
    """The first ``width`` hashes of a tile read back, checking its length."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"{what} {tile_path(level, index, width)} is not bytes")
    size = len(data)
    if size % HASH_SIZE or not width * HASH_SIZE <= size <= FULL_TILE_SIZE:
        raise DecodeError(
            f"{what} {tile_path(level, index, width)} is {size} bytes; "
            f"expected {width * HASH_SIZE} (or a wider tile up to {FULL_TILE_SIZE}, a multiple of {HASH_SIZE})"
        )
    return bytes(data[: width * HASH_SIZE])


def tiles_for_growth(
    old_size: int, new_size: int, leaf_hashes_new: Sequence[bytes], read_tile: ReadTile
) -> dict[str, bytes]:
    """The tiles to write when the published tree grows from ``old_size`` to ``new_size``.

    ``leaf_hashes_new`` are the leaf hashes of entries ``old_size .. new_size - 1``.
    ``read_tile(level, index, width)`` returns an already published tile (see
    :data:`ReadTile`); it is called only for the right-edge partial tile of the
    old tree at each level that grows, ``(L, n_L // 256, n_L % 256)`` with
    ``n_L = old_size >> 8L``, and only when that width is not zero: at most one
    read per level, at most 8 in all.

    Returns ``{path: bytes}`` for every tile of :func:`changed_tiles`, in that
    order (level 0 first, left to right): full tiles of 8,192 bytes completed by
    the growth, and the partial tiles ``.p/<W>`` on the new right edge. Full tiles
    depend only on the leaves, never on how growth was split. Nothing is returned
    when the sizes are equal. Callers should write the tiles before publishing the
    checkpoint of ``new_size``.
    """
    _check_growth(old_size, new_size, len(leaf_hashes_new), "leaf hashes")
    for i, h in enumerate(leaf_hashes_new):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash {old_size + i} is not {HASH_SIZE} bytes")
    out: dict[str, bytes] = {}
    new_hashes = b"".join(leaf_hashes_new)  # hashes n_L(old) .. n_L(new) - 1 of the current level
    level = 0
    while new_hashes:
        old_n = old_size >> (TILE_HEIGHT * level)
        first, kept = divmod(old_n, TILE_WIDTH)
        data = new_hashes
        if kept:
            data = _prefix(read_tile(level, first, kept), level, first, kept) + data
        parents = []
        for k, offset in enumerate(range(0, len(data), FULL_TILE_SIZE)):
            chunk = data[offset : offset + FULL_TILE_SIZE]
            out[tile_path(level, first + k, len(chunk) // HASH_SIZE)] = chunk
            if len(chunk) == FULL_TILE_SIZE:
                parents.append(tile_root(chunk))
        new_hashes = b"".join(parents)
        level += 1
    return out


def bundles_for_growth(
    old_size: int, new_size: int, entries_new: Sequence[bytes], read_bundle: ReadBundle
) -> dict[str, bytes]:
    """The entry bundles to write when the tree grows from ``old_size`` to ``new_size``.

    ``entries_new`` are entries ``old_size .. new_size - 1``. ``read_bundle(index,
    width)`` is called at most once, for the old partial bundle
    ``(old_size // 256, old_size % 256)`` when that width is not zero. Returns
    ``{path: bytes}`` for the bundles completed by the growth and the new partial
    bundle, left to right: the bundles matching the level-0 tiles of
    :func:`tiles_for_growth`.
    """
    _check_growth(old_size, new_size, len(entries_new), "entries")
    if not entries_new:
        return {}
    first, kept = divmod(old_size, TILE_WIDTH)
    entries = list(entries_new)
    if kept:
        old = decode_entry_bundle(read_bundle(first, kept))
        if len(old) < kept:
            raise DecodeError(
                f"entry bundle {entries_path(first, kept)} holds {len(old)} entries, not {kept}"
            )
        entries = old[:kept] + entries
    out = {}
    for k, offset in enumerate(range(0, len(entries), TILE_WIDTH)):
        chunk = entries[offset : offset + TILE_WIDTH]
        out[entries_path(first + k, len(chunk))] = encode_entry_bundle(chunk)
    return out


# --- proofs from tiles --------------------------------------------------------------------------------


def _node_tile(level: int, index: int, size: int) -> tuple[Tile, int]:
    """The tile holding node (level, index) of a tree of ``size``, and the node's first hash in it."""
    tile_level, shift = divmod(level, TILE_HEIGHT)
    first = index << shift  # first stored hash at tree level 8 * tile_level
    tile_index, offset = divmod(first, TILE_WIDTH)
    return Tile(tile_level, tile_index, _width_in(tile_level, tile_index, size)), offset


def _proof_tiles(leaf: int, size: int) -> list[Tile]:
    """Tiles on the path of ``leaf`` and on the right edge of a tree of ``size``, per level."""
    result: list[Tile] = []
    for level in range((size.bit_length() - 1) // TILE_HEIGHT + 1):
        for hash_index in (leaf >> (TILE_HEIGHT * level), (size >> (TILE_HEIGHT * level)) - 1):
            index = hash_index // TILE_WIDTH
            width = _width_in(level, index, size)
            if hash_index >= 0 and width and Tile(level, index, width) not in result:
                result.append(Tile(level, index, width))
    return result


def inclusion_proof_tiles(index: int, size: int) -> list[Tile]:
    """The tiles an inclusion proof of leaf ``index`` in a tree of ``size`` may read (see :class:`TileReader`)."""
    _check_size(size)
    if not 0 <= index < size:
        raise ValueError(f"inclusion proof needs 0 <= index < size, got index {index}, size {size}")
    return _proof_tiles(index, size)


def consistency_proof_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles a consistency proof from ``old_size`` to ``new_size`` may read (see :class:`TileReader`)."""
    _check_size(new_size, "new size")
    if not 0 < old_size <= new_size:
        raise ValueError(f"consistency proof needs 0 < old_size <= new_size, got {old_size}, {new_size}")
    if old_size == new_size:
        return []
    return _proof_tiles(old_size - 1, new_size)


class TileReader:
    """The nodes of a published tree of ``size`` leaves, read from its tiles.

    ``get_node(level, index)`` is the ``GetNode`` of :mod:`hub.ledger.merkle`: the
    hash of the perfect subtree covering leaves ``[index << level, (index + 1) << level)``,
    which must lie inside the tree. A node at height ``h`` lives in tile level
    ``L = h // 8``: its ``2**(h % 8)`` stored hashes at tree level ``8L`` start at
    ``index << (h % 8)``, all within one tile, and are hashed up when ``h % 8`` is
    not zero. Each tile is read once per reader, with the width it has in the tree
    of ``size`` (256, or the partial width on the right edge): a reader for size
    ``s`` never asks for a partial tile that a checkpoint of ``s`` does not
    require.

    Which tiles a proof reads. Let ``n_L = size >> 8L``. An inclusion proof of
    leaf ``i`` reads, at each level ``L`` from 0 to ``(bit_length(size) - 1) // 8``,
    at most two tiles: the tile on the leaf's path, index ``i >> 8(L+1)``, and the
    rightmost tile of the level, index ``(n_L - 1) // 256`` (the partial tile when
    ``n_L % 256`` is not zero, else the last full one); often they are the same
    tile, and a level whose nodes the proof does not need is not read. The path
    nodes and the seed of a consistency proof from ``m`` to ``size`` are those of
    leaf ``m - 1``, so it reads the same tiles with ``i = m - 1``.
    :func:`inclusion_proof_tiles` and :func:`consistency_proof_tiles` list them;
    :attr:`tiles_read` records what was actually read. The root, :meth:`root`,
    reads only the rightmost tile of each level.

    Tiles are taken as given; the hashes they yield are checked by whoever
    verifies the proofs against a signed checkpoint.
    """

    __slots__ = ("_cache", "_read_tile", "_size", "tiles_read")

    def __init__(self, size: int, read_tile: ReadTile) -> None:
        _check_size(size)
        self._size = size
        self._read_tile = read_tile
        self._cache: dict[Tile, bytes] = {}
        #: tiles read so far, in the order first read
        self.tiles_read: list[Tile] = []

    @property
    def size(self) -> int:
        return self._size

    def tile(self, level: int, index: int) -> bytes:
        """The hashes of tile (level, index) as the tree of :attr:`size` has them (read once)."""
        width = _width_in(level, index, self._size)
        if not width:
            raise ValueError(f"tree size {self._size} has no tile {index} at level {level}")
        tile = Tile(level, index, width)
        data = self._cache.get(tile)
        if data is None:
            data = _prefix(self._read_tile(level, index, width), level, index, width)
            self._cache[tile] = data
            self.tiles_read.append(tile)
        return data

    def get_node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree at (level, index); it must lie inside the tree."""
        if not 0 <= level <= MAX_LEVEL or index < 0 or (index + 1) << level > self._size:
            raise ValueError(f"node ({level}, {index}) is not a perfect subtree of tree size {self._size}")
        tile, offset = _node_tile(level, index, self._size)
        data = self.tile(tile.level, tile.index)
        count = 1 << (level % TILE_HEIGHT)
        if count == 1:
            return data[offset * HASH_SIZE : (offset + 1) * HASH_SIZE]
        return _subtree_root(data, offset, count)

    __call__ = get_node

    def root(self) -> bytes:
        """MTH of the whole tree of :attr:`size` leaves, from the tiles."""
        if not self._size:
            return EMPTY_ROOT
        parts = [
            self.get_node(level, (self._size >> level) - 1)
            for level in reversed(range(self._size.bit_length()))
            if self._size >> level & 1
        ]
        result = parts.pop()
        while parts:
            result = node_hash(parts.pop(), result)
        return result

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of :attr:`size`."""
        return merkle.inclusion_proof(index, self._size, self.get_node)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``old_size`` to :attr:`size`."""
        return merkle.consistency_proof(old_size, self._size, self.get_node)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash of entry ``index`` (from its level-0 tile)."""
        return self.get_node(0, index)
