"""A development consortium: the hub's sequencer, the members it is given and an auditor, each with a
new Ed25519 signing key and a new X25519 encryption key kept beside the genesis, three administrators
(quorum 2) and the standard policy.

The ``hub`` command (the composition root) passes the connector packages' members
(``connectors.dev_members()``); the hub itself never imports ``connectors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hub.consortium.encryption_keys import DecryptionKey, MemberEncryptionKey
from hub.consortium.files import encryption_key_path, has_genesis, key_path, load_membership, write_genesis
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Admin, Member, MemberKey, Membership, Role
from hub.ledger.log_identity import SEQUENCER_MEMBER
from hub.standard.routing import standard_policy
from hub.timeutil import now_us

#: a development member: (id, name, role)
DevMember = tuple[str, str, Role]

#: the development consortium's auditor: every payload is encrypted to it too; it sends nothing
AUDITOR_MEMBER: DevMember = ("audit-office", "最高人民法院审计室（审计密钥）", Role.AUDITOR)


def init_dev(directory: Path, members: Sequence[DevMember], *, consortium: str = "dev",
             force: bool = False) -> tuple[Membership, bool]:
    """Create the development consortium unless it exists; (membership, created). Its members are
    the hub's sequencer, ``members`` (e.g. ``connectors.dev_members()``) and :data:`AUDITOR_MEMBER`,
    each with a new signing key (``keys/<id>.pem``) and encryption key (``keys/<id>.x25519.pem``)."""
    if has_genesis(directory) and not force:
        return load_membership(directory), False
    start = now_us() - 3600 * 1_000_000  # valid from an hour ago: tolerate clock skew
    created = {}
    for mid, name, role in [(SEQUENCER_MEMBER, "司法区块链互通枢纽（定序服务）", Role.HUB_SERVICE), *members,
                            AUDITOR_MEMBER]:
        key = SigningKey.generate()
        key.save(key_path(directory, mid))
        encryption_key = DecryptionKey.generate()
        encryption_key.save(encryption_key_path(directory, mid))
        created[mid] = Member(mid, name, frozenset({role}), (MemberKey(key.public, start),),
                              encryption_keys=(MemberEncryptionKey(encryption_key.public, start),))
    admins = []
    for n in (1, 2, 3):
        admin_key = SigningKey.generate()
        admin_key.save(key_path(directory, f"admin-{n}"))
        admins.append(Admin(f"admin-{n}", admin_key.public))
    membership = Membership(1, consortium, created, {r.type: r for r in standard_policy()},
                            admins=tuple(admins), quorum=2)
    write_genesis(directory, membership)
    return membership, True


def without_encryption_keys(directory: Path, bootstrap: str, namespace: str) -> list[str]:
    """The members of the latest membership (the genesis in ``directory`` and the membership log)
    with no current encryption key, the sequencer aside: a consortium created before envelope v2."""
    from hub.consortium.files import load_memberships
    from hub.kafka.membership_log import read_updates

    latest = max(load_memberships(directory, read_updates(bootstrap, namespace)).items())[1]
    now = now_us()
    return [m.id for m in latest.members.values()
            if m.id != SEQUENCER_MEMBER and m.current_encryption_key(now, latest.version) is None]
