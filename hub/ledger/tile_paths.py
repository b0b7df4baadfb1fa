"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles) coordinates: the tile geometry and the paths of tiles and bundles.

Layout (tlog-tiles, "Merkle Tree"). A tile is a subtree of height 8. The tile
``N`` at level ``L`` is the sequence of up to 256 Merkle Tree Hashes::

    MTH(D[(N * 256 + i) * 256**L : (N * 256 + i + 1) * 256**L])   for i in 0..W-1

so level 0 holds leaf hashes, and each hash at level ``L + 1`` is the root of a
*full* tile at level ``L``. In the node coordinates of :mod:`hub.ledger.merkle`,
hash ``i`` of tile ``(L, N)`` is the node ``(8 * L, N * 256 + i)``. A tree of
``size`` leaves has ``n_L = size >> (8 * L)`` hashes at level ``L``: full tiles
``0 .. n_L // 256 - 1`` and, when ``n_L % 256`` is not zero, a partial tile
``n_L // 256`` of width ``n_L % 256`` (served as ``.p/<W>``; never hashed into
the level above).

Paths. ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``, where ``N`` is
written in groups of three digits, every group but the last prefixed with
``x`` (index 1234067 is ``x001/x234/067``). Parsing accepts exactly the paths
that :func:`tile_path` and :func:`entries_path` write, and raises
:class:`hub.errors.DecodeError` for anything else. Paths are relative to the
log's prefix. Pure: no file or network I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import DecodeError
from hub.ledger.merkle import HASH_SIZE

__all__ = [
    "FULL_TILE_SIZE",
    "MAX_LEVEL",
    "MAX_TREE_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "entries_path",
    "parse_entries_path",
    "parse_tile_path",
    "tile_path",
]

#: Height of a tile: each tile level spans 8 levels of the Merkle tree.
TILE_HEIGHT = 8
#: Hashes in a full tile, and entries in a full entry bundle.
TILE_WIDTH = 1 << TILE_HEIGHT
#: Bytes in a full tile: 256 SHA-256 hashes.
FULL_TILE_SIZE = TILE_WIDTH * HASH_SIZE
#: Highest tile level a path may name (tlog-tiles: "between 0 and 63").
MAX_LEVEL = 63
#: Largest tree size (unsigned 64-bit, as in checkpoints).
MAX_TREE_SIZE = 2**64 - 1

_PATH_BASE = 1000
_MAX_PATH_LENGTH = 64  # the longest valid path, tile/entries/x072/.../935.p/255, has 47 characters
_TILE_PATH = re.compile(r"tile/([0-9]{1,2})/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?")
_ENTRIES_PATH = re.compile(r"tile/entries/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?")


@dataclass(frozen=True, order=True, slots=True)
class Tile:
    """One tile: its level, its index within the level and its width (256 for a full tile)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH


def _max_index(level: int) -> int:
    """Highest tile index at ``level`` whose start index, N * 256**(L+1), is a 64-bit tree index."""
    return MAX_TREE_SIZE >> (TILE_HEIGHT * (level + 1))


def _check_coords(level: int, index: int, width: int) -> None:
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level {level} is outside 0..{MAX_LEVEL}")
    if not 0 <= index <= _max_index(level):
        raise ValueError(f"tile index {index} is outside 0..{_max_index(level)} at level {level}")
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is outside 1..{TILE_WIDTH}")


def _encode_index(index: int, width: int) -> str:
    groups = []
    while True:
        groups.append(index % _PATH_BASE)
        index //= _PATH_BASE
        if not index:
            break
    text = "/".join([f"x{g:03d}" for g in reversed(groups[1:])] + [f"{groups[0]:03d}"])
    return text if width == TILE_WIDTH else f"{text}.p/{width}"


def _decode_index(text: str) -> int:
    index = 0
    for group in text.split("/"):
        index = index * _PATH_BASE + int(group.removeprefix("x"))
    return index


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``: the path of a tile, relative to the log's prefix.

    ``width`` is 256 for a full tile (no suffix) or 1..255 for a partial one.
    Raises :class:`ValueError` for a level outside 0..63, a negative index, an
    index whose tile would start past 2**64 leaves, or a width outside 1..256.
    """
    _check_coords(level, index, width)
    return f"tile/{level}/{_encode_index(index, width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``: the path of an entry bundle, relative to the log's prefix."""
    _check_coords(0, index, width)
    return f"tile/entries/{_encode_index(index, width)}"


def parse_tile_path(path: str) -> Tile:
    """The tile a path names. Only the exact form :func:`tile_path` writes is accepted.

    Raises :class:`DecodeError` for anything else: leading zeroes in the level
    or width, a level above 63, a group that is not three digits, a missing or
    extra ``x``, a leading zero group (``x000/...``), a width of 0 or 256 and
    more, an index out of range, a trailing slash, and so on.
    """
    if not isinstance(path, str):
        raise DecodeError("tile path is not a string")
    match = _TILE_PATH.fullmatch(path) if len(path) <= _MAX_PATH_LENGTH else None
    if match is None:
        raise DecodeError(f"not a tlog-tiles tile path: {path!r}")
    level_text, index_text, width_text = match.groups()
    level, index = int(level_text), _decode_index(index_text)
    width = TILE_WIDTH if width_text is None else int(width_text)
    try:
        canonical = tile_path(level, index, width)
    except ValueError as exc:
        raise DecodeError(f"not a tlog-tiles tile path: {path!r}: {exc}") from exc
    if canonical != path or (width_text is not None and width == TILE_WIDTH):
        raise DecodeError(f"not a canonical tlog-tiles tile path: {path!r} (expected {canonical!r})")
    return Tile(level, index, width)


def parse_entries_path(path: str) -> tuple[int, int]:
    """``(index, width)`` of an entry bundle path; :class:`DecodeError` unless :func:`entries_path` writes it."""
    if not isinstance(path, str):
        raise DecodeError("entry bundle path is not a string")
    match = _ENTRIES_PATH.fullmatch(path) if len(path) <= _MAX_PATH_LENGTH else None
    if match is None:
        raise DecodeError(f"not a tlog-tiles entry bundle path: {path!r}")
    index_text, width_text = match.groups()
    index = _decode_index(index_text)
    width = TILE_WIDTH if width_text is None else int(width_text)
    try:
        canonical = entries_path(index, width)
    except ValueError as exc:
        raise DecodeError(f"not a tlog-tiles entry bundle path: {path!r}: {exc}") from exc
    if canonical != path or (width_text is not None and width == TILE_WIDTH):
        raise DecodeError(f"not a canonical tlog-tiles entry bundle path: {path!r} (expected {canonical!r})")
    return index, width
