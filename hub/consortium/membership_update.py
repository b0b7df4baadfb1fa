"""Membership update documents: their form, and their operations as values.

:class:`MembershipUpdate` is a document parsed by :func:`hub.consortium.update_parser.parse_update`:
well-formed, not yet checked against any membership. What an update does to a membership, and
the chain of updates, are in :mod:`hub.consortium.governance`.

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
standard base64 of the raw 32-byte key, Ed25519 for signing keys, X25519 for encryption
keys; a ``key_id``, where given, must be the key's own id; ids use ASCII letters, digits,
``.``, ``_`` and ``-``, at most 100)::

    add_member        id, name, roles[], keys[{public_key, not_before, not_after?, key_id?}],
                      certificate_sha256?, encryption_keys[{public_key, not_before,
                      not_after?, key_id?}]? (the id must not be a member; encryption_keys,
                      when given, a non-empty list)
    remove_member     member
    add_key           member, public_key, not_before, not_after?, key_id?
                      (no member or admin may already hold that key, of either kind)
    revoke_key        member, key_id   revoked from this update's version on: validation
                      against this version or later answers KEY_REVOKED; against earlier
                      versions the key stays good. Rotation is add_key, then revoke_key of
                      the old key (in the same update or a later one).
    add_encryption_key    member, public_key, not_before, not_after?, key_id?
                      an X25519 key payloads are encrypted to (no member or admin may
                      already hold that key, of either kind)
    revoke_encryption_key member, key_id   from this update's version on, nothing is
                      encrypted to the key; the member keeps its private key to open what was.
                      Rotation is add_encryption_key, then revoke_encryption_key of the old key.
    set_certificate   member, certificate_sha256 (hex SHA-256 of the certificate's DER)
    set_policy_rule   type, sender_roles[], recipient_roles[], answers? (adds or replaces;
                      answers: the type answered, or a list of the types answered)
    remove_policy_rule type
    set_admins        admins[{id, public_key, key_id?}], quorum (1 <= quorum <= len(admins))
    erase             message_ids[], reason   1 to 10,000 distinct message ids (canonical
                      lowercase UUID text) whose payloads are erased, none erased before, and
                      why (non-blank, at most 500 characters, no control characters). The
                      membership records it (``erasures``, hub.consortium.erasures); the
                      operator destroys the key capsules (hub.kafka.erasure, `hub agency erase`).

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

import hashlib
import uuid
from dataclasses import dataclass
from typing import ClassVar

from hub.consortium.encryption_keys import EncryptionPublicKey
from hub.consortium.identity import VerifyingKey
from hub.consortium.membership import Admin, PolicyRule, Role
from hub.errors import HubError

__all__ = [
    "MAX_UPDATE_BYTES",
    "SIGNING_DOMAIN",
    "UPDATE_FORMAT",
    "AddEncryptionKey",
    "AddKey",
    "AddMember",
    "Approval",
    "EncryptionKeySpec",
    "Erase",
    "KeySpec",
    "MembershipUpdate",
    "MembershipUpdateError",
    "Operation",
    "RemoveMember",
    "RemovePolicyRule",
    "RevokeEncryptionKey",
    "RevokeKey",
    "SetAdmins",
    "SetCertificate",
    "SetPolicyRule",
]

UPDATE_FORMAT = "judicial-hub/membership-update/v1"
SIGNING_DOMAIN = UPDATE_FORMAT.encode() + b"\x00"
#: an update fits one Kafka record with the default 1 MB limit, with room to spare
MAX_UPDATE_BYTES = 512 * 1024


class MembershipUpdateError(HubError):
    """A membership update is malformed, not approved by a quorum, or cannot apply."""


# --- operations, as values ---------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """A key an update gives a member: the Ed25519 key and its validity (microseconds since the epoch)."""

    key: VerifyingKey
    not_before: int
    not_after: int | None = None


@dataclass(frozen=True)
class EncryptionKeySpec:
    """An encryption key an update gives a member: the X25519 key and its validity (microseconds)."""

    key: EncryptionPublicKey
    not_before: int
    not_after: int | None = None


@dataclass(frozen=True)
class AddMember:
    """The ``add_member`` operation: a new member with its roles, keys, certificate digest and
    encryption keys."""

    op: ClassVar[str] = "add_member"
    id: str
    name: str
    roles: frozenset[Role]
    keys: tuple[KeySpec, ...]
    certificate_sha256: str | None = None
    encryption_keys: tuple[EncryptionKeySpec, ...] = ()


@dataclass(frozen=True)
class RemoveMember:
    """The ``remove_member`` operation."""

    op: ClassVar[str] = "remove_member"
    member: str


@dataclass(frozen=True)
class AddKey:
    """The ``add_key`` operation: one more key for a member."""

    op: ClassVar[str] = "add_key"
    member: str
    key: KeySpec


@dataclass(frozen=True)
class RevokeKey:
    """The ``revoke_key`` operation: a member's key, revoked from the update's version on."""

    op: ClassVar[str] = "revoke_key"
    member: str
    key_id: str


@dataclass(frozen=True)
class AddEncryptionKey:
    """The ``add_encryption_key`` operation: one more X25519 key for a member."""

    op: ClassVar[str] = "add_encryption_key"
    member: str
    key: EncryptionKeySpec


@dataclass(frozen=True)
class RevokeEncryptionKey:
    """The ``revoke_encryption_key`` operation: a member's encryption key, revoked from the update's
    version on."""

    op: ClassVar[str] = "revoke_encryption_key"
    member: str
    key_id: str


@dataclass(frozen=True)
class SetCertificate:
    """The ``set_certificate`` operation: the SHA-256 of a member's certificate."""

    op: ClassVar[str] = "set_certificate"
    member: str
    certificate_sha256: str


@dataclass(frozen=True)
class SetPolicyRule:
    """The ``set_policy_rule`` operation: adds or replaces the rule for the rule's message type."""

    op: ClassVar[str] = "set_policy_rule"
    rule: PolicyRule


@dataclass(frozen=True)
class RemovePolicyRule:
    """The ``remove_policy_rule`` operation: the rule for message type ``type`` goes."""

    op: ClassVar[str] = "remove_policy_rule"
    type: str


@dataclass(frozen=True)
class SetAdmins:
    """The ``set_admins`` operation: the admins of the next versions and their quorum."""

    op: ClassVar[str] = "set_admins"
    admins: tuple[Admin, ...]
    quorum: int


@dataclass(frozen=True)
class Erase:
    """The ``erase`` operation: messages whose payloads are erased (their key capsules destroyed), and why."""

    op: ClassVar[str] = "erase"
    message_ids: tuple[uuid.UUID, ...]
    reason: str


Operation = (AddMember | RemoveMember | AddKey | RevokeKey | AddEncryptionKey | RevokeEncryptionKey | SetCertificate
             | SetPolicyRule | RemovePolicyRule | SetAdmins | Erase)


@dataclass(frozen=True)
class Approval:
    """One entry of ``approvals``: an admin's id and its signature (empty if not base64)."""

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
