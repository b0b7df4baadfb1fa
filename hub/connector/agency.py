"""The agency a connector serves: who it is, its keys, and the membership it checks requests against."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from hub.consortium.encryption_keys import DecryptionKey
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Membership
from hub.errors import HubError
from hub.kafka.topics import Topics
from hub.standard.schemas import SchemaRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Agency:
    """A connector's configuration: the member it serves, its signing key and decryption keys, the
    membership and standard it checks requests against, and where Kafka, verifiers and its state are."""

    member_id: str
    key: SigningKey
    membership: Membership
    registry: SchemaRegistry
    topics: Topics
    bootstrap: str
    #: the verifiers serving proofs for GetReceipt, one per ledger partition (none: GetReceipt
    #: answers FAILED_PRECONDITION)
    verifier_urls: tuple[str, ...] = ()
    #: where the connector keeps its state across restarts (idempotency keys); None: in memory only
    state_dir: Path | None = None
    #: the signing key's file, read again when the membership revokes the key in use (a rotation)
    key_file: Path | None = None
    #: every X25519 private key of the member the connector holds, the current one first: what was
    #: encrypted to a key a rotation replaced still opens (none: encrypted payloads cannot be read)
    decryption_keys: tuple[DecryptionKey, ...] = ()
    #: the current encryption key's file (``keys/<member>.x25519.pem`` in development)
    encryption_key_file: Path | None = None
    #: the envelope version Publish seals: 2 (payloads encrypted for their readers), or 1 (payloads in
    #: clear) only while a consortium created before envelope v2 gives its members encryption keys
    envelope_version: int = 2

    @property
    def outbox(self) -> str:
        return self.topics.outbox(self.member_id)

    @property
    def group(self) -> str:
        return f"{self.topics.namespace}.connector.{self.member_id}"


def load_decryption_keys(member_id: str, files: Iterable[Path]) -> tuple[DecryptionKey, ...]:
    """The member's X25519 private keys in ``files`` (each once, in order); a ConfigError names a file that
    cannot be read or holds no X25519 key. With none, a warning: the connector serves, but cannot open
    a payload encrypted to the member."""
    keys: dict[str, DecryptionKey] = {}
    for path in files:
        key = DecryptionKey.load(path)
        keys.setdefault(key.key_id, key)
    if not keys:
        log.warning("%s: no encryption key file (keys/%s.x25519.pem, or --encryption-key): this connector "
                    "cannot open encrypted payloads", member_id, member_id)
    return tuple(keys.values())


def key_problem(membership: Membership, member_id: str, key_id: str, now: int) -> str | None:
    """Why the membership would refuse a message signed at ``now`` with this key; None if it accepts it."""
    member = membership.member(member_id)
    mkey = member.key(key_id) if member is not None else None
    if mkey is None:
        return (f"this connector's signing key {key_id} is not a key of {member_id} in membership "
                f"v{membership.version}: install the member's current key file; the connector reads it without restart")
    if mkey.is_revoked(now, membership.version) or not mkey.valid_at(now):
        return (f"this connector's signing key {key_id} is revoked or not valid now in membership "
                f"v{membership.version}: install the new key file (`hub agency rotate-key` does); the "
                "connector reads it without restart")
    return None


class CurrentAgency:
    """The agency as the connector knows it now: the membership grows as its log does, and the key
    is replaced by the key file's when the membership revokes the one in use.

    :attr:`agency` is replaced whole (never mutated), so a reader takes one consistent value;
    :attr:`key_problem` says why requests cannot be signed now (None: they can).
    """

    def __init__(self, agency: Agency) -> None:
        self.agency = agency
        self.key_problem: str | None = None

    def apply(self, membership: Membership) -> None:
        """Check requests against ``membership`` from now on."""
        self.agency = replace(self.agency, membership=membership)

    def check_own_key(self, now: int) -> None:
        """Whether the key in use is one the current membership accepts; if not, the key file's."""
        a = self.agency
        problem = key_problem(a.membership, a.member_id, a.key.key_id, now)
        if problem is not None and a.key_file is not None:
            try:
                key = SigningKey.load(a.key_file)
            except (OSError, HubError):
                key = None
            if key is not None and key.key_id != a.key.key_id and key_problem(a.membership, a.member_id,
                                                                               key.key_id, now) is None:
                self.agency = replace(a, key=key)
                log.info("%s: now signing with key %s from %s", a.member_id, key.key_id, a.key_file)
                problem = None
        if problem is not None and problem != self.key_problem:
            log.warning("%s: %s", a.member_id, problem)
        self.key_problem = problem
