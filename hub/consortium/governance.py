"""Membership updates: signed changes to the consortium, approved by a quorum of admins.

Pure: bytes and values in, a new :class:`~hub.consortium.membership.Membership` or a
:class:`MembershipUpdateError` out. The membership log topic, files and the CLI live
elsewhere and call these functions. The update document, its operations and its parser are
in :mod:`hub.consortium.membership_update` and :mod:`hub.consortium.update_parser`; this module
applies updates and writes them.

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
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hub.consortium.encryption_keys import EncryptionPublicKey, MemberEncryptionKey
from hub.consortium.erasures import Erasure
from hub.consortium.identity import SigningKey, VerifyingKey
from hub.consortium.membership import Admin, Member, MemberKey, Membership, PolicyRule, Role, canonical_json
from hub.consortium.membership_update import (
    MAX_UPDATE_BYTES,
    SIGNING_DOMAIN,
    UPDATE_FORMAT,
    AddEncryptionKey,
    AddKey,
    AddMember,
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
from hub.consortium.update_parser import check_admin_id, parse_update, parse_update_document
from hub.errors import EncodeError
from hub.timeutil import iso

__all__ = [
    "MAX_UPDATE_BYTES",
    "SIGNING_DOMAIN",
    "UPDATE_FORMAT",
    "MembershipUpdateError",
    "add_encryption_key_op",
    "add_key_op",
    "add_member_op",
    "apply_update",
    "approving_admins",
    "check_link",
    "encode_update",
    "erase_op",
    "key_spec",
    "membership_history",
    "parse_update",
    "remove_member_op",
    "remove_policy_rule_op",
    "revoke_encryption_key_op",
    "revoke_key_op",
    "set_admins_op",
    "set_certificate_op",
    "set_policy_rule_op",
    "sign_update",
    "signing_input",
    "update_document",
    "with_approval",
]
# MAX_UPDATE_BYTES, SIGNING_DOMAIN, UPDATE_FORMAT, MembershipUpdateError (hub.consortium.membership_update)
# and parse_update (hub.consortium.update_parser) are exported here too: the error is what this module's
# functions raise, and callers that apply updates parse them with parse_update.


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
    """``current`` with ``operations`` applied in order, as membership ``version``."""
    draft = _Draft(dict(current.members), dict(current.rules), current.admins, current.quorum, version,
                   current.erasures)
    for i, op in enumerate(operations):
        draft.apply(op, f"operation {i} ({op.op})")
    return Membership(version, current.consortium, draft.members, draft.rules, draft.admins, draft.quorum,
                      draft.erasures)


@dataclass
class _Draft:
    """The membership an update is making, changed one operation at a time by :meth:`apply`."""

    members: dict[str, Member]
    rules: dict[str, PolicyRule]
    admins: tuple[Admin, ...]
    quorum: int
    version: int
    erasures: tuple[Erasure, ...]

    def apply(self, op: Operation, where: str) -> None:
        if isinstance(op, AddMember):
            self.add_member(op, where)
        elif isinstance(op, RemoveMember):
            self.existing(op.member, where)
            del self.members[op.member]
        elif isinstance(op, AddKey):
            member = self.existing(op.member, where)
            self.members[op.member] = replace(member, keys=(*member.keys, self.fresh_key(op.key, where)))
        elif isinstance(op, RevokeKey):
            self.revoke_key(op, where)
        elif isinstance(op, AddEncryptionKey):
            member = self.existing(op.member, where)
            key = self.fresh_encryption_key(op.key, where)
            self.members[op.member] = replace(member, encryption_keys=(*member.encryption_keys, key))
        elif isinstance(op, RevokeEncryptionKey):
            self.revoke_encryption_key(op, where)
        elif isinstance(op, SetCertificate):
            member = self.existing(op.member, where)
            self.members[op.member] = replace(member, certificate_sha256=op.certificate_sha256)
        elif isinstance(op, SetPolicyRule):
            self.rules[op.rule.type] = op.rule
        elif isinstance(op, RemovePolicyRule):
            if op.type not in self.rules:
                raise MembershipUpdateError(f"{where}: there is no rule for {op.type}")
            del self.rules[op.type]
        elif isinstance(op, SetAdmins):
            self.set_admins(op, where)
        elif isinstance(op, Erase):
            self.erase(op, where)
        else:  # pragma: no cover - the parser makes only the kinds above
            raise MembershipUpdateError(f"{where}: unsupported operation")

    def existing(self, member_id: str, where: str) -> Member:
        member = self.members.get(member_id)
        if member is None:
            raise MembershipUpdateError(f"{where}: {member_id} is not a member")
        return member

    def member_key_ids(self) -> set[str]:
        """The ids of the members' signing and encryption keys."""
        return ({k.key_id for m in self.members.values() for k in m.keys}
                | {k.key_id for m in self.members.values() for k in m.encryption_keys})

    def taken_key_ids(self) -> set[str]:
        """The ids of every key in the draft, the members' and the admins' (one namespace, so that a
        key id names one key)."""
        return self.member_key_ids() | {a.key_id for a in self.admins}

    def fresh_key(self, spec: KeySpec, where: str) -> MemberKey:
        if spec.key.key_id in self.taken_key_ids():
            raise MembershipUpdateError(f"{where}: key {spec.key.key_id} is already in the membership")
        return MemberKey(spec.key, spec.not_before, spec.not_after)

    def fresh_encryption_key(self, spec: EncryptionKeySpec, where: str) -> MemberEncryptionKey:
        if spec.key.key_id in self.taken_key_ids():
            raise MembershipUpdateError(f"{where}: key {spec.key.key_id} is already in the membership")
        return MemberEncryptionKey(spec.key, spec.not_before, spec.not_after)

    def add_member(self, op: AddMember, where: str) -> None:
        if op.id in self.members:
            raise MembershipUpdateError(f"{where}: {op.id} is already a member")
        ids = [spec.key.key_id for spec in op.keys] + [spec.key.key_id for spec in op.encryption_keys]
        twice = next((kid for n, kid in enumerate(ids) if kid in ids[:n]), None)
        if twice is not None:
            raise MembershipUpdateError(f"{where}: key {twice} is listed twice")
        keys = tuple(self.fresh_key(spec, where) for spec in op.keys)
        encryption_keys = tuple(self.fresh_encryption_key(spec, where) for spec in op.encryption_keys)
        self.members[op.id] = Member(op.id, op.name, op.roles, keys, op.certificate_sha256, encryption_keys)

    def revoke_key(self, op: RevokeKey, where: str) -> None:
        member = self.existing(op.member, where)
        key = member.key(op.key_id)
        if key is None:
            raise MembershipUpdateError(f"{where}: {op.member} has no key {op.key_id}")
        if key.revoked_in_version is not None:
            raise MembershipUpdateError(
                f"{where}: key {op.key_id} of {op.member} is already revoked (v{key.revoked_in_version})")
        revoked = replace(key, revoked_in_version=self.version)
        self.members[op.member] = replace(member, keys=tuple(revoked if k is key else k for k in member.keys))

    def revoke_encryption_key(self, op: RevokeEncryptionKey, where: str) -> None:
        member = self.existing(op.member, where)
        key = member.encryption_key(op.key_id)
        if key is None:
            raise MembershipUpdateError(f"{where}: {op.member} has no encryption key {op.key_id}")
        if key.revoked_in_version is not None:
            raise MembershipUpdateError(
                f"{where}: encryption key {op.key_id} of {op.member} is already revoked (v{key.revoked_in_version})")
        revoked = replace(key, revoked_in_version=self.version)
        self.members[op.member] = replace(
            member, encryption_keys=tuple(revoked if k is key else k for k in member.encryption_keys))

    def set_admins(self, op: SetAdmins, where: str) -> None:
        member_keys = self.member_key_ids()
        shared = sorted(a.id for a in op.admins if a.key_id in member_keys)
        if shared:
            raise MembershipUpdateError(f"{where}: admin {shared[0]} uses a member's key; admins need their own")
        self.admins, self.quorum = op.admins, op.quorum

    def erase(self, op: Erase, where: str) -> None:
        erased = {m: e.version for e in self.erasures for m in e.message_ids}
        again = next((m for m in op.message_ids if m in erased), None)
        if again is not None:
            raise MembershipUpdateError(f"{where}: message {again} is already erased (membership v{erased[again]})")
        self.erasures = (*self.erasures, Erasure(self.version, op.reason, op.message_ids))


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
    update = parse_update_document(doc)
    _apply(current, update.operations, update.version)
    return doc


def signing_input(doc: Mapping[str, Any]) -> bytes:
    """What an admin signs for ``doc``: the domain, then the canonical body."""
    return parse_update_document(doc).signing_input


def sign_update(doc: Mapping[str, Any], admin_id: str, key: SigningKey) -> dict[str, str]:
    """An approval of ``doc`` by ``admin_id``: {"admin", "signature"}; add it with :func:`with_approval`."""
    check_admin_id(admin_id, "admin id")
    return {"admin": admin_id, "signature": base64.b64encode(key.sign(signing_input(doc))).decode()}


def with_approval(doc: Mapping[str, Any], approval: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``doc`` carrying ``approval`` instead of any earlier one by the same admin."""
    kept = [a for a in doc.get("approvals", []) if not (isinstance(a, Mapping) and a.get("admin") == approval["admin"])]
    return {**doc, "approvals": [*kept, dict(approval)]}


def encode_update(doc: Mapping[str, Any]) -> bytes:
    """The bytes to publish: canonical JSON of the whole document, approvals included."""
    parse_update_document(doc)
    try:
        return canonical_json(dict(doc))
    except EncodeError as exc:
        raise MembershipUpdateError(str(exc)) from None


def key_spec(key: VerifyingKey | EncryptionPublicKey, not_before_us: int,
             not_after_us: int | None = None) -> dict[str, Any]:
    """A key and its validity as an update carries it (``keys`` and ``encryption_keys`` of
    :func:`add_member_op`)."""
    spec: dict[str, Any] = {"public_key": base64.b64encode(key.raw).decode(), "not_before": iso(not_before_us)}
    if not_after_us is not None:
        spec["not_after"] = iso(not_after_us)
    return spec


def add_member_op(member_id: str, name: str, roles: Iterable[Role | str], keys: Iterable[Mapping[str, Any]],
                  certificate_sha256: str | None = None,
                  encryption_keys: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """``keys`` and ``encryption_keys`` as :func:`key_spec` makes them (encryption keys: X25519)."""
    op: dict[str, Any] = {"op": "add_member", "id": member_id, "name": name,
                          "roles": sorted(str(r) for r in roles), "keys": [dict(k) for k in keys]}
    if certificate_sha256 is not None:
        op["certificate_sha256"] = certificate_sha256
    encryption = [dict(k) for k in encryption_keys]
    if encryption:
        op["encryption_keys"] = encryption
    return op


def remove_member_op(member_id: str) -> dict[str, Any]:
    return {"op": "remove_member", "member": member_id}


def add_key_op(member_id: str, key: VerifyingKey, not_before_us: int, not_after_us: int | None = None) -> dict[str, Any]:
    return {"op": "add_key", "member": member_id, **key_spec(key, not_before_us, not_after_us)}


def revoke_key_op(member_id: str, key_id: str) -> dict[str, Any]:
    return {"op": "revoke_key", "member": member_id, "key_id": key_id}


def add_encryption_key_op(member_id: str, key: EncryptionPublicKey, not_before_us: int,
                          not_after_us: int | None = None) -> dict[str, Any]:
    return {"op": "add_encryption_key", "member": member_id, **key_spec(key, not_before_us, not_after_us)}


def revoke_encryption_key_op(member_id: str, key_id: str) -> dict[str, Any]:
    return {"op": "revoke_encryption_key", "member": member_id, "key_id": key_id}


def set_certificate_op(member_id: str, certificate_sha256: str) -> dict[str, Any]:
    return {"op": "set_certificate", "member": member_id, "certificate_sha256": certificate_sha256}


def set_policy_rule_op(rule: PolicyRule) -> dict[str, Any]:
    return {"op": "set_policy_rule", **rule.to_doc()}


def remove_policy_rule_op(type_: str) -> dict[str, Any]:
    return {"op": "remove_policy_rule", "type": type_}


def erase_op(message_ids: Iterable[uuid.UUID | str], reason: str) -> dict[str, Any]:
    """Erase these messages' payloads (ids as UUIDs, or their canonical text), for ``reason``."""
    return {"op": "erase", "message_ids": [str(m) for m in message_ids], "reason": reason}


def set_admins_op(admins: Iterable[Admin], quorum: int) -> dict[str, Any]:
    return {"op": "set_admins", "quorum": quorum,
            "admins": [{"id": a.id, "public_key": base64.b64encode(a.key.raw).decode()} for a in admins]}
