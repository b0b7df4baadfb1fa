"""The witness's persisted record: per origin, the latest checkpoint it cosigned.

One JSON file, rewritten whole and atomically on every change (temporary file in
the same directory, fsync, rename, fsync of the directory), so a crash leaves
either the old or the new record and a restart resumes from it::

    {
      "version": 1,
      "logs": {
        "<origin>": {
          "size": 12,
          "root_hash": "<base64 of the 32-byte root>",
          "checkpoint": "<the signed checkpoint note as received>",
          "cosigned_at": 1735689600
        }
      }
    }

:meth:`WitnessState.lock` gives one lock per origin: hold it from reading the
origin's state to persisting the new one, so that check-and-update is atomic
(tlog-witness, "add-checkpoint", the rollback race). :meth:`WitnessState.put`
refuses to record a smaller tree than the one recorded: the witness never goes back.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from hub.errors import ConfigError, HubError
from hub.witness.core import LogState

__all__ = ["STATE_VERSION", "StateError", "WitnessState"]

STATE_VERSION = 1


class StateError(HubError):
    """The witness state could not be persisted, or an update would roll it back."""


def _decode_entry(origin: str, raw: Any) -> LogState:
    try:
        size, root, checkpoint, cosigned_at = (
            raw["size"],
            raw["root_hash"],
            raw["checkpoint"],
            raw["cosigned_at"],
        )
        root_hash = base64.b64decode(root, validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ConfigError(f"witness state for {origin!r} is malformed: {exc}") from exc
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
        or len(root_hash) != 32
        or not isinstance(checkpoint, str)
        or not isinstance(cosigned_at, int)
    ):
        raise ConfigError(f"witness state for {origin!r} is malformed")
    return LogState(size, root_hash, checkpoint, cosigned_at)


def _encode_entry(state: LogState) -> dict[str, Any]:
    return {
        "size": state.size,
        "root_hash": base64.b64encode(state.root_hash).decode("ascii"),
        "checkpoint": state.checkpoint,
        "cosigned_at": state.cosigned_at,
    }


class WitnessState:
    """The per-origin record in a JSON file; thread-safe."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._logs: dict[str, LogState] = {}
        self._write_lock = threading.Lock()
        self._locks_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._load()

    @property
    def path(self) -> Path:
        return self._path

    def _load(self) -> None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read witness state {self._path}: {exc.strerror}") from exc
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"witness state {self._path} is not JSON: {exc}") from exc
        if (
            not isinstance(doc, dict)
            or doc.get("version") != STATE_VERSION
            or not isinstance(doc.get("logs"), dict)
        ):
            raise ConfigError(f"witness state {self._path} is not a version {STATE_VERSION} witness state")
        self._logs = {origin: _decode_entry(origin, raw) for origin, raw in doc["logs"].items()}

    def lock(self, origin: str) -> threading.Lock:
        """The lock serialising check-and-update for ``origin``."""
        with self._locks_lock:
            return self._locks.setdefault(origin, threading.Lock())

    def get(self, origin: str) -> LogState | None:
        """What was last cosigned for ``origin``, or None."""
        with self._write_lock:
            return self._logs.get(origin)

    def origins(self) -> dict[str, LogState]:
        with self._write_lock:
            return dict(self._logs)

    def put(self, origin: str, state: LogState) -> None:
        """Record and persist ``state`` for ``origin`` before returning; never a smaller tree."""
        with self._write_lock:
            previous = self._logs.get(origin)
            if previous is not None and state.size < previous.size:
                raise StateError(
                    f"refusing to roll {origin!r} back from tree size {previous.size} to {state.size}"
                )
            logs = {**self._logs, origin: state}
            self._write(logs)
            self._logs = logs

    def _write(self, logs: dict[str, LogState]) -> None:
        doc = {"version": STATE_VERSION, "logs": {o: _encode_entry(s) for o, s in sorted(logs.items())}}
        data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        directory = self._path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self._path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StateError(f"cannot write witness state {self._path}: {exc.strerror}") from exc
