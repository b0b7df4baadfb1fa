"""A tlog-tiles directory on disk: ``checkpoint`` and ``tile/...`` exactly as served.

The layout is the tlog-tiles static read API, so the directory can also be served by any
static web server. Every file is written atomically (temporary file, fsync, rename), so a
reader never sees half a tile, and a crash leaves either the old or the new file. The
checkpoint is written last, after the tiles and entry bundles it needs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hub.errors import ConfigError, DecodeError
from hub.ledger import entry_bundles, tile_paths

CHECKPOINT = "checkpoint"


class TileStore:
    """The tlog-tiles directory at ``root``: atomic writes, reads of tiles, bundles and the checkpoint."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the tile directory {root}: {exc.strerror}") from exc

    def _path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, data: bytes) -> None:
        """Write ``data`` at ``rel`` atomically (and durably)."""
        path = self._path(rel)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc

    def read(self, rel: str) -> bytes | None:
        try:
            return self._path(rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read {self._path(rel)}: {exc.strerror}") from exc

    def checkpoint(self) -> bytes | None:
        return self.read(CHECKPOINT)

    def write_checkpoint(self, note_bytes: bytes) -> None:
        self.write(CHECKPOINT, note_bytes)

    def _widest(self, level: int | None, index: int, width: int) -> bytes:
        """A tile (level None: an entry bundle) at its exact width, else the full one, else a wider
        partial one (tlog-tiles lets a client use a wider tile than it needs)."""

        def path(w: int) -> str:
            return tile_paths.entries_path(index, w) if level is None else tile_paths.tile_path(level, index, w)

        for w in (width, tile_paths.TILE_WIDTH, *range(width + 1, tile_paths.TILE_WIDTH)):
            data = self.read(path(w))
            if data is not None:
                return data
        raise DecodeError(f"{path(width)} is not in {self.root}")

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        """:data:`hub.ledger.tiles.ReadTile` over the directory."""
        return self._widest(level, index, width)

    def read_bundle(self, index: int, width: int) -> bytes:
        """:data:`hub.ledger.tiles.ReadBundle` over the directory."""
        return self._widest(None, index, width)

    def entry(self, index: int, size: int) -> bytes:
        """Entry ``index`` of a published tree of ``size`` entries, from its bundle."""
        first, offset = divmod(index, tile_paths.TILE_WIDTH)
        width = min(tile_paths.TILE_WIDTH, size - first * tile_paths.TILE_WIDTH)
        return entry_bundles.decode_entry_bundle(self.read_bundle(first, width))[offset]
