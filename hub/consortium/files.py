"""A consortium on disk: its membership document and, for development, its members' keys.

Layout of a consortium directory::

    genesis.json          the membership, version 1 (hub.consortium.membership)
    keys/<member>.pem     a member's Ed25519 signing key (development only; 0600)
    keys/<member>.x25519.pem  a member's X25519 key that payloads are encrypted to (development
                          only; 0600); keys/<member>.x25519.pem.<key id>: the keys it replaced, kept
                          to open what was encrypted to them
    keys/admin-<n>.pem    the consortium administrators' keys (development only; quorum 2 of 3)

Later versions are quorum-approved updates in the membership log topic (hub.consortium.governance).

:mod:`hub.dev.consortium` creates a development consortium; this module reads one and writes its
genesis and keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from hub.consortium.encryption_keys import DecryptionKey
from hub.consortium.governance import membership_history
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Membership
from hub.errors import ConfigError

GENESIS = "genesis.json"


def load_membership(directory: Path) -> Membership:
    """The genesis membership of the consortium in ``directory``."""
    path = directory / GENESIS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no consortium at {directory}: run `hub agency init` first") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return Membership.from_json(text)


def load_memberships(directory: Path, updates: Iterable[bytes] = ()) -> dict[int, Membership]:
    """Every membership version: the genesis, then each update (for instance the membership log's,
    read by :func:`hub.kafka.membership_log.read_updates`), each checked against the version before."""
    return membership_history(load_membership(directory), list(updates))


def read_membership_log_file(path: Path) -> list[bytes]:
    """The membership updates saved by `hub agency history`: one update's canonical JSON per line."""
    try:
        return [line for line in path.read_bytes().splitlines() if line.strip()]
    except OSError as exc:
        raise ConfigError(f"cannot read the membership log file {path}: {exc.strerror}") from exc


def load_memberships_offline(directory: Path, log_file: Path) -> dict[int, Membership]:
    """Every membership version from the genesis and a saved membership log, with no broker: each
    update must carry the quorum of the version before it, so the file needs no trust of its own."""
    return load_memberships(directory, read_membership_log_file(log_file))


def write_genesis(directory: Path, membership: Membership) -> None:
    """Write ``membership`` as the consortium's genesis document."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / GENESIS).write_text(membership.to_json(), encoding="utf-8")


def has_genesis(directory: Path) -> bool:
    """Whether ``directory`` already holds a consortium."""
    return (directory / GENESIS).exists()


def key_path(directory: Path, member_id: str) -> Path:
    """Where a development member's signing key is kept (0600)."""
    return directory / "keys" / f"{member_id}.pem"


def load_signing_key(directory: Path, member_id: str) -> SigningKey:
    """The development signing key of ``member_id``; a ConfigError if it has none."""
    path = key_path(directory, member_id)
    if not path.exists():
        raise ConfigError(f"no signing key for {member_id} at {path}")
    return SigningKey.load(path)


def encryption_key_path(directory: Path, member_id: str) -> Path:
    """Where a development member's current X25519 private key is kept (0600)."""
    return directory / "keys" / f"{member_id}.x25519.pem"


def retired_encryption_key_path(directory: Path, member_id: str, key_id: str) -> Path:
    """Where a development member's X25519 private key is kept once a rotation replaced it (0600): still
    needed to open what was encrypted to it. No file of another member can have this name (theirs end
    in ``.pem`` or ``.pem.old``)."""
    return directory / "keys" / f"{member_id}.x25519.pem.{key_id}"


def load_decryption_key(directory: Path, member_id: str) -> DecryptionKey:
    """The development X25519 private key of ``member_id``; a ConfigError naming the file if it has none."""
    path = encryption_key_path(directory, member_id)
    if not path.exists():
        raise ConfigError(f"no encryption key for {member_id} at {path}")
    return DecryptionKey.load(path)


def decryption_key_files(directory: Path, member_id: str) -> list[Path]:
    """Every X25519 private key file of ``member_id`` that exists: the current one first, then those
    rotations replaced (:func:`retired_encryption_key_path`), by name."""
    current = encryption_key_path(directory, member_id)
    retired = re.compile(re.escape(current.name) + r"\.[0-9a-f]{16}")
    keys = directory / "keys"
    old = sorted(p for p in keys.iterdir() if retired.fullmatch(p.name)) if keys.is_dir() else []
    return [current, *old] if current.exists() else old
