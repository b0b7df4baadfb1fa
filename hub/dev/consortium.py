"""A development consortium: the hub's sequencer and the members it is given, each with a new
Ed25519 key kept beside the genesis, three administrators (quorum 2) and the standard policy.

The ``hub`` command (the composition root) passes the connector packages' members
(``connectors.dev_members()``); the hub itself never imports ``connectors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hub.consortium.files import has_genesis, key_path, load_membership, write_genesis
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Admin, Member, MemberKey, Membership, Role
from hub.ledger.log_identity import SEQUENCER_MEMBER
from hub.standard.routing import standard_policy
from hub.timeutil import now_us

#: a development member: (id, name, role)
DevMember = tuple[str, str, Role]


def init_dev(directory: Path, members: Sequence[DevMember], *, consortium: str = "dev",
             force: bool = False) -> tuple[Membership, bool]:
    """Create the development consortium unless it exists; (membership, created). Its members are
    the hub's sequencer and ``members`` (e.g. ``connectors.dev_members()``), each with a new key."""
    if has_genesis(directory) and not force:
        return load_membership(directory), False
    start = now_us() - 3600 * 1_000_000  # valid from an hour ago: tolerate clock skew
    created = {}
    for mid, name, role in [(SEQUENCER_MEMBER, "司法区块链互通枢纽（定序服务）", Role.HUB_SERVICE), *members]:
        key = SigningKey.generate()
        key.save(key_path(directory, mid))
        created[mid] = Member(mid, name, frozenset({role}), (MemberKey(key.public, start),))
    admins = []
    for n in (1, 2, 3):
        admin_key = SigningKey.generate()
        admin_key.save(key_path(directory, f"admin-{n}"))
        admins.append(Admin(f"admin-{n}", admin_key.public))
    membership = Membership(1, consortium, created, {r.type: r for r in standard_policy()},
                            admins=tuple(admins), quorum=2)
    write_genesis(directory, membership)
    return membership, True
