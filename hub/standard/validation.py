"""Validation of an inbound message: a pure function returning a verdict.

``validate(raw, membership, registry, replay, now)`` never raises for bad input; it
returns :class:`Accepted` or :class:`Rejected` with a stable :class:`Reason` code
(docs/standard.md lists them). The sequencer calls it for every inbound record and the
auditor calls it again for every ledger entry with the entry's notarised time as
``now``, so both reach the same verdict from the same bytes.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from hub.consortium.membership import MemberKey, Membership, Role
from hub.errors import DecodeError, InputError
from hub.standard.disclosure import clear_fields
from hub.standard.envelope import Envelope, EnvelopeTooLargeError
from hub.standard.rules import describe
from hub.standard.schemas import SchemaRegistry
from hub.standard.sealing import KeyCapsule, Reader


class Reason(StrEnum):
    """Stable rejection codes. Never renumber or reuse; add new ones at the end."""

    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    UNKNOWN_SENDER = "UNKNOWN_SENDER"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    KEY_REVOKED = "KEY_REVOKED"
    POLICY_DENIED = "POLICY_DENIED"
    REPLAYED = "REPLAYED"
    STALE = "STALE"
    FROM_FUTURE = "FROM_FUTURE"
    RULE_VIOLATED = "RULE_VIOLATED"
    #: the sender's connector stopped vouching for it (its caller was told it failed) before the
    #: sequencer could notarise it: see hub.kafka.topics.DELIVER_BY_HEADER
    EXPIRED = "EXPIRED"
    #: an envelope v2 whose key capsule is missing, is another message's, or has no wrap for one of
    #: its readers (a recipient, the sender, an auditor) under a current encryption key
    KEYS_MISSING = "KEYS_MISSING"


class ReplayWindow(Protocol):
    """Whether a message id was already accepted within the replay window."""

    def seen(self, message_id: uuid.UUID) -> bool: ...


class AskIndex(Protocol):
    """The sender and recipients of an accepted message, by its id (to check what answers it)."""

    def asked(self, message_id: uuid.UUID) -> tuple[str, tuple[str, ...]] | None: ...


@dataclass(frozen=True)
class Limits:
    """How old, and how far in the future, a message's created_at may be when it is checked."""

    #: how old (by its created_at) a message may be when it reaches the sequencer
    max_age_us: int = 24 * 3600 * 1_000_000
    #: how far in the future its created_at may be (clock skew between agencies)
    max_skew_us: int = 5 * 60 * 1_000_000

    @property
    def replay_window_us(self) -> int:
        """How long a message id must be remembered: anything older is refused as STALE anyway."""
        return self.max_age_us + self.max_skew_us


@dataclass(frozen=True)
class Accepted:
    """The verdict on a message the hub takes: its envelope and decoded payload."""

    envelope: Envelope
    #: the payload as decoded by the schema check (so no one decodes it twice)
    payload: Any = field(default=None, compare=False, repr=False)
    ok = True


@dataclass(frozen=True)
class Rejected:
    """The verdict on a message the hub refuses: a stable reason code and what was wrong."""

    reason: Reason
    detail: str
    envelope: Envelope | None = None
    ok = False


Verdict = Accepted | Rejected


def open_envelope(raw: bytes, membership: Membership) -> Rejected | tuple[Envelope, MemberKey]:
    """:func:`precheck`'s checks before the signature: the envelope decodes, its sender is a
    member and has the key it names. The envelope and that key, or the rejection."""
    try:
        env = Envelope.from_bytes(raw)
    except EnvelopeTooLargeError as exc:
        return Rejected(Reason.TOO_LARGE, str(exc))
    except DecodeError as exc:
        return Rejected(Reason.MALFORMED, str(exc))
    member = membership.member(env.sender)
    if member is None:
        return Rejected(Reason.UNKNOWN_SENDER, f"{env.sender} is not a member", env)
    mkey = member.key(env.sender_key_id)
    if mkey is None:
        return Rejected(Reason.UNKNOWN_KEY, f"{env.sender} has no key {env.sender_key_id}", env)
    return env, mkey


def bad_signature(env: Envelope) -> Rejected:
    """The verdict on an envelope whose signature does not verify with the key it names."""
    return Rejected(Reason.BAD_SIGNATURE, f"signature does not verify with key {env.sender_key_id}", env)


def after_signature(
    env: Envelope,
    mkey: MemberKey,
    membership: Membership,
    registry: SchemaRegistry,
    now_us: int,
    limits: Limits = Limits(),
) -> Verdict:
    """:func:`precheck`'s checks after the signature, for an envelope whose signature verifies."""
    if mkey.is_revoked(env.created_at, membership.version):
        return Rejected(Reason.KEY_REVOKED, f"key {env.sender_key_id} of {env.sender} is revoked", env)
    if not mkey.valid_at(env.created_at):
        return Rejected(Reason.KEY_NOT_VALID, f"key {env.sender_key_id} is not valid at created_at", env)
    if env.created_at > now_us + limits.max_skew_us:
        return Rejected(Reason.FROM_FUTURE, "created_at is ahead of the hub's clock beyond the allowed skew", env)
    if env.created_at < now_us - limits.max_age_us:
        return Rejected(Reason.STALE, "created_at is older than the hub accepts", env)

    schema = registry.by_fingerprint(env.schema_fingerprint)
    if schema is None or schema.full_name != env.type:
        return Rejected(Reason.UNKNOWN_SCHEMA, f"no schema {env.type} with fingerprint "
                        f"{env.schema_fingerprint.hex()[:16]}…", env)
    if env.encrypted:
        # the sequencer never decrypts: the payload's schema and rules were checked by the sender's
        # connector and are checked again by its readers and the auditor (docs/standard.md)
        payload: Any = clear_fields(env.disclosed)
    else:
        try:
            payload = schema.decode(env.payload)
        except DecodeError as exc:
            return Rejected(Reason.INVALID_PAYLOAD, str(exc), env)
        broken = schema.check_rules(payload, env.created_at)
        if broken:
            return Rejected(Reason.RULE_VIOLATED, describe(broken), env)

    denied = membership.check_policy(env.sender, env.type, env.recipients, env.correlation_id is not None)
    if denied:
        return Rejected(Reason.POLICY_DENIED, denied, env)
    return Accepted(env, payload)


def precheck(
    raw: bytes,
    membership: Membership,
    registry: SchemaRegistry,
    now_us: int,
    limits: Limits = Limits(),
) -> Verdict:
    """Every check that needs no state of the ledger (all but REPLAYED), in order.

    Stateless: :mod:`hub.sequencer.prechecks` runs it for a batch with the signatures verified in worker
    processes (:func:`open_envelope`, the signature, :func:`after_signature`)."""
    opened = open_envelope(raw, membership)
    if isinstance(opened, Rejected):
        return opened
    env, mkey = opened
    if not env.verify(mkey.key):
        return bad_signature(env)
    return after_signature(env, mkey, membership, registry, now_us, limits)


def check_replay(verdict: Verdict, replay: ReplayWindow) -> Verdict:
    """The one stateful check, last: a message id already sequenced within the window."""
    if isinstance(verdict, Accepted) and replay.seen(verdict.envelope.message_id):
        return Rejected(Reason.REPLAYED, f"message {verdict.envelope.message_id} was already sequenced",
                        verdict.envelope)
    return verdict


def check_deliver_by(verdict: Verdict, deliver_by: int | None, now_us: int) -> Verdict:
    """Refuse as EXPIRED a message the sequencer would notarise at ``now_us``, after the last
    moment its sender's connector vouches for it (``deliver_by``, microseconds; None: no bound).
    An envelope v2 may carry its own, signed, bound: then the earlier of the two counts."""
    signed = verdict.envelope.deliver_by if isinstance(verdict, Accepted) else None
    if signed is not None:
        deliver_by = signed if deliver_by is None else min(signed, deliver_by)
    if isinstance(verdict, Accepted) and deliver_by is not None and now_us > deliver_by:
        late_ms = (now_us - deliver_by) // 1000
        return Rejected(Reason.EXPIRED, f"message {verdict.envelope.message_id} reached the sequencer {late_ms} ms "
                        "after its connector's deliver-by time: its caller was told it failed", verdict.envelope)
    return verdict


def ask_of(env: Envelope, membership: Membership) -> tuple[str, tuple[str, ...]] | None:
    """(type, recipients) to remember if some rule answers this message's type, else None.

    The strings are interned: a sequencer keeps one of these per order in its window."""
    if env.type in membership.answered_types:
        return sys.intern(env.type), tuple(sys.intern(r) for r in env.recipients)
    return None


def check_answer(verdict: Verdict, membership: Membership, asks: AskIndex) -> Verdict:
    """An answer (feedback, receipt) must come from a recipient of the message it names.

    Checked when that message is in this partition's window; an older one, or one sequenced in
    another partition, cannot be checked here: the auditor's closed-loop check covers the whole
    ledger.
    """
    if not isinstance(verdict, Accepted):
        return verdict
    env = verdict.envelope
    rule = membership.rules.get(env.type)
    if env.correlation_id is None or rule is None or not rule.answers:
        return verdict
    asked = asks.asked(env.correlation_id)
    if asked is None:
        return verdict
    type_, recipients = asked
    if type_ not in rule.answers:
        return Rejected(Reason.POLICY_DENIED, f"{env.type} answers {rule.answers_text()}, but "
                        f"{env.correlation_id} is a {type_}", env)
    if env.sender not in recipients:
        return Rejected(Reason.POLICY_DENIED, f"{env.correlation_id} was not addressed to {env.sender}: only "
                        "its recipients may answer it", env)
    return verdict


def validate(
    raw: bytes,
    membership: Membership,
    registry: SchemaRegistry,
    replay: ReplayWindow,
    now_us: int,
    limits: Limits = Limits(),
    asks: AskIndex | None = None,
) -> Verdict:
    """The full verdict: :func:`precheck`, then :func:`check_replay`, then (given the index of
    recent orders) :func:`check_answer`."""
    verdict = check_replay(precheck(raw, membership, registry, now_us, limits), replay)
    return check_answer(verdict, membership, asks) if asks is not None else verdict


def required_readers(env: Envelope, membership: Membership) -> list[str]:
    """Who an envelope v2 must be readable by: its recipients, its sender and every auditor."""
    return required_readers_of(membership, env.sender, env.recipients)


def required_readers_of(membership: Membership, sender: str, recipients: Iterable[str]) -> list[str]:
    """:func:`required_readers` of a message from ``sender`` to ``recipients``."""
    auditors = [m.id for m in membership.members_with_role(Role.AUDITOR)]
    return sorted({*recipients, sender, *auditors})


class NoEncryptionKeyError(InputError):
    """A reader of a message (``member``) has no current encryption key: nothing can be encrypted for it."""

    def __init__(self, member: str, message: str):
        super().__init__(message)
        self.member = member


def encryption_readers(membership: Membership, sender: str, recipients: Iterable[str], now_us: int) -> list[Reader]:
    """Whom a message is encrypted for (:func:`required_readers_of`), each under its current
    encryption key; :class:`NoEncryptionKeyError` naming a reader with none (the sequencer would
    refuse the message as KEYS_MISSING)."""
    out = []
    for member_id in required_readers_of(membership, sender, recipients):
        member = membership.member(member_id)
        key = member.current_encryption_key(now_us, membership.version) if member is not None else None
        if key is None:
            raise NoEncryptionKeyError(member_id, f"{member_id} has no current encryption key in membership "
                                       f"v{membership.version}: nothing can be encrypted for it (an administrator "
                                       "adds one: `hub agency rotate-key --encryption`)")
        out.append(Reader(member_id, key.key_id, key.key.x25519()))
    return out


def check_capsule(verdict: Verdict, capsule: bytes | None, membership: Membership) -> Verdict:
    """An accepted envelope v2 needs its key capsule (the record's ``hub-keys`` header), with a
    wrap for each of :func:`required_readers` under an encryption key of theirs valid at its
    created_at and not revoked. Checked without decrypting anything. v1 envelopes pass."""
    if not isinstance(verdict, Accepted) or not verdict.envelope.encrypted:
        return verdict
    env = verdict.envelope
    if capsule is None:
        return Rejected(Reason.KEYS_MISSING, "an envelope v2 needs its key capsule (the hub-keys header)", env)
    try:
        mid, wrapped = KeyCapsule.wrapped_for(capsule)
    except DecodeError as exc:
        return Rejected(Reason.KEYS_MISSING, f"the key capsule does not decode: {exc}", env)
    if mid != env.message_id.bytes:
        return Rejected(Reason.KEYS_MISSING, f"the key capsule is message {uuid.UUID(bytes=mid)}'s", env)
    for reader in required_readers(env, membership):
        member = membership.member(reader)
        keys = [k for k in member.encryption_keys] if member is not None else []
        good = [k for k in keys if k.valid_at(env.created_at) and not k.is_revoked(env.created_at, membership.version)]
        if not any((reader, k.key_id) in wrapped for k in good):
            return Rejected(Reason.KEYS_MISSING, f"no wrap of the data key for {reader} under a current "
                            "encryption key of theirs: they could not read it", env)
    return verdict
