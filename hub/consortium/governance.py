"""Membership updates: signed changes to the consortium, approved by a quorum of admins.

Pure: bytes and values in, a new :class:`~hub.consortium.membership.Membership` or a
:class:`MembershipUpdateError` out. The membership log topic, files and the CLI live
elsewhere and call these functions.

The chain
---------
Membership version 1 is the genesis document (:mod:`hub.consortium.membership`). Version N+1 is
version N with exactly one update applied. An update names the version it creates
(N+1) and the SHA-256 of version N's canonical bytes (``Membership.digest()``), so the
updates form a hash chain that a reader replays from the genesis
(:func:`membership_history`). Operations apply in order, each to the result of the one
before; the update is all or nothing. It takes effect when at least ``quorum`` distinct
admins *of version N* have signed it (an update that changes the admins is approved by
the old ones; the new ones approve the next update).

The document
------------
UTF-8 JSON, at most :data:`MAX_UPDATE_BYTES`; no duplicate object keys, no unknown
fields, no floats::

    {
      "format": "judicial-hub/membership-update/v1",
      "version": 2,
      "previous": "<64 lowercase hex: SHA-256 of membership v1's canonical bytes>",
      "reason": "工商银行北京分行轮换签名密钥",
      "operations": [
        {"op": "add_key", "member": "bank-icbc-bj", "public_key": "<base64 of 32 bytes>",
         "not_before": "2026-12-01T00:00:00Z"},
        {"op": "revoke_key", "member": "bank-icbc-bj", "key_id": "<16 hex of the old key>"}
      ],
      "approvals": [
        {"admin": "admin-1", "signature": "<base64 of 64 bytes>"},
        {"admin": "admin-3", "signature": "<base64 of 64 bytes>"}
      ]
    }

Operations (``op`` names the kind; times are RFC 3339 with a zone; public keys are
standard base64 of the raw 32-byte Ed25519 key; a ``key_id``, where given, must be the
key's own id; ids use ASCII letters, digits, ``.``, ``_`` and ``-``, at most 100)::

    add_member        id, name, roles[], keys[{public_key, not_before, not_after?, key_id?}],
                      certificate_sha256?          (the id must not be a member)
    remove_member     member
    add_key           member, public_key, not_before, not_after?, key_id?
                      (no member or admin may already hold that key)
    revoke_key        member, key_id   revoked from this update's version on: validation
                      against this version or later answers KEY_REVOKED; against earlier
                      versions the key stays good. Rotation is add_key, then revoke_key of
                      the old key (in the same update or a later one).
    set_certificate   member, certificate_sha256 (hex SHA-256 of the certificate's DER)
    set_policy_rule   type, sender_roles[], recipient_roles[], answers? (adds or replaces)
    remove_policy_rule type
    set_admins        admins[{id, public_key, key_id?}], quorum (1 <= quorum <= len(admins))

Bytes and signatures
--------------------
The *body* is the document without ``approvals``. Its canonical bytes are
:func:`hub.consortium.membership.canonical_json` of it (sorted keys, no whitespace, UTF-8: RFC 8785
for these documents). An approval is an Ed25519 signature by an admin's key over
``SIGNING_DOMAIN + canonical body`` where ``SIGNING_DOMAIN`` is
``b"judicial-hub/membership-update/v1\\x00"``. Approvals by unknown admins, or whose
signature does not verify, do not count; several by the same admin count once. The
update's own id (:attr:`MembershipUpdate.digest`) is the SHA-256 of the canonical body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.consortium.identity import SigningKey, VerifyingKey
from hub.consortium.membership import (
    Admin,
    Member,
    MemberKey,
    Membership,
    PolicyRule,
    Role,
    canonical_json,
    check_admins,
    is_sha256_hex,
)
from hub.errors import EncodeError, HubError
from hub.timeutil import iso, to_us

UPDATE_FORMAT = "judicial-hub/membership-update/v1"
SIGNING_DOMAIN = UPDATE_FORMAT.encode() + b"\x00"
#: an update fits one Kafka record with the default 1 MB limit, with room to spare
MAX_UPDATE_BYTES = 512 * 1024

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_YEAR_10000_US = 253_402_300_800_000_000
_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class MembershipUpdateError(HubError):
    """A membership update is malformed, not approved by a quorum, or cannot apply."""


# --- operations, as values ---------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    key: VerifyingKey
    not_before: int
    not_after: int | None = None


@dataclass(frozen=True)
class AddMember:
    id: str
    name: str
    roles: frozenset[Role]
    keys: tuple[KeySpec, ...]
    certificate_sha256: str | None = None


@dataclass(frozen=True)
class RemoveMember:
    member: str


@dataclass(frozen=True)
class AddKey:
    member: str
    key: KeySpec


@dataclass(frozen=True)
class RevokeKey:
    member: str
    key_id: str


@dataclass(frozen=True)
class SetCertificate:
    member: str
    certificate_sha256: str


@dataclass(frozen=True)
class SetPolicyRule:
    rule: PolicyRule


@dataclass(frozen=True)
class RemovePolicyRule:
    type: str


@dataclass(frozen=True)
class SetAdmins:
    admins: tuple[Admin, ...]
    quorum: int


Operation = AddMember | RemoveMember | AddKey | RevokeKey | SetCertificate | SetPolicyRule | RemovePolicyRule | SetAdmins


@dataclass(frozen=True)
class Approval:
    admin: str
    signature: bytes


@dataclass(frozen=True)
class MembershipUpdate:
    """A parsed update: well-formed, not yet checked against any membership."""

    version: int
    previous: str
    reason: str
    operations: tuple[Operation, ...]
    approvals: tuple[Approval, ...]
    #: canonical bytes of the document without approvals
    body: bytes

    @property
    def signing_input(self) -> bytes:
        return SIGNING_DOMAIN + self.body

    @property
    def digest(self) -> str:
        """Lowercase hex SHA-256 of the canonical body: the update's id, approvals aside."""
        return hashlib.sha256(self.body).hexdigest()


# --- parsing -----------------------------------------------------------------------------


def parse_update(update_bytes: bytes) -> MembershipUpdate:
    """Decode and check the form of an update document (not its approvals or legality)."""
    if not isinstance(update_bytes, (bytes, bytearray, memoryview)):
        raise MembershipUpdateError("a membership update is bytes")
    if len(update_bytes) > MAX_UPDATE_BYTES:
        raise MembershipUpdateError(f"a membership update is at most {MAX_UPDATE_BYTES} bytes, "
                                    f"not {len(update_bytes)}")
    try:
        text = bytes(update_bytes).decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                         parse_float=_no_float)
    except MembershipUpdateError:
        raise
    except (ValueError, RecursionError) as exc:
        raise MembershipUpdateError(f"a membership update must be UTF-8 JSON: {_first_line(exc)}") from None
    return _parse_doc(doc)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MembershipUpdateError(f"field {k!r} appears twice in an object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise MembershipUpdateError(f"{name} is not allowed in a membership update")


def _no_float(text: str) -> Any:
    raise MembershipUpdateError(f"number {text[:20]} is not an integer; updates carry integers only")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _parse_doc(doc: Any) -> MembershipUpdate:
    _fields(doc, "the update", {"format", "version", "previous", "operations", "reason"}, {"approvals"})
    if doc["format"] != UPDATE_FORMAT:
        raise MembershipUpdateError(f"format must be {UPDATE_FORMAT!r}")
    version = _int(doc["version"], "version")
    if version < 2:
        raise MembershipUpdateError(f"version must be 2 or more (1 is the genesis), not {version}")
    previous = doc["previous"]
    if not is_sha256_hex(previous):
        raise MembershipUpdateError("previous must be 64 lowercase hex digits (SHA-256 of the membership)")
    reason = _text(doc["reason"], "reason", limit=2000)
    raw_ops = doc["operations"]
    if not isinstance(raw_ops, list) or not raw_ops:
        raise MembershipUpdateError("operations must be a non-empty list")
    operations = tuple(_parse_operation(op, i) for i, op in enumerate(raw_ops))
    raw_approvals = doc.get("approvals", [])
    if not isinstance(raw_approvals, list):
        raise MembershipUpdateError("approvals must be a list")
    approvals = []
    for i, a in enumerate(raw_approvals):
        where = f"approval {i}"
        _fields(a, where, {"admin", "signature"})
        admin = _text(a["admin"], f"{where}: admin")
        if not isinstance(a["signature"], str):
            raise MembershipUpdateError(f"{where}: signature must be base64 text")
        try:
            signature = base64.b64decode(a["signature"], validate=True)
        except (binascii.Error, ValueError):
            signature = b""  # counts as a signature that does not verify
        approvals.append(Approval(admin, signature))
    body = {k: v for k, v in doc.items() if k != "approvals"}
    try:
        body_bytes = canonical_json(body)
    except EncodeError as exc:
        raise MembershipUpdateError(str(exc)) from None
    return MembershipUpdate(version, previous, reason, operations, tuple(approvals), body_bytes)


def _parse_operation(op: Any, i: int) -> Operation:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise MembershipUpdateError(f"operation {i} must be an object with an \"op\"")
    kind = op["op"]
    where = f"operation {i} ({kind})"
    if kind == "add_member":
        _fields(op, where, {"op", "id", "name", "roles", "keys"}, {"certificate_sha256"})
        keys = op["keys"]
        if not isinstance(keys, list) or not keys:
            raise MembershipUpdateError(f"{where}: keys must be a non-empty list")
        cert = op.get("certificate_sha256")
        if cert is not None:
            cert = _sha256(cert, where)
        return AddMember(_id(op["id"], f"{where}: id"), _text(op["name"], f"{where}: name"),
                         _roles(op["roles"], f"{where}: roles"),
                         tuple(_key_spec(k, f"{where}: key {j}") for j, k in enumerate(keys)), cert)
    if kind == "remove_member":
        _fields(op, where, {"op", "member"})
        return RemoveMember(_id(op["member"], f"{where}: member"))
    if kind == "add_key":
        _fields(op, where, {"op", "member", "public_key", "not_before"}, {"not_after", "key_id"})
        spec = _key_spec({k: v for k, v in op.items() if k not in ("op", "member")}, where)
        return AddKey(_id(op["member"], f"{where}: member"), spec)
    if kind == "revoke_key":
        _fields(op, where, {"op", "member", "key_id"})
        kid = op["key_id"]
        if not isinstance(kid, str) or not re.fullmatch(r"[0-9a-f]{16}", kid):
            raise MembershipUpdateError(f"{where}: key_id must be 16 lowercase hex digits")
        return RevokeKey(_id(op["member"], f"{where}: member"), kid)
    if kind == "set_certificate":
        _fields(op, where, {"op", "member", "certificate_sha256"})
        return SetCertificate(_id(op["member"], f"{where}: member"), _sha256(op["certificate_sha256"], where))
    if kind == "set_policy_rule":
        _fields(op, where, {"op", "type", "sender_roles", "recipient_roles"}, {"answers"})
        answers = op.get("answers")
        return SetPolicyRule(PolicyRule(
            _type(op["type"], f"{where}: type"),
            _roles(op["sender_roles"], f"{where}: sender_roles"),
            _roles(op["recipient_roles"], f"{where}: recipient_roles"),
            _type(answers, f"{where}: answers") if answers is not None else None,
        ))
    if kind == "remove_policy_rule":
        _fields(op, where, {"op", "type"})
        return RemovePolicyRule(_type(op["type"], f"{where}: type"))
    if kind == "set_admins":
        _fields(op, where, {"op", "admins", "quorum"})
        raw = op["admins"]
        if not isinstance(raw, list) or not raw:
            raise MembershipUpdateError(f"{where}: admins must be a non-empty list")
        admins = []
        for j, a in enumerate(raw):
            w = f"{where}: admin {j}"
            _fields(a, w, {"id", "public_key"}, {"key_id"})
            spec_key = _public_key(a["public_key"], w)
            _check_key_id(a, spec_key, w)
            admins.append(Admin(_id(a["id"], f"{w}: id"), spec_key))
        quorum = _int(op["quorum"], f"{where}: quorum")
        problem = check_admins(admins, quorum)
        if problem:
            raise MembershipUpdateError(f"{where}: {problem}")
        return SetAdmins(tuple(admins), quorum)
    raise MembershipUpdateError(f"operation {i}: unknown op {kind[:40]!r}")


def _fields(obj: Any, where: str, required: set[str], optional: Iterable[str] = ()) -> None:
    if not isinstance(obj, dict):
        raise MembershipUpdateError(f"{where} must be a JSON object")
    missing = required - obj.keys()
    if missing:
        raise MembershipUpdateError(f"{where}: missing {', '.join(sorted(missing))}")
    unknown = obj.keys() - required - set(optional)
    if unknown:
        raise MembershipUpdateError(f"{where}: unknown field {min(unknown)[:40]!r}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise MembershipUpdateError(f"{where} must be a non-negative integer")
    return value


def _text(value: Any, where: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise MembershipUpdateError(f"{where} must be non-empty text of at most {limit} characters")
    return value


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MembershipUpdateError(f"{where} must be 1-100 ASCII letters, digits, '.', '_' or '-'")
    return value


def _type(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 200 or not _TYPE.fullmatch(value):
        raise MembershipUpdateError(f"{where} must be an Avro full name such as cn.judicial.hub.x.Y")
    return value


def _sha256(value: Any, where: str) -> str:
    if not is_sha256_hex(value):
        raise MembershipUpdateError(f"{where}: certificate_sha256 must be 64 lowercase hex digits")
    return str(value)


def _roles(value: Any, where: str) -> frozenset[Role]:
    if not isinstance(value, list) or not value:
        raise MembershipUpdateError(f"{where} must be a non-empty list of roles")
    known = {r.value for r in Role}
    for r in value:
        if not isinstance(r, str) or r not in known:
            raise MembershipUpdateError(f"{where}: {str(r)[:40]!r} is not a role ({', '.join(sorted(known))})")
    if len(set(value)) != len(value):
        raise MembershipUpdateError(f"{where}: a role repeats")
    return frozenset(Role(r) for r in value)


def _time(value: Any, where: str) -> int:
    if not isinstance(value, str) or len(value) > 40:
        raise MembershipUpdateError(f"{where} must be an RFC 3339 time such as 2026-12-01T00:00:00Z")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise MembershipUpdateError(f"{where}: {value!r} is not an RFC 3339 time") from None
    if dt.tzinfo is None:
        raise MembershipUpdateError(f"{where}: {value!r} needs a time zone (Z or +08:00)")
    try:
        us = to_us(dt)
    except OverflowError:
        us = -1
    if not 0 <= us < _YEAR_10000_US:
        raise MembershipUpdateError(f"{where}: {value!r} is not between 1970 and 9999")
    return us


def _public_key(value: Any, where: str) -> VerifyingKey:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise MembershipUpdateError(f"{where}: public_key must be base64 of a raw 32-byte Ed25519 key")
    try:
        return VerifyingKey(raw)
    except (HubError, ValueError) as exc:  # cryptography refuses some 32-byte strings
        raise MembershipUpdateError(f"{where}: public_key is not an Ed25519 key: {_first_line(exc)}") from None


def _check_key_id(obj: dict[str, Any], key: VerifyingKey, where: str) -> None:
    if "key_id" in obj and obj["key_id"] != key.key_id:
        raise MembershipUpdateError(f"{where}: key_id does not match the public key (it is {key.key_id})")


def _key_spec(obj: Any, where: str) -> KeySpec:
    _fields(obj, where, {"public_key", "not_before"}, {"not_after", "key_id"})
    key = _public_key(obj["public_key"], where)
    _check_key_id(obj, key, where)
    not_before = _time(obj["not_before"], f"{where}: not_before")
    not_after = _time(obj["not_after"], f"{where}: not_after") if obj.get("not_after") is not None else None
    if not_after is not None and not_after <= not_before:
        raise MembershipUpdateError(f"{where}: not_after must be later than not_before")
    return KeySpec(key, not_before, not_after)


# --- checking and applying ----------------------------------------------------------------


def approving_admins(current: Membership, update: MembershipUpdate) -> frozenset[str]:
    """The admins of ``current`` whose approval of ``update`` verifies; raises unless a quorum."""
    if current.quorum < 1:
        raise MembershipUpdateError(f"membership v{current.version} has no admins, so it cannot be updated")
    valid: set[str] = set()
    problems: list[str] = []
    for a in update.approvals:
        admin = current.admin(a.admin)
        if admin is None:
            problems.append(f"{a.admin[:40]!r} is not an admin")
        elif admin.key.verify(a.signature, update.signing_input):
            valid.add(admin.id)
        else:
            problems.append(f"the signature of {admin.id} does not verify")
    if len(valid) < current.quorum:
        why = f" ({'; '.join(problems[:3])})" if problems else ""
        raise MembershipUpdateError(
            f"update v{update.version} has {len(valid)} valid admin approval(s), membership "
            f"v{current.version} needs {current.quorum}{why}")
    return frozenset(valid)


def check_link(current: Membership, update: MembershipUpdate) -> None:
    """The update follows ``current``: the next version, naming its digest."""
    if update.version != current.version + 1:
        raise MembershipUpdateError(
            f"update makes version {update.version}, but the membership is at v{current.version}: "
            f"the next update must make v{current.version + 1}")
    digest = current.digest()
    if update.previous != digest:
        raise MembershipUpdateError(
            f"update v{update.version} follows membership {update.previous[:16]}…, not v{current.version} "
            f"({digest[:16]}…)")


def apply_update(current: Membership, update_bytes: bytes) -> Membership:
    """Membership version N+1 from version N and an update document's bytes.

    Checks, in order: the form, the link (version N+1, previous = N's digest), a quorum of
    N's admins, then applies the operations. Raises MembershipUpdateError with one line.
    """
    update = parse_update(update_bytes)
    check_link(current, update)
    approving_admins(current, update)
    return _apply(current, update.operations, update.version)


def membership_history(genesis: Membership, updates: Iterable[bytes]) -> dict[int, Membership]:
    """Every version, by number, from the genesis and the updates in log order."""
    history = {genesis.version: genesis}
    current = genesis
    for n, raw in enumerate(updates):
        try:
            current = apply_update(current, raw)
        except MembershipUpdateError as exc:
            raise MembershipUpdateError(f"membership update #{n} (after v{current.version}): {exc}") from None
        history[current.version] = current
    return history


def _apply(current: Membership, operations: Sequence[Operation], version: int) -> Membership:
    members = dict(current.members)
    rules = dict(current.rules)
    admins, quorum = current.admins, current.quorum

    def taken_key_ids() -> set[str]:
        return {k.key_id for m in members.values() for k in m.keys} | {a.key_id for a in admins}

    def existing(member_id: str, where: str) -> Member:
        member = members.get(member_id)
        if member is None:
            raise MembershipUpdateError(f"{where}: {member_id} is not a member")
        return member

    def fresh_key(spec: KeySpec, where: str) -> MemberKey:
        if spec.key.key_id in taken_key_ids():
            raise MembershipUpdateError(f"{where}: key {spec.key.key_id} is already in the membership")
        return MemberKey(spec.key, spec.not_before, spec.not_after)

    for i, op in enumerate(operations):
        where = f"operation {i} ({_OP_NAMES[type(op)]})"
        if isinstance(op, AddMember):
            if op.id in members:
                raise MembershipUpdateError(f"{where}: {op.id} is already a member")
            keys: list[MemberKey] = []
            for spec in op.keys:
                if any(k.key_id == spec.key.key_id for k in keys):
                    raise MembershipUpdateError(f"{where}: key {spec.key.key_id} is listed twice")
                keys.append(fresh_key(spec, where))
            members[op.id] = Member(op.id, op.name, op.roles, tuple(keys), op.certificate_sha256)
        elif isinstance(op, RemoveMember):
            existing(op.member, where)
            del members[op.member]
        elif isinstance(op, AddKey):
            member = existing(op.member, where)
            members[op.member] = replace(member, keys=(*member.keys, fresh_key(op.key, where)))
        elif isinstance(op, RevokeKey):
            member = existing(op.member, where)
            key = member.key(op.key_id)
            if key is None:
                raise MembershipUpdateError(f"{where}: {op.member} has no key {op.key_id}")
            if key.revoked_in_version is not None:
                raise MembershipUpdateError(
                    f"{where}: key {op.key_id} of {op.member} is already revoked (v{key.revoked_in_version})")
            revoked = replace(key, revoked_in_version=version)
            members[op.member] = replace(member, keys=tuple(revoked if k is key else k for k in member.keys))
        elif isinstance(op, SetCertificate):
            member = existing(op.member, where)
            members[op.member] = replace(member, certificate_sha256=op.certificate_sha256)
        elif isinstance(op, SetPolicyRule):
            rules[op.rule.type] = op.rule
        elif isinstance(op, RemovePolicyRule):
            if op.type not in rules:
                raise MembershipUpdateError(f"{where}: there is no rule for {op.type}")
            del rules[op.type]
        elif isinstance(op, SetAdmins):
            member_keys = {k.key_id for m in members.values() for k in m.keys}
            shared = sorted(a.id for a in op.admins if a.key_id in member_keys)
            if shared:
                raise MembershipUpdateError(f"{where}: admin {shared[0]} uses a member's key; admins need their own")
            admins, quorum = op.admins, op.quorum
        else:  # pragma: no cover - the parser makes only the kinds above
            raise MembershipUpdateError(f"{where}: unsupported operation")
    return Membership(version, current.consortium, members, rules, admins, quorum)


_OP_NAMES: dict[type, str] = {
    AddMember: "add_member", RemoveMember: "remove_member", AddKey: "add_key", RevokeKey: "revoke_key",
    SetCertificate: "set_certificate", SetPolicyRule: "set_policy_rule", RemovePolicyRule: "remove_policy_rule",
    SetAdmins: "set_admins",
}


# --- writing updates (for the CLI) --------------------------------------------------------


def update_document(current: Membership, operations: Sequence[Mapping[str, Any]], reason: str) -> dict[str, Any]:
    """A new, unapproved update of ``current``; raises if its operations would not apply."""
    doc: dict[str, Any] = {
        "format": UPDATE_FORMAT,
        "version": current.version + 1,
        "previous": current.digest(),
        "reason": reason,
        "operations": [dict(op) for op in operations],
        "approvals": [],
    }
    update = _parse_value(doc)
    _apply(current, update.operations, update.version)
    return doc


def signing_input(doc: Mapping[str, Any]) -> bytes:
    """What an admin signs for ``doc``: the domain, then the canonical body."""
    return _parse_value(doc).signing_input


def sign_update(doc: Mapping[str, Any], admin_id: str, key: SigningKey) -> dict[str, str]:
    """An approval of ``doc`` by ``admin_id``: {"admin", "signature"}; add it with :func:`with_approval`."""
    _text(admin_id, "admin id")
    return {"admin": admin_id, "signature": base64.b64encode(key.sign(signing_input(doc))).decode()}


def with_approval(doc: Mapping[str, Any], approval: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``doc`` carrying ``approval`` instead of any earlier one by the same admin."""
    kept = [a for a in doc.get("approvals", []) if not (isinstance(a, Mapping) and a.get("admin") == approval["admin"])]
    return {**doc, "approvals": [*kept, dict(approval)]}


def encode_update(doc: Mapping[str, Any]) -> bytes:
    """The bytes to publish: canonical JSON of the whole document, approvals included."""
    _parse_value(doc)
    try:
        return canonical_json(dict(doc))
    except EncodeError as exc:
        raise MembershipUpdateError(str(exc)) from None


def _parse_value(doc: Mapping[str, Any]) -> MembershipUpdate:
    try:
        raw = canonical_json(dict(doc))
    except (EncodeError, TypeError, ValueError) as exc:
        raise MembershipUpdateError(f"not a JSON update document: {_first_line(exc)}") from None
    return parse_update(raw)


def key_spec(key: VerifyingKey, not_before_us: int, not_after_us: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"public_key": base64.b64encode(key.raw).decode(), "not_before": iso(not_before_us)}
    if not_after_us is not None:
        spec["not_after"] = iso(not_after_us)
    return spec


def add_member_op(member_id: str, name: str, roles: Iterable[Role | str], keys: Iterable[Mapping[str, Any]],
                  certificate_sha256: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "add_member", "id": member_id, "name": name,
                          "roles": sorted(str(r) for r in roles), "keys": [dict(k) for k in keys]}
    if certificate_sha256 is not None:
        op["certificate_sha256"] = certificate_sha256
    return op


def remove_member_op(member_id: str) -> dict[str, Any]:
    return {"op": "remove_member", "member": member_id}


def add_key_op(member_id: str, key: VerifyingKey, not_before_us: int, not_after_us: int | None = None) -> dict[str, Any]:
    return {"op": "add_key", "member": member_id, **key_spec(key, not_before_us, not_after_us)}


def revoke_key_op(member_id: str, key_id: str) -> dict[str, Any]:
    return {"op": "revoke_key", "member": member_id, "key_id": key_id}


def set_certificate_op(member_id: str, certificate_sha256: str) -> dict[str, Any]:
    return {"op": "set_certificate", "member": member_id, "certificate_sha256": certificate_sha256}


def set_policy_rule_op(rule: PolicyRule) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "set_policy_rule", "type": rule.type, "sender_roles": sorted(rule.sender_roles),
                          "recipient_roles": sorted(rule.recipient_roles)}
    if rule.answers:
        op["answers"] = rule.answers
    return op


def remove_policy_rule_op(type_: str) -> dict[str, Any]:
    return {"op": "remove_policy_rule", "type": type_}


def set_admins_op(admins: Iterable[Admin], quorum: int) -> dict[str, Any]:
    return {"op": "set_admins", "quorum": quorum,
            "admins": [{"id": a.id, "public_key": base64.b64encode(a.key.raw).decode()} for a in admins]}


__all__ = [
    "MAX_UPDATE_BYTES",
    "SIGNING_DOMAIN",
    "UPDATE_FORMAT",
    "AddKey",
    "AddMember",
    "Approval",
    "KeySpec",
    "MembershipUpdate",
    "MembershipUpdateError",
    "Operation",
    "RemoveMember",
    "RemovePolicyRule",
    "RevokeKey",
    "SetAdmins",
    "SetCertificate",
    "SetPolicyRule",
    "add_key_op",
    "add_member_op",
    "apply_update",
    "approving_admins",
    "check_link",
    "encode_update",
    "key_spec",
    "membership_history",
    "parse_update",
    "remove_member_op",
    "remove_policy_rule_op",
    "revoke_key_op",
    "set_admins_op",
    "set_certificate_op",
    "set_policy_rule_op",
    "sign_update",
    "signing_input",
    "update_document",
    "with_approval",
]
