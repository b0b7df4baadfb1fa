"""C2SP tlog-tiles entry bundles (https://c2sp.org/tlog-tiles, "Log Entries"): their byte encoding.

An entry bundle holds the entries of one level-0 tile, 1 to 256 of them, each as
a big-endian uint16 length and its bytes. It is served at
:func:`hub.ledger.tile_paths.entries_path`; :func:`hub.ledger.tiles.bundles_for_growth`
builds the bundles to write as the log grows. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import DecodeError, EncodeError
from hub.ledger.tile_paths import TILE_WIDTH

__all__ = ["MAX_BUNDLE_ENTRY_SIZE", "decode_entry_bundle", "encode_entry_bundle"]

#: Largest entry in a bundle: its length is a big-endian uint16.
MAX_BUNDLE_ENTRY_SIZE = 0xFFFF


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes.

    1 to 256 entries (an empty bundle is never served), each at most 65,535
    bytes; :class:`EncodeError` otherwise.
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise EncodeError(f"an entry bundle holds 1 to {TILE_WIDTH} entries, not {len(entries)}")
    parts = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, (bytes, bytearray, memoryview)):
            raise EncodeError(f"bundle entry {i} is not bytes")
        if len(entry) > MAX_BUNDLE_ENTRY_SIZE:
            raise EncodeError(
                f"bundle entry {i} is {len(entry)} bytes, more than the {MAX_BUNDLE_ENTRY_SIZE} a bundle allows"
            )
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of a bundle. :class:`DecodeError` if a length runs past the end, the
    bundle is empty or holds more than 256 entries, or (when ``width`` is given) it does
    not hold exactly ``width`` entries."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("entry bundle is not bytes")
    view = memoryview(data)
    entries: list[bytes] = []
    pos = 0
    while pos < len(view):
        if len(entries) == TILE_WIDTH:
            raise DecodeError(f"entry bundle holds more than {TILE_WIDTH} entries")
        if pos + 2 > len(view):
            raise DecodeError(f"entry bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(view[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(view):
            raise DecodeError(
                f"entry {len(entries)} of the bundle needs {length} bytes, {len(view) - pos} are left"
            )
        entries.append(bytes(view[pos : pos + length]))
        pos += length
    if not entries:
        raise DecodeError("entry bundle is empty")
    if width is not None and len(entries) != width:
        raise DecodeError(f"entry bundle holds {len(entries)} entries, its path says {width}")
    return entries
