"""The strict parser of membership update documents (:mod:`hub.consortium.membership_update`).

Pure: bytes or JSON values in, a :class:`~hub.consortium.membership_update.MembershipUpdate`
out, or a :class:`~hub.consortium.membership_update.MembershipUpdateError` naming the first
field that breaks the rules: the document's form only, not its approvals or whether it applies.
One parser per kind of operation, and one checker per kind of field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from hub.consortium.encryption_keys import EncryptionPublicKey
from hub.consortium.erasures import check_erased_ids, check_reason
from hub.consortium.identity import VerifyingKey
from hub.consortium.membership import (
    Admin,
    PolicyRule,
    Role,
    answers_from_json,
    canonical_json,
    check_admins,
    is_sha256_hex,
)
from hub.consortium.membership_update import (
    MAX_UPDATE_BYTES,
    UPDATE_FORMAT,
    AddEncryptionKey,
    AddKey,
    AddMember,
    Approval,
    EncryptionKeySpec,
    Erase,
    KeySpec,
    MembershipUpdate,
    MembershipUpdateError,
    Operation,
    RemoveMember,
    RemovePolicyRule,
    RevokeEncryptionKey,
    RevokeKey,
    SetAdmins,
    SetCertificate,
    SetPolicyRule,
)
from hub.errors import EncodeError, HubError
from hub.timeutil import to_us

__all__ = ["check_admin_id", "parse_update", "parse_update_document"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_YEAR_10000_US = 253_402_300_800_000_000
_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


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


def parse_update_document(doc: Mapping[str, Any]) -> MembershipUpdate:
    """An update document held as a JSON value, parsed as its canonical bytes would be."""
    try:
        raw = canonical_json(dict(doc))
    except (EncodeError, TypeError, ValueError) as exc:
        raise MembershipUpdateError(f"not a JSON update document: {_first_line(exc)}") from None
    return parse_update(raw)


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
    approvals = tuple(_parse_approval(a, f"approval {i}") for i, a in enumerate(raw_approvals))
    body = {k: v for k, v in doc.items() if k != "approvals"}
    try:
        body_bytes = canonical_json(body)
    except EncodeError as exc:
        raise MembershipUpdateError(str(exc)) from None
    return MembershipUpdate(version, previous, reason, operations, approvals, body_bytes)


def _parse_approval(a: Any, where: str) -> Approval:
    _fields(a, where, {"admin", "signature"})
    admin = check_admin_id(a["admin"], f"{where}: admin")
    if not isinstance(a["signature"], str):
        raise MembershipUpdateError(f"{where}: signature must be base64 text")
    try:
        signature = base64.b64decode(a["signature"], validate=True)
    except (binascii.Error, ValueError):
        signature = b""  # counts as a signature that does not verify
    return Approval(admin, signature)


def _parse_operation(op: Any, i: int) -> Operation:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise MembershipUpdateError(f"operation {i} must be an object with an \"op\"")
    kind = op["op"]
    parse = _OPERATION_PARSERS.get(kind)
    if parse is None:
        raise MembershipUpdateError(f"operation {i}: unknown op {kind[:40]!r}")
    return parse(op, f"operation {i} ({kind})")


def _add_member(op: dict[str, Any], where: str) -> AddMember:
    _fields(op, where, {"op", "id", "name", "roles", "keys"}, {"certificate_sha256", "encryption_keys"})
    keys = op["keys"]
    if not isinstance(keys, list) or not keys:
        raise MembershipUpdateError(f"{where}: keys must be a non-empty list")
    cert = op.get("certificate_sha256")
    if cert is not None:
        cert = _sha256(cert, where)
    encryption_keys = op.get("encryption_keys", [])
    if not isinstance(encryption_keys, list) or ("encryption_keys" in op and not encryption_keys):
        raise MembershipUpdateError(f"{where}: encryption_keys, when given, must be a non-empty list")
    return AddMember(_id(op["id"], f"{where}: id"), _text(op["name"], f"{where}: name"),
                     _roles(op["roles"], f"{where}: roles"),
                     tuple(_key_spec(k, f"{where}: key {j}") for j, k in enumerate(keys)), cert,
                     tuple(_encryption_key_spec(k, f"{where}: encryption key {j}")
                           for j, k in enumerate(encryption_keys)))


def _remove_member(op: dict[str, Any], where: str) -> RemoveMember:
    _fields(op, where, {"op", "member"})
    return RemoveMember(_id(op["member"], f"{where}: member"))


def _add_key(op: dict[str, Any], where: str) -> AddKey:
    _fields(op, where, {"op", "member", "public_key", "not_before"}, {"not_after", "key_id"})
    spec = _key_spec({k: v for k, v in op.items() if k not in ("op", "member")}, where)
    return AddKey(_id(op["member"], f"{where}: member"), spec)


def _revoke_key(op: dict[str, Any], where: str) -> RevokeKey:
    _fields(op, where, {"op", "member", "key_id"})
    return RevokeKey(_id(op["member"], f"{where}: member"), _key_id(op["key_id"], where))


def _add_encryption_key(op: dict[str, Any], where: str) -> AddEncryptionKey:
    _fields(op, where, {"op", "member", "public_key", "not_before"}, {"not_after", "key_id"})
    spec = _encryption_key_spec({k: v for k, v in op.items() if k not in ("op", "member")}, where)
    return AddEncryptionKey(_id(op["member"], f"{where}: member"), spec)


def _revoke_encryption_key(op: dict[str, Any], where: str) -> RevokeEncryptionKey:
    _fields(op, where, {"op", "member", "key_id"})
    return RevokeEncryptionKey(_id(op["member"], f"{where}: member"), _key_id(op["key_id"], where))


def _set_certificate(op: dict[str, Any], where: str) -> SetCertificate:
    _fields(op, where, {"op", "member", "certificate_sha256"})
    return SetCertificate(_id(op["member"], f"{where}: member"), _sha256(op["certificate_sha256"], where))


def _set_policy_rule(op: dict[str, Any], where: str) -> SetPolicyRule:
    _fields(op, where, {"op", "type", "sender_roles", "recipient_roles"}, {"answers"})
    answers = op.get("answers")
    return SetPolicyRule(PolicyRule(
        _type(op["type"], f"{where}: type"),
        _roles(op["sender_roles"], f"{where}: sender_roles"),
        _roles(op["recipient_roles"], f"{where}: recipient_roles"),
        _answers(answers, f"{where}: answers") if answers is not None else frozenset(),
    ))


def _remove_policy_rule(op: dict[str, Any], where: str) -> RemovePolicyRule:
    _fields(op, where, {"op", "type"})
    return RemovePolicyRule(_type(op["type"], f"{where}: type"))


def _set_admins(op: dict[str, Any], where: str) -> SetAdmins:
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


def _erase(op: dict[str, Any], where: str) -> Erase:
    _fields(op, where, {"op", "message_ids", "reason"})
    try:
        return Erase(check_erased_ids(op["message_ids"]), check_reason(op["reason"]))
    except ValueError as exc:
        raise MembershipUpdateError(f"{where}: {exc}") from None


#: the parser of each kind of operation, by its ``op``
_OPERATION_PARSERS: dict[str, Callable[[dict[str, Any], str], Operation]] = {
    AddMember.op: _add_member,
    RemoveMember.op: _remove_member,
    AddKey.op: _add_key,
    RevokeKey.op: _revoke_key,
    AddEncryptionKey.op: _add_encryption_key,
    RevokeEncryptionKey.op: _revoke_encryption_key,
    SetCertificate.op: _set_certificate,
    SetPolicyRule.op: _set_policy_rule,
    RemovePolicyRule.op: _remove_policy_rule,
    SetAdmins.op: _set_admins,
    Erase.op: _erase,
}


# --- fields ------------------------------------------------------------------------------


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


def check_admin_id(value: Any, where: str) -> str:
    """``value`` as the admin of an approval: non-empty text of at most 200 characters."""
    return _text(value, where)


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MembershipUpdateError(f"{where} must be 1-100 ASCII letters, digits, '.', '_' or '-'")
    return value


def _type(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 200 or not _TYPE.fullmatch(value):
        raise MembershipUpdateError(f"{where} must be an Avro full name such as cn.judicial.hub.x.Y")
    return value


def _answers(value: Any, where: str) -> frozenset[str]:
    try:
        return frozenset(_type(t, where) for t in answers_from_json(value))
    except ValueError as exc:
        raise MembershipUpdateError(f"{where}: {exc}") from exc


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


def _encryption_public_key(value: Any, where: str) -> EncryptionPublicKey:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise MembershipUpdateError(f"{where}: public_key must be base64 of a raw 32-byte X25519 key")
    try:
        return EncryptionPublicKey(raw)
    except (HubError, ValueError) as exc:  # a point of small order
        raise MembershipUpdateError(f"{where}: public_key is not an X25519 key: {_first_line(exc)}") from None


def _key_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{16}", value):
        raise MembershipUpdateError(f"{where}: key_id must be 16 lowercase hex digits")
    return value


def _check_key_id(obj: dict[str, Any], key: VerifyingKey | EncryptionPublicKey, where: str) -> None:
    if "key_id" in obj and obj["key_id"] != key.key_id:
        raise MembershipUpdateError(f"{where}: key_id does not match the public key (it is {key.key_id})")


def _validity(obj: dict[str, Any], where: str) -> tuple[int, int | None]:
    """A key's ``not_before`` and ``not_after`` (None if absent), the one before the other."""
    not_before = _time(obj["not_before"], f"{where}: not_before")
    not_after = _time(obj["not_after"], f"{where}: not_after") if obj.get("not_after") is not None else None
    if not_after is not None and not_after <= not_before:
        raise MembershipUpdateError(f"{where}: not_after must be later than not_before")
    return not_before, not_after


def _key_spec(obj: Any, where: str) -> KeySpec:
    _fields(obj, where, {"public_key", "not_before"}, {"not_after", "key_id"})
    key = _public_key(obj["public_key"], where)
    _check_key_id(obj, key, where)
    return KeySpec(key, *_validity(obj, where))


def _encryption_key_spec(obj: Any, where: str) -> EncryptionKeySpec:
    _fields(obj, where, {"public_key", "not_before"}, {"not_after", "key_id"})
    key = _encryption_public_key(obj["public_key"], where)
    _check_key_id(obj, key, where)
    return EncryptionKeySpec(key, *_validity(obj, where))
