"""hub.ledger.tiles, tile_paths and entry_bundles against c2sp.org/tlog-tiles (paths, bundles, the spec's
examples), against tiles, roots and proofs computed by golang.org/x/mod/sumdb/tlog
(tests/assets/tiles/vectors.json), and against hub.ledger.merkle over trees grown in random steps."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.errors import DecodeError, EncodeError, VerificationError
from hub.ledger import merkle
from hub.ledger.entry_bundles import decode_entry_bundle, encode_entry_bundle
from hub.ledger.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion
from hub.ledger.tile_paths import (
    FULL_TILE_SIZE,
    TILE_WIDTH,
    Tile,
    entries_path,
    parse_entries_path,
    parse_tile_path,
    tile_path,
)
from hub.ledger.tiles import (
    TileReader,
    bundles_for_growth,
    changed_tiles,
    consistency_proof_tiles,
    inclusion_proof_tiles,
    tile_root,
    tiles_for_growth,
    tiles_for_size,
)

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "assets" / "tiles" / "vectors.json").read_text())


def entry(i: int) -> bytes:
    return b"leaf %d" % i  # the entries of the Go vectors


LEAVES = [leaf_hash(entry(i)) for i in range(70_000)]


class Store:
    """Published tiles by path, as a verifier's file tree would hold them; counts reads."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.reads: list[tuple[int, int, int]] = []

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        self.reads.append((level, index, width))
        return self.files[tile_path(level, index, width)]

    def grow(self, old: int, new: int, leaves: Sequence[bytes] = LEAVES) -> dict[str, bytes]:
        self.reads.clear()
        out = tiles_for_growth(old, new, leaves[old:new], self.read_tile)
        for path, data in out.items():
            assert self.files.get(path, data) == data, f"{path} rewritten with other bytes"
        self.files.update(out)
        return out

    def reader(self, size: int) -> TileReader:
        return TileReader(size, self.read_tile)


def no_reads(level: int, index: int, width: int) -> bytes:
    raise AssertionError(f"unexpected read of tile ({level}, {index}, {width})")


def random_schedule(rng: random.Random, end: int, max_step: int) -> list[int]:
    """Tree sizes from 0 to ``end`` in random steps of 1..max_step."""
    sizes = [0]
    while sizes[-1] < end:
        sizes.append(min(end, sizes[-1] + rng.randint(1, max_step)))
    return sizes


# --- paths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 1234067, 256, "tile/0/x001/x234/067"),  # the spec's example
        (0, 0, 256, "tile/0/000"),
        (0, 0, 1, "tile/0/000.p/1"),
        (0, 273, 112, "tile/0/273.p/112"),  # tree size 70,000 (spec, "Partial Tiles")
        (1, 1, 17, "tile/1/001.p/17"),
        (2, 0, 1, "tile/2/000.p/1"),
        (1, 0, 1, "tile/1/000.p/1"),  # tree size 256
        (0, 999, 255, "tile/0/999.p/255"),
        (0, 1000, 256, "tile/0/x001/000"),
        (3, 123456789, 256, "tile/3/x123/x456/789"),
        (0, 2**56 - 1, 256, "tile/0/x072/x057/x594/x037/x927/935"),
        (7, 0, 1, "tile/7/000.p/1"),
        (63, 0, 5, "tile/63/000.p/5"),
    ],
)
def test_tile_paths_as_tlog_tiles_writes_them(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path
    assert parse_tile_path(path) == Tile(level, index, width)
    assert Tile(level, index, width).path == path
    assert Tile(level, index, width).is_full == (width == 256)


@pytest.mark.parametrize(
    ("index", "width", "path"),
    [
        (1234067, 256, "tile/entries/x001/x234/067"),
        (0, 256, "tile/entries/000"),
        (273, 112, "tile/entries/273.p/112"),
        (1000000, 3, "tile/entries/x001/x000/000.p/3"),
    ],
)
def test_entry_bundle_paths(index: int, width: int, path: str) -> None:
    assert entries_path(index, width) == path
    assert parse_entries_path(path) == (index, width)


def test_paths_round_trip_at_group_boundaries() -> None:
    for level in (0, 1, 5):
        for index in (0, 1, 9, 10, 99, 100, 999, 1000, 1001, 999_999, 1_000_000, 10**9, 2**40 + 7):
            for width in (1, 77, 255, 256):
                if index > (2**64 - 1) >> (8 * (level + 1)):
                    continue
                path = tile_path(level, index, width)
                assert parse_tile_path(path) == Tile(level, index, width)
                assert path.endswith("" if width == 256 else f".p/{width}")
                groups = path.removesuffix(f".p/{width}").split("/")[2:]
                assert all(g.startswith("x") for g in groups[:-1]) and not groups[-1].startswith("x")
                assert all(len(g.removeprefix("x")) == 3 for g in groups)
                assert int("".join(g.removeprefix("x") for g in groups)) == index
                assert parse_entries_path(entries_path(index, width)) == (index, width)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile/0",
        "tile/0/",
        "tile/0/1",
        "tile/0/01",
        "tile/0/0001",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",  # levels are 0..63
        "tile/-1/000",
        "tile/0/-01",
        "tile/0/+01",
        "tile/0/x001",  # the last group has no x
        "tile/0/001/234",  # every group but the last has one
        "tile/0/x001/x234/x067",
        "tile/0/x000/001",  # no leading zero group
        "tile/0/x1000/000",
        "tile/0/x01/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",  # a full tile has no .p
        "tile/0/000.p/05",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.p/1/",
        "tile/0/000/",
        "/tile/0/000",
        "tile//000",
        "tile/0//000",
        "tile/0/000\n",
        " tile/0/000",
        "Tile/0/000",
        "tile/0/\u0660\u0660\u0660",  # Arabic-Indic digits are digits to int(), not to the spec
        "tile/entries/000",
        "tile/7/001",  # would start at leaf 2**64
        "tile/0/x072/x057/x594/x037/x927/936",  # 2**56: past 2**64 leaves
        "tile/8/data/000",  # Go's sumdb names, not tlog-tiles
        "tile/8/0/000",
        "tile/0/" + "x000/" * 10_000 + "001",
    ],
)
def test_malformed_tile_paths_are_rejected(path: str) -> None:
    with pytest.raises(DecodeError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "tile/entries",
        "tile/entries/",
        "tile/entries/1",
        "tile/entries/x000/001",
        "tile/entries/000.p/256",
        "tile/entries/000.p/0",
        "tile/entries/x001",
        "tile/0/000",
        "tile/data/000",
        "tile/entries/000.p/01",
        "tile/entries/x072/x057/x594/x037/x927/936",
    ],
)
def test_malformed_entry_bundle_paths_are_rejected(path: str) -> None:
    with pytest.raises(DecodeError):
        parse_entries_path(path)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(DecodeError):
        parse_tile_path(b"tile/0/000")  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        parse_entries_path(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [(-1, 0, 256), (64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257), (7, 1, 256), (0, 2**56, 1)],
)
def test_tile_path_refuses_impossible_tiles(level: int, index: int, width: int) -> None:
    with pytest.raises(ValueError):
        tile_path(level, index, width)


# --- which tiles a tree has (the spec's examples, and Go's NewTiles) ----------------------------------


def test_tiles_of_a_tree_of_70000_as_in_the_spec() -> None:
    tiles = tiles_for_size(70_000)
    assert [t for t in tiles if t.level == 0 and t.is_full] == [Tile(0, n) for n in range(273)]
    assert [t for t in tiles if not (t.level == 0 and t.is_full)] == [
        Tile(0, 273, 112),
        Tile(1, 0),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
    ]


def test_tiles_of_a_tree_of_256_as_in_the_spec() -> None:
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert tiles_for_size(1) == [Tile(0, 0, 1)]


@pytest.mark.parametrize("case", VECTORS["growth"], ids=lambda c: f"{c['old']}-{c['new']}")
def test_changed_tiles_match_go_newtiles(case: dict) -> None:
    assert [t.path for t in changed_tiles(case["old"], case["new"])] == case["paths"]


def test_changed_tiles_refuses_shrinking() -> None:
    with pytest.raises(ValueError):
        changed_tiles(5, 4)
    with pytest.raises(ValueError):
        changed_tiles(0, 2**64)


# --- entry bundles ------------------------------------------------------------------------------------


def test_entry_bundle_bytes() -> None:
    assert encode_entry_bundle([b"a", b"", b"\x00\xff"]) == b"\x00\x01a\x00\x00\x00\x02\x00\xff"
    assert decode_entry_bundle(b"\x00\x01a\x00\x00\x00\x02\x00\xff") == [b"a", b"", b"\x00\xff"]


def test_entry_bundle_round_trip_at_the_limits() -> None:
    rng = random.Random(6)
    entries = [rng.randbytes(rng.choice([0, 1, 2, 255, 256, 1000])) for _ in range(254)]
    entries += [b"\xab" * 65_535, b""]
    assert len(entries) == TILE_WIDTH
    data = encode_entry_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, 256) == entries
    assert decode_entry_bundle(encode_entry_bundle([b"x" * 65_535])) == [b"x" * 65_535]


@pytest.mark.parametrize(
    "entries",
    [[], [b"x"] * 257, [b"x" * 65_536], [b"ok", b"y" * 70_000], ["text"]],
    ids=["empty", "257-entries", "entry-65536", "second-too-long", "not-bytes"],
)
def test_entry_bundle_limits_on_encoding(entries: list) -> None:
    with pytest.raises(EncodeError):
        encode_entry_bundle(entries)


@pytest.mark.parametrize(
    ("data", "width"),
    [
        (b"", None),  # empty bundles are never served
        (b"\x00", None),  # half a length
        (b"\x00\x02a", None),  # body cut short
        (b"\x00\x01a\x00", None),  # trailing half length
        (b"\xff\xff" + b"x" * 65_534, None),
        (b"\x00\x00" * 257, None),  # 257 entries
        (b"\x00\x01a\x00\x00", 3),  # width says 3, holds 2
    ],
)
def test_malformed_entry_bundles_are_rejected(data: bytes, width: int | None) -> None:
    with pytest.raises(DecodeError):
        decode_entry_bundle(data, width)


def test_bundles_grow_like_level_0_tiles() -> None:
    rng = random.Random(61)
    entries = [entry(i) for i in range(1_100)]
    files: dict[str, bytes] = {}
    reads: list[tuple[int, int]] = []

    def read_bundle(index: int, width: int) -> bytes:
        reads.append((index, width))
        return files[entries_path(index, width)]

    schedule = random_schedule(rng, 1_100, 300)
    for old, new in itertools.pairwise(schedule):
        reads.clear()
        out = bundles_for_growth(old, new, entries[old:new], read_bundle)
        assert reads == ([] if old % 256 == 0 else [(old // 256, old % 256)])
        tiles = [t for t in changed_tiles(old, new) if t.level == 0]
        assert list(out) == [entries_path(t.index, t.width) for t in tiles]
        level0 = tiles_for_growth(0, new, LEAVES[:new], no_reads)
        for t in tiles:
            bundle = decode_entry_bundle(out[entries_path(t.index, t.width)], t.width)
            assert bundle == entries[t.index * 256 : t.index * 256 + t.width]
            assert b"".join(leaf_hash(e) for e in bundle) == level0[t.path]
        files.update(out)
    assert bundles_for_growth(5, 5, [], read_bundle) == {}
    with pytest.raises(ValueError):
        bundles_for_growth(0, 2, [b"x"], read_bundle)


# --- tiles, roots and proofs against Go's tlog ---------------------------------------------------------


@pytest.mark.parametrize("tree", VECTORS["trees"], ids=lambda t: str(t["size"]))
def test_tiles_and_root_match_go_tlog(tree: dict) -> None:
    size = tree["size"]
    out = tiles_for_growth(0, size, LEAVES[:size], no_reads)
    assert [(p, hashlib.sha256(d).hexdigest()) for p, d in out.items()] == [
        (t["path"], t["sha256"]) for t in tree["tiles"]
    ]
    for t in tree["tiles"]:
        if "hex" in t:
            assert out[t["path"]].hex() == t["hex"]
    reader = TileReader(size, lambda level, index, width: out[tile_path(level, index, width)])
    assert reader.root().hex() == tree["root"]
    assert root_from_leaf_hashes(LEAVES[:size]).hex() == tree["root"]


def _go_proof_store() -> Store:
    store = Store()
    sizes = sorted({case["b"] for case in VECTORS["inclusion"] + VECTORS["consistency"]})
    for old, new in itertools.pairwise([0, *sizes]):
        store.grow(old, new)
    return store


_GO_STORE = _go_proof_store()


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['a']}-in-{c['b']}")
def test_inclusion_proofs_from_tiles_match_go_tlog(case: dict) -> None:
    reader = _GO_STORE.reader(case["b"])
    proof = reader.inclusion_proof(case["a"])
    assert [h.hex() for h in proof] == case["proof"]
    verify_inclusion(
        LEAVES[case["a"]], case["a"], case["b"], proof, root_from_leaf_hashes(LEAVES[: case["b"]])
    )


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['a']}-to-{c['b']}")
def test_consistency_proofs_from_tiles_match_go_tlog(case: dict) -> None:
    reader = _GO_STORE.reader(case["b"])
    proof = reader.consistency_proof(case["a"])
    assert [h.hex() for h in proof] == case["proof"]
    verify_consistency(
        case["a"],
        case["b"],
        proof,
        root_from_leaf_hashes(LEAVES[: case["a"]]),
        root_from_leaf_hashes(LEAVES[: case["b"]]),
    )


# --- growth in random steps against hub.ledger.merkle --------------------------------------------------


def _check_tree(store: Store, size: int, rng: random.Random) -> None:
    """Root, and sampled inclusion and consistency proofs, from tiles equal merkle's from leaves."""
    leaves = LEAVES[:size]
    reader = store.reader(size)
    root = reader.root()
    assert root == root_from_leaf_hashes(leaves)
    levels = {t.level for t in reader.tiles_read}
    assert len(reader.tiles_read) == len(levels)  # one tile per level: the right edge
    indexes = {0, size - 1, rng.randrange(size), rng.randrange(size), min(size - 1, 255), min(size - 1, 256)}
    for index in sorted(indexes):
        reader = store.reader(size)
        proof = reader.inclusion_proof(index)
        assert proof == merkle.inclusion_proof_from_leaves(index, leaves)
        verify_inclusion(leaves[index], index, size, proof, root)
        allowed = inclusion_proof_tiles(index, size)
        assert set(reader.tiles_read) <= set(allowed), (index, size)
        assert all(sum(t.level == lv for t in allowed) <= 2 for lv in range(8))
    for old in sorted({1, size, rng.randint(1, size), rng.randint(1, size), min(size, 256)}):
        reader = store.reader(size)
        proof = reader.consistency_proof(old)
        assert proof == merkle.consistency_proof_from_leaves(old, leaves)
        verify_consistency(old, size, proof, root_from_leaf_hashes(leaves[:old]), root)
        assert set(reader.tiles_read) <= set(consistency_proof_tiles(old, size)), (old, size)


def grow(schedule: Sequence[int], check: bool) -> Store:
    """Publish the tree at each size of ``schedule``; with ``check``, test each publication."""
    rng = random.Random(schedule[-1] ^ len(schedule))
    store = Store()
    for old, new in itertools.pairwise(schedule):
        out = store.grow(old, new)
        if not check:
            continue
        assert list(out) == [t.path for t in changed_tiles(old, new)]
        for path, data in out.items():
            assert len(data) == 32 * parse_tile_path(path).width
        # only the old right edge is read, once per level that grows
        assert store.reads == [
            (t.level, t.index, (old >> (8 * t.level)) % 256)
            for t in changed_tiles(old, new)
            if t.index == (old >> (8 * t.level)) // 256 and (old >> (8 * t.level)) % 256
        ]
        _check_tree(store, new, rng)
    return store


SCHEDULES = {f"steps-of-1..{m}": random_schedule(random.Random(m), 1_100, m) for m in (10, 40, 300)}


@pytest.mark.parametrize("schedule", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_random_growth_up_to_1100(schedule: list[int]) -> None:
    grow(schedule, check=True)


def test_every_size_from_1_to_1100() -> None:
    """One publication per entry: every tree size 1..1100 has its root and proofs from tiles."""
    store = Store()
    rng = random.Random(1100)
    for size in range(1, 1_101):
        store.grow(size - 1, size)
        reader = store.reader(size)
        assert reader.root() == root_from_leaf_hashes(LEAVES[:size])
        index = rng.randrange(size)
        assert reader.inclusion_proof(index) == merkle.inclusion_proof_from_leaves(index, LEAVES[:size])
        old = rng.randint(1, size)
        assert reader.consistency_proof(old) == merkle.consistency_proof_from_leaves(old, LEAVES[:size])


def test_full_tiles_do_not_depend_on_how_growth_was_split() -> None:
    one_go = tiles_for_growth(0, 1_100, LEAVES[:1_100], no_reads)
    assert list(one_go) == [
        "tile/0/000",
        "tile/0/001",
        "tile/0/002",
        "tile/0/003",
        "tile/0/004.p/76",
        "tile/1/000.p/4",
    ]
    full = {p: d for p, d in one_go.items() if ".p/" not in p}
    stores = [grow(schedule, check=False) for schedule in SCHEDULES.values()]
    stores.append(grow(list(range(1_101)), check=False))
    everything: dict[str, bytes] = {}
    for store in stores:
        assert {p: d for p, d in store.files.items() if ".p/" not in p} == full
        # a path names one content: a partial tile published under two schedules is the same bytes
        for path, data in store.files.items():
            assert everything.setdefault(path, data) == data, path
    assert len([p for p in everything if ".p/" in p]) == 1_100 - 4 + 4  # each size's own right edge
    for path, data in one_go.items():
        assert everything[path] == data


def test_every_node_of_a_tree_from_tiles() -> None:
    """get_node for every perfect subtree of trees around tile borders equals its MTH from leaves."""
    for size in (1, 255, 256, 257, 511, 512, 1_023, 1_024, 1_100):
        store = Store()
        store.grow(0, size)
        reader = store.reader(size)
        for level in range(size.bit_length()):
            for index in range(size >> level):
                want = root_from_leaf_hashes(LEAVES[index << level : (index + 1) << level])
                assert reader.get_node(level, index) == want, (size, level, index)
        assert reader.leaf_hash(size - 1) == LEAVES[size - 1]
        with pytest.raises(ValueError):
            reader.get_node(0, size)
        with pytest.raises(ValueError):
            reader.get_node(size.bit_length(), 0)


def test_all_proofs_of_one_tree_from_tiles() -> None:
    size = 600
    leaves = LEAVES[:size]
    store = Store()
    store.grow(0, 300)
    store.grow(300, size)
    store.reads.clear()
    root = root_from_leaf_hashes(leaves)
    reader = store.reader(size)
    for index in range(size):
        assert reader.inclusion_proof(index) == merkle.inclusion_proof_from_leaves(index, leaves)
    for old in range(1, size + 1):
        proof = reader.consistency_proof(old)
        assert proof == merkle.consistency_proof_from_leaves(old, leaves)
        verify_consistency(old, size, proof, root_from_leaf_hashes(leaves[:old]), root)
    # one reader caches: each of its tiles was read once
    assert len(reader.tiles_read) == len(set(reader.tiles_read)) == len(store.reads)
    assert set(reader.tiles_read) == {Tile(0, 0), Tile(0, 1), Tile(0, 2, 88), Tile(1, 0, 2)}


# --- large trees: a few big growth steps ---------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        [0, 70_000],
        [0, 1, 255, 256, 65_535, 65_536, 65_537, 69_999, 70_000],
        [0, 12_345, 65_500, 65_792, 70_000],
    ],
    ids=["one-step", "borders", "random"],
)
def test_large_tree_of_70000(schedule: list[int]) -> None:
    rng = random.Random(70_000)
    store = Store()
    for old, new in itertools.pairwise(schedule):
        store.grow(old, new)
        assert store.reader(new).root() == root_from_leaf_hashes(LEAVES[:new])
    size = schedule[-1]
    reader = store.reader(size)
    root = reader.root()
    assert set(reader.tiles_read) == {Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)}
    for index in (0, 65_535, 65_536, 69_999, rng.randrange(size)):
        reader = store.reader(size)
        proof = reader.inclusion_proof(index)
        assert proof == merkle.inclusion_proof_from_leaves(index, LEAVES[:size])
        verify_inclusion(LEAVES[index], index, size, proof, root)
        assert set(reader.tiles_read) <= set(inclusion_proof_tiles(index, size))
        assert len(reader.tiles_read) <= 6
    for old in schedule[1:]:
        proof = store.reader(size).consistency_proof(old)
        assert proof == merkle.consistency_proof_from_leaves(old, LEAVES[:size])
        verify_consistency(old, size, proof, root_from_leaf_hashes(LEAVES[:old]), root)
    full = {p: d for p, d in store.files.items() if ".p/" not in p}
    assert len(full) == 273 + 1
    assert full == {p: d for p, d in _LARGE_ONE_GO.items() if ".p/" not in p}


_LARGE_ONE_GO = tiles_for_growth(0, 70_000, LEAVES, no_reads)


def test_tiles_a_proof_reads_as_documented() -> None:
    # leaf 1000 of 70000: its own tile at level 0 (3) and level 1 (0), plus the right edge
    assert inclusion_proof_tiles(1_000, 70_000) == [
        Tile(0, 3),
        Tile(0, 273, 112),
        Tile(1, 0),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
    ]
    assert consistency_proof_tiles(1_001, 70_000) == inclusion_proof_tiles(1_000, 70_000)
    assert consistency_proof_tiles(5, 5) == []
    assert inclusion_proof_tiles(0, 1) == [Tile(0, 0, 1)]
    assert inclusion_proof_tiles(0, 256) == [Tile(0, 0), Tile(1, 0, 1)]
    # leaf 65536 of 65537 has no level-1 tile of its own (tile/1/001 does not exist yet)
    assert inclusion_proof_tiles(65_536, 65_537) == [Tile(0, 256, 1), Tile(1, 0), Tile(2, 0, 1)]
    reader = TileReader(65_537, lambda level, index, width: _GO_STORE.files[tile_path(level, index, width)])
    assert reader.inclusion_proof(65_536) == [root_from_leaf_hashes(LEAVES[:65_536])]
    assert reader.tiles_read == [Tile(2, 0, 1)]
    with pytest.raises(ValueError):
        reader.tile(1, 1)
    with pytest.raises(ValueError):
        inclusion_proof_tiles(5, 5)
    with pytest.raises(ValueError):
        consistency_proof_tiles(0, 5)


# --- bad input ----------------------------------------------------------------------------------------


def test_growth_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        tiles_for_growth(0, 3, LEAVES[:2], no_reads)
    with pytest.raises(ValueError):
        tiles_for_growth(3, 2, [], no_reads)
    with pytest.raises(ValueError):
        tiles_for_growth(0, 1, [b"short"], no_reads)
    assert tiles_for_growth(7, 7, [], no_reads) == {}


@pytest.mark.parametrize("length", [0, 31, 32 * 4, 32 * 6 + 1, FULL_TILE_SIZE + 32])
def test_a_tile_read_back_with_the_wrong_length_is_refused(length: int) -> None:
    def read_tile(level: int, index: int, width: int) -> bytes:
        return b"\x00" * length

    with pytest.raises(DecodeError):
        tiles_for_growth(5, 6, LEAVES[5:6], read_tile)
    with pytest.raises(DecodeError):
        TileReader(5, read_tile).root()


def test_a_wider_tile_may_stand_in_for_a_partial_one() -> None:
    # tlog-tiles lets a partial tile go once the full one exists: a reader for an older size uses its prefix
    out = tiles_for_growth(0, 512, LEAVES[:512], no_reads)

    def read_tile(level: int, index: int, width: int) -> bytes:
        return out[tile_path(level, index)] if level == 0 else out[tile_path(level, index, 2)]

    reader = TileReader(300, read_tile)
    assert reader.root() == root_from_leaf_hashes(LEAVES[:300])
    assert reader.inclusion_proof(299) == merkle.inclusion_proof_from_leaves(299, LEAVES[:300])
    assert tiles_for_growth(300, 301, LEAVES[300:301], read_tile)["tile/0/001.p/45"] == b"".join(
        LEAVES[256:301]
    )


def test_proofs_come_from_the_tiles() -> None:
    """A tampered tile changes the proof, which then fails to verify against the real root."""
    size = 1_000
    out = dict(tiles_for_growth(0, size, LEAVES[:size], no_reads))
    root = root_from_leaf_hashes(LEAVES[:size])
    bad = bytearray(out["tile/0/001"])
    bad[5 * 32] ^= 1  # hash of leaf 261
    out["tile/0/001"] = bytes(bad)
    reader = TileReader(size, lambda level, index, width: out[tile_path(level, index, width)])
    proof = reader.inclusion_proof(260)
    assert proof != merkle.inclusion_proof_from_leaves(260, LEAVES[:size])
    with pytest.raises(VerificationError):
        verify_inclusion(LEAVES[260], 260, size, proof, root)
    # nodes above level 0 come from level-1 tiles, which the tampering did not touch
    assert reader.get_node(8, 1) == root_from_leaf_hashes(LEAVES[256:512])
    assert reader.get_node(7, 2) != root_from_leaf_hashes(LEAVES[256:384])


def test_tile_root_is_the_mth_of_its_hashes() -> None:
    data = b"".join(LEAVES[256:512])
    assert tile_root(data) == root_from_leaf_hashes(LEAVES[256:512])
    with pytest.raises(ValueError):
        tile_root(data[:-32])


def test_the_empty_tree_reads_no_tile() -> None:
    reader = TileReader(0, no_reads)
    assert reader.root() == merkle.EMPTY_ROOT
    assert reader.tiles_read == []
