"""Who the consortium's members are, their keys and roles, and who may send what to whom.

The membership is a JSON document (``genesis.json`` for version 1): members with roles
and Ed25519 keys (with validity windows), and a policy of rules "senders with role R may
send type T to recipients with roles S". Every ledger entry records the membership
version it was validated against. Pure: parsing and questions, no files.

Governance. The document also names its ``admins`` (an id and a raw Ed25519 public key
each, separate from any member's signing keys) and a ``quorum``: how many distinct admins
must sign an update (:mod:`hub.consortium.governance`) for version N+1 to follow version N. A
document without ``admins`` has none and quorum 0: it can never be updated. When there
are admins, ``1 <= quorum <= len(admins)``.

Revocation. A key is revoked in two ways, and :meth:`MemberKey.is_revoked` answers for
both: ``revoked_at`` (a time: messages created at or after it are refused) and
``revoked_in_version`` (set by a ``revoke_key`` update: every message validated against
that membership version or a later one is refused, whenever it was created; messages
validated against earlier versions, as recorded in their ledger entries, stay accepted).

Encryption keys. A member may also hold X25519 keys (``encryption_keys``, the same fields as its
signing keys; :mod:`hub.consortium.encryption_keys`) that payloads are encrypted to (HPKE), with the
same validity and revocation rules (``revoke_encryption_key`` sets ``revoked_in_version``). A member
with none is written exactly as before encryption keys existed, so the digests of existing
documents do not change. Members with the role ``auditor`` (:meth:`Membership.auditors`) may read
every payload: every payload is encrypted to them too. The policy names no auditor as a sender or
a recipient.

Erasures. ``erasures`` records every approved erasure since the genesis (an ``erase`` update:
the messages whose key capsules the operator destroys; :mod:`hub.consortium.erasures`), oldest
first; :attr:`Membership.erased` holds their message ids. A document without erasures is written
exactly as before erasures existed, so the digests of existing documents do not change.

Policy rules. A rule's ``answers`` names the types it answers (feedback on an order, a receipt
for a delivery): one type as a string, several as a sorted list. A rule answering one type is
written exactly as before rules could answer several, so the digests of existing documents do
not change; readers accept both forms.

Canonical bytes. :meth:`Membership.canonical_bytes` is :func:`canonical_json` of
:meth:`Membership.to_doc` with ``members`` sorted by id, ``policy`` by type and
``admins`` by id (keys keep their order). :func:`canonical_json` is
``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` encoded
as UTF-8; over the hub's documents (ASCII object keys, integers below 2**53, no floats) it
is exactly RFC 8785 (JCS). :meth:`Membership.digest` is the lowercase hex SHA-256 of those
bytes: the ``previous`` an update names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from hub.consortium.encryption_keys import (
    MemberEncryptionKey,
    encryption_key_to_doc,
    encryption_keys_from_doc,
)
from hub.consortium.erasures import Erasure, erasures_from_doc, erasures_to_doc
from hub.consortium.identity import VerifyingKey, key_id
from hub.consortium.key_window import KeyWindow
from hub.errors import ConfigError, EncodeError
from hub.timeutil import iso, to_us

FORMAT = "judicial-hub/membership/v1"
#: the largest integer :func:`canonical_json` writes (JCS numbers are IEEE doubles)
MAX_SAFE_INTEGER = 2**53 - 1


class Role(StrEnum):
    """What a member is in the consortium; the policy's rules name roles, not members."""

    COURT = "court"
    PROCURATORATE = "procuratorate"
    PUBLIC_SECURITY = "public_security"
    BANK = "bank"
    PROPERTY_REGISTRY = "property_registry"
    CREDIT_PLATFORM = "credit_platform"
    JUSTICE_BUREAU = "justice_bureau"
    HUB_SERVICE = "hub_service"
    #: reads every payload (each is encrypted to the auditors' keys too); sends and receives nothing
    AUDITOR = "auditor"


@dataclass(frozen=True)
class MemberKey(KeyWindow):
    """One of a member's Ed25519 signing keys, with its validity window and any revocation."""

    key: VerifyingKey
    not_before: int  # microseconds
    not_after: int | None = None
    revoked_at: int | None = None
    #: the membership version from which on this key is revoked (a revoke_key update)
    revoked_in_version: int | None = None

    @property
    def key_id(self) -> str:
        return self.key.key_id


@dataclass(frozen=True)
class Member:
    """A consortium member: its id, name, roles, signing keys, mTLS certificate fingerprint and
    encryption keys."""

    id: str
    name: str
    roles: frozenset[Role]
    keys: tuple[MemberKey, ...]
    #: lowercase hex SHA-256 of the DER of the member's X.509 certificate for mTLS
    certificate_sha256: str | None = None
    #: the X25519 keys payloads are encrypted to (none: nothing can be encrypted to this member)
    encryption_keys: tuple[MemberEncryptionKey, ...] = ()

    def key(self, kid: str) -> MemberKey | None:
        return next((k for k in self.keys if k.key_id == kid), None)

    def encryption_key(self, kid: str) -> MemberEncryptionKey | None:
        return next((k for k in self.encryption_keys if k.key_id == kid), None)

    def current_encryption_key(self, now_us: int, membership_version: int) -> MemberEncryptionKey | None:
        """The key to encrypt to at ``now_us`` under membership ``membership_version``: of the keys
        valid and not revoked then, the one with the latest ``not_before`` (of equals, the one listed
        last: the newest); None when there is none."""
        usable = [k for k in self.encryption_keys
                  if k.valid_at(now_us) and not k.is_revoked(now_us, membership_version)]
        return max(reversed(usable), key=lambda k: k.not_before, default=None)


@dataclass(frozen=True)
class Admin:
    """An administrator of the consortium: signs membership updates (hub.consortium.governance)."""

    id: str
    key: VerifyingKey

    @property
    def key_id(self) -> str:
        return self.key.key_id


@dataclass(frozen=True)
class PolicyRule:
    """Who may send a message type to whom (by role), and which types it answers."""

    type: str
    sender_roles: frozenset[Role]
    recipient_roles: frozenset[Role]
    #: the types this one answers (empty: none): the envelope must carry a correlation id, the
    #: message id of a message of one of these types
    answers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # a caller written when answers was one type (a str) must not get a set of its characters
        answers: object = self.answers
        if isinstance(answers, str):
            object.__setattr__(self, "answers", frozenset({answers}))
        elif not isinstance(answers, frozenset):
            object.__setattr__(self, "answers", frozenset(answers or ()))  # type: ignore[call-overload]

    def answers_text(self) -> str:
        """``a T``, or ``one of T1, T2`` (for messages that name what this type answers)."""
        names = sorted(self.answers)
        return f"a {names[0]}" if len(names) == 1 else f"one of {', '.join(names)}"

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PolicyRule:
        """The rule from its JSON form (:meth:`to_doc`'s, or a single ``answers`` string as
        documents written before a rule could answer several types have it). ValueError,
        KeyError or TypeError when it is not one."""
        answers = answers_from_json(doc["answers"]) if doc.get("answers") is not None else []
        return cls(str(doc["type"]), frozenset(Role(x) for x in doc["sender_roles"]),
                   frozenset(Role(x) for x in doc["recipient_roles"]), frozenset(answers))

    def to_doc(self) -> dict[str, Any]:
        """The rule as the membership document and the ``set_policy_rule`` operation write it."""
        doc: dict[str, Any] = {"type": self.type, "sender_roles": sorted(self.sender_roles),
                               "recipient_roles": sorted(self.recipient_roles)}
        if self.answers:
            doc["answers"] = answers_to_json(self.answers)
        return doc


def answers_to_json(answers: Iterable[str]) -> str | list[str]:
    """A rule's ``answers`` in JSON: the one type as a string (as every document written before a
    rule could answer several types has it, so their digests do not change), several as a sorted
    list."""
    names = sorted(set(answers))
    if not names:
        raise ValueError("a rule that answers nothing has no answers field")
    return names[0] if len(names) == 1 else names


def answers_from_json(value: Any) -> list[str]:
    """The types a JSON ``answers`` value names: a string (one type, the form of every document
    written before a rule could answer several) or a non-empty list of distinct strings.
    ValueError for anything else; the caller checks that each is a type name."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise ValueError("answers must be a type or a non-empty list of types")
    if not all(isinstance(n, str) and n for n in names):
        raise ValueError("answers must name message types")
    if len(set(names)) != len(names):
        raise ValueError("answers: a type repeats")
    return names


def check_admins(admins: Iterable[Admin], quorum: int) -> str | None:
    """None when (admins, quorum) is a sound admin set, else why not (one line)."""
    admins = list(admins)
    if isinstance(quorum, bool) or not isinstance(quorum, int):
        return "quorum must be an integer"
    if len({a.id for a in admins}) != len(admins):
        return "an admin id appears twice"
    if len({a.key_id for a in admins}) != len(admins):
        return "two admins share a key"
    if not admins:
        return None if quorum == 0 else f"quorum {quorum} needs admins, and there are none"
    if not 1 <= quorum <= len(admins):
        return f"quorum must be between 1 and the number of admins ({len(admins)}), not {quorum}"
    return None


@dataclass(frozen=True)
class Membership:
    """One version of the consortium: its members, the policy's rules, the administrators and
    their quorum, and the erasures approved so far."""

    version: int
    consortium: str
    members: dict[str, Member]
    rules: dict[str, PolicyRule] = field(default_factory=dict)
    #: who may approve updates, and how many of them must (0 with no admins: frozen)
    admins: tuple[Admin, ...] = ()
    quorum: int = 0
    #: every approved erasure since the genesis, oldest first (:mod:`hub.consortium.erasures`)
    erasures: tuple[Erasure, ...] = ()

    def __post_init__(self) -> None:
        problem = check_admins(self.admins, self.quorum)
        if problem:
            raise ConfigError(f"membership v{self.version}: {problem}")

    def member(self, member_id: str) -> Member | None:
        return self.members.get(member_id)

    @cached_property
    def answered_types(self) -> frozenset[str]:
        """Types some rule's ``answers`` names: the orders that feedback and receipts answer."""
        return frozenset(t for r in self.rules.values() for t in r.answers)

    @cached_property
    def _erasure_by_id(self) -> dict[uuid.UUID, Erasure]:
        return {m: e for e in self.erasures for m in e.message_ids}

    @cached_property
    def erased(self) -> frozenset[uuid.UUID]:
        """The id of every message an approved erasure names."""
        return frozenset(self._erasure_by_id)

    def erasure_of(self, message_id: uuid.UUID) -> Erasure | None:
        """The erasure that erased ``message_id``, or None."""
        return self._erasure_by_id.get(message_id)

    def admin(self, admin_id: str) -> Admin | None:
        return next((a for a in self.admins if a.id == admin_id), None)

    def check_policy(self, sender: str, type_: str, recipients: Iterable[str], has_correlation: bool) -> str | None:
        """None when allowed, else why not (one line)."""
        rule = self.rules.get(type_)
        if rule is None:
            return f"no policy allows type {type_}"
        member = self.members[sender]
        if not member.roles & rule.sender_roles:
            allowed = ", ".join(sorted(rule.sender_roles))
            return f"{sender} ({', '.join(sorted(member.roles))}) may not send {type_}; only {allowed}"
        recipients = list(recipients)
        if not recipients:
            return "a message needs at least one recipient"
        if len(set(recipients)) != len(recipients):
            return "recipients repeat"
        for r in recipients:
            target = self.members.get(r)
            if target is None:
                return f"recipient {r} is not a member"
            if not target.roles & rule.recipient_roles:
                return f"{type_} may not be sent to {r} ({', '.join(sorted(target.roles))})"
        if rule.answers and not has_correlation:
            return f"{type_} answers {rule.answers_text()} and needs its message id as correlation_id"
        return None

    def members_with_role(self, role: Role) -> list[Member]:
        return [m for m in self.members.values() if role in m.roles]

    def auditors(self) -> list[Member]:
        """The members with the role auditor, by id: every payload is encrypted to them too."""
        return sorted(self.members_with_role(Role.AUDITOR), key=lambda m: m.id)

    # --- the JSON document -------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str | bytes) -> Membership:
        try:
            doc = json.loads(text)
            return cls._from_doc(doc)
        except ConfigError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"invalid membership document: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> Membership:
        if doc.get("format") != FORMAT:
            raise ConfigError(f"membership document format must be {FORMAT!r}")
        version = int(doc["version"])
        members: dict[str, Member] = {}
        for m in doc["members"]:
            keys = []
            for k in m["keys"]:
                vk = VerifyingKey(base64.b64decode(k["public_key"], validate=True))
                if k.get("key_id") and k["key_id"] != vk.key_id:
                    raise ConfigError(f"member {m['id']}: key_id {k['key_id']} does not match its public key")
                riv = k.get("revoked_in_version")
                if riv is not None and (isinstance(riv, bool) or not isinstance(riv, int) or not 1 <= riv <= version):
                    raise ConfigError(f"member {m['id']}: revoked_in_version must be a version from 1 to {version}")
                keys.append(MemberKey(
                    vk, to_us(_time(k["not_before"])),
                    to_us(_time(k["not_after"])) if k.get("not_after") else None,
                    to_us(_time(k["revoked_at"])) if k.get("revoked_at") else None,
                    riv,
                ))
            if m["id"] in members:
                raise ConfigError(f"member {m['id']} appears twice")
            cert = m.get("certificate_sha256")
            if cert is not None and not is_sha256_hex(cert):
                raise ConfigError(f"member {m['id']}: certificate_sha256 must be 64 lowercase hex digits")
            encryption_keys = encryption_keys_from_doc(m.get("encryption_keys", []), owner=m["id"], version=version)
            members[m["id"]] = Member(m["id"], m["name"], frozenset(Role(r) for r in m["roles"]), tuple(keys),
                                      cert, encryption_keys)
        rules = {}
        for r in doc.get("policy", []):
            rules[r["type"]] = PolicyRule.from_doc(r)
        admins = []
        for a in doc.get("admins") or []:
            vk = VerifyingKey(base64.b64decode(a["public_key"], validate=True))
            if a.get("key_id") and a["key_id"] != vk.key_id:
                raise ConfigError(f"admin {a['id']}: key_id {a['key_id']} does not match its public key")
            admins.append(Admin(str(a["id"]), vk))
        quorum = doc.get("quorum", 0)
        problem = check_admins(admins, quorum)
        if problem:
            raise ConfigError(f"membership v{version}: {problem}")
        erasures = erasures_from_doc(doc.get("erasures"), version)
        return cls(version, str(doc["consortium"]), members, rules, tuple(admins), quorum, erasures)

    def to_doc(self) -> dict[str, Any]:
        """The document as JSON values, members and rules in their order here."""
        def key_doc(k: MemberKey) -> dict[str, Any]:
            d: dict[str, Any] = {
                "key_id": k.key_id,
                "public_key": base64.b64encode(k.key.raw).decode(),
                "not_before": iso(k.not_before),
                "not_after": iso(k.not_after) if k.not_after else None,
                "revoked_at": iso(k.revoked_at) if k.revoked_at else None,
            }
            if k.revoked_in_version is not None:
                d["revoked_in_version"] = k.revoked_in_version
            return d

        def member_doc(m: Member) -> dict[str, Any]:
            d: dict[str, Any] = {
                "id": m.id,
                "name": m.name,
                "roles": sorted(m.roles),
                "keys": [key_doc(k) for k in m.keys],
            }
            if m.certificate_sha256 is not None:
                d["certificate_sha256"] = m.certificate_sha256
            if m.encryption_keys:  # only then: the digests of documents without them do not change
                d["encryption_keys"] = [encryption_key_to_doc(k) for k in m.encryption_keys]
            return d

        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": self.version,
            "consortium": self.consortium,
            "admins": [
                {"id": a.id, "key_id": a.key_id, "public_key": base64.b64encode(a.key.raw).decode()}
                for a in self.admins
            ],
            "quorum": self.quorum,
            "members": [member_doc(m) for m in self.members.values()],
            "policy": [r.to_doc() for r in self.rules.values()],
        }
        if self.erasures:  # only then: the digests of documents without them do not change
            doc["erasures"] = erasures_to_doc(self.erasures)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_doc(), ensure_ascii=False, indent=2) + "\n"

    def canonical_bytes(self) -> bytes:
        """The bytes :meth:`digest` hashes (see the module's docstring)."""
        doc = self.to_doc()
        doc["members"].sort(key=lambda m: m["id"])
        doc["policy"].sort(key=lambda r: r["type"])
        doc["admins"].sort(key=lambda a: a["id"])
        return canonical_json(doc)

    def digest(self) -> str:
        """Lowercase hex SHA-256 of :meth:`canonical_bytes`."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8 (RFC 8785 for the hub's documents).

    Only objects with string keys, arrays, strings, booleans, null and integers of magnitude
    at most 2**53-1 are allowed; anything else (floats included) is an EncodeError.
    """
    _check_canonical(value, 0)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"text that is not valid Unicode cannot be canonical JSON: {exc.reason}") from exc


def _check_canonical(value: Any, depth: int) -> None:
    if depth > 64:
        raise EncodeError("JSON nested more than 64 levels")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise EncodeError(f"integer {value} is out of the range canonical JSON allows")
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_canonical(v, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise EncodeError(f"object key {k!r} is not a string")
            _check_canonical(v, depth + 1)
        return
    raise EncodeError(f"{type(value).__name__} values have no canonical JSON form")


def is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _time(text: str) -> Any:
    from datetime import datetime

    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: FURB162 (explicit for readers)
    if dt.tzinfo is None:
        raise ConfigError(f"time {text!r} needs a time zone")
    return dt


__all__ = [
    "FORMAT",
    "Admin",
    "Member",
    "MemberKey",
    "Membership",
    "PolicyRule",
    "Role",
    "answers_from_json",
    "answers_to_json",
    "canonical_json",
    "check_admins",
    "is_sha256_hex",
    "key_id",
]
