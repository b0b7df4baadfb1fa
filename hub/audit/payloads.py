"""The auditor's view of encrypted payloads (envelope v2): readable, erased, or lost (pure).

Every accepted envelope v2 is either readable (its key capsule is in the keys topic) or erased
(an approved ``erase`` update names it, and its capsule is a tombstone). With the consortium's
audit key, :class:`PayloadAudit` also opens each readable payload and checks it as the sequencer
could not: it opens the commitment the sender signed, decodes under its schema, keeps the domain
rules, and matches the fields its envelope disclosed. Nothing decrypted is kept.

Findings (:class:`hub.audit.replay.Finding`): ``KEY_MISSING`` (no capsule and no erasure approved
it: a payload lost, or destroyed without approval), ``ERASURE_INCOMPLETE`` (an approved erasure
whose capsule is still there: run ``hub kafka erasures apply``), ``PAYLOAD_UNOPENABLE`` (the audit
key does not open it, or it does not open the signed commitment), ``PAYLOAD_INVALID`` (it opens,
but breaks its schema, its rules or its disclosure).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.audit.replay import Finding, Violation
from hub.consortium.membership import Membership
from hub.errors import DecodeError
from hub.standard.disclosure import disclose
from hub.standard.envelope import Envelope
from hub.standard.rules import describe
from hub.standard.schemas import SchemaRegistry
from hub.standard.sealing import CannotOpenError, KekCache, KeyCapsule, open_envelope_payload

#: an approved erasure of a message: a text naming the update ("v7: court order 2026-12") or None
ErasureOf = Callable[[uuid.UUID], str | None]


@dataclass
class PayloadCounts:
    """Per ledger partition: envelopes v2 seen, opened with the audit key, erased by approval."""

    encrypted: int = 0
    opened: int = 0
    erased: int = 0


@dataclass
class PayloadAudit:
    """Told of every accepted entry (a :class:`hub.audit.replay.LoopObserver`). ``capsules``: the
    keys topic's latest record per message id (None: a tombstone); ``reader``: the auditor member
    and its private keys by key id, to open payloads (None: integrity and erasures only)."""

    capsules: Mapping[bytes, bytes | None]
    erasure_of: ErasureOf
    registry: SchemaRegistry
    reader: tuple[str, Mapping[str, X25519PrivateKey]] | None = None
    counts: dict[int, PayloadCounts] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    #: the KEKs opened so far: one HPKE opening per sender's KEK, not per message
    keks: KekCache = field(default_factory=KekCache)

    def observe(self, partition: int, index: int, offset: int, env: Envelope, notarised_at: int,
                membership: Membership, payload: Any) -> None:
        if not env.encrypted:
            return
        counts = self.counts.setdefault(partition, PayloadCounts())
        counts.encrypted += 1

        def flag(finding: Finding, detail: str) -> None:
            self.violations.append(Violation(partition, index, offset, finding, f"message {env.message_id}: {detail}"))

        mid = env.message_id.bytes
        approved = self.erasure_of(env.message_id)
        capsule = self.capsules.get(mid)
        if approved is not None:
            counts.erased += 1
            if capsule is not None:
                flag(Finding.ERASURE_INCOMPLETE, f"erased by {approved}, but its key capsule is still in the "
                     "keys topic: run `hub kafka erasures apply`")
            return
        if capsule is None:
            flag(Finding.KEY_MISSING, "its key capsule is gone and no approved erasure names it: the payload is "
                 "unreadable to everyone" if mid in self.capsules else "no key capsule in the keys topic: the "
                 "payload is unreadable to everyone")
            return
        if self.reader is None:
            return
        auditor, keys = self.reader
        if membership.member(auditor) is None:
            return  # validated before this auditor was a member: not sealed for it
        try:
            opened = open_envelope_payload(env, KeyCapsule.from_bytes(capsule), auditor, keys, self.keks)
        except (CannotOpenError, DecodeError) as exc:
            flag(Finding.PAYLOAD_UNOPENABLE, str(exc))
            return
        counts.opened += 1
        schema = self.registry.by_fingerprint(env.schema_fingerprint)
        if schema is None:
            return  # the replay flags an unknown schema
        try:
            plain = schema.decode(opened.payload)
        except DecodeError as exc:
            flag(Finding.PAYLOAD_INVALID, f"the payload does not decode under {env.type}: {exc}")
            return
        broken = schema.check_rules(plain, env.created_at)
        if broken:
            flag(Finding.PAYLOAD_INVALID, f"RULE_VIOLATED: {describe(broken)}")
        if disclose(env.type, plain) != env.disclosed:
            flag(Finding.PAYLOAD_INVALID, "the fields its envelope discloses in clear differ from the payload's")


@dataclass
class Observers:
    """Several observers told of each accepted entry in turn."""

    each: tuple[Any, ...]

    def observe(self, partition: int, index: int, offset: int, env: Envelope, notarised_at: int,
                membership: Membership, payload: Any) -> None:
        for o in self.each:
            o.observe(partition, index, offset, env, notarised_at, membership, payload)
