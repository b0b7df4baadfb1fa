"""A consortium on disk: its membership document and, for development, its members' keys.

Layout of a consortium directory::

    genesis.json          the membership, version 1 (hub.consortium.membership)
    keys/<member>.pem     a member's Ed25519 signing key (development only; 0600)
    keys/admin-<n>.pem    the consortium administrators' keys (development only; quorum 2 of 3)

Later versions are quorum-approved updates in the membership log topic (hub.consortium.governance).

``init_dev`` creates a development consortium with one member per entry of the
connector packages' ``DEV_MEMBERS`` and the standard policy.
"""

from __future__ import annotations

from pathlib import Path

from hub.consortium.identity import SigningKey
from hub.consortium.membership import Admin, Member, MemberKey, Membership, Role
from hub.errors import ConfigError
from hub.ledger.log_identity import SEQUENCER_MEMBER
from hub.standard.routing import standard_policy
from hub.timeutil import now_us

GENESIS = "genesis.json"


def load_membership(directory: Path) -> Membership:
    path = directory / GENESIS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no consortium at {directory}: run `hub agency init` first") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return Membership.from_json(text)


def load_memberships(directory: Path, bootstrap: str | None = None, namespace: str = "hub") -> dict[int, Membership]:
    """Every membership version: the genesis, then each update of the membership log (if a broker is given)."""
    genesis = load_membership(directory)
    if bootstrap is None:
        return {genesis.version: genesis}
    from hub.consortium.governance import membership_history
    from hub.kafka.membership_log import read_updates

    return membership_history(genesis, read_updates(bootstrap, namespace))


def read_membership_log_file(path: Path) -> list[bytes]:
    """The membership updates saved by `hub agency history`: one update's canonical JSON per line."""
    try:
        return [line for line in path.read_bytes().splitlines() if line.strip()]
    except OSError as exc:
        raise ConfigError(f"cannot read the membership log file {path}: {exc.strerror}") from exc


def load_memberships_offline(directory: Path, log_file: Path) -> dict[int, Membership]:
    """Every membership version from the genesis and a saved membership log, with no broker: each
    update must carry the quorum of the version before it, so the file needs no trust of its own."""
    from hub.consortium.governance import membership_history

    return membership_history(load_membership(directory), read_membership_log_file(log_file))


def current_membership(directory: Path, bootstrap: str, namespace: str) -> Membership:
    """The latest membership version: genesis plus every update in the log."""
    history = load_memberships(directory, bootstrap, namespace)
    return history[max(history)]


def key_path(directory: Path, member_id: str) -> Path:
    return directory / "keys" / f"{member_id}.pem"


def load_signing_key(directory: Path, member_id: str) -> SigningKey:
    path = key_path(directory, member_id)
    if not path.exists():
        raise ConfigError(f"no signing key for {member_id} at {path}")
    return SigningKey.load(path)


def dev_members() -> list[tuple[str, str, Role]]:
    """(id, name, role) of the development consortium, from each connector package."""
    from connectors import KINDS

    return [(mid, name, kind.ROLE) for kind in KINDS for mid, name in kind.DEV_MEMBERS]


def init_dev(directory: Path, *, consortium: str = "dev", force: bool = False) -> tuple[Membership, bool]:
    """Create the development consortium unless it exists; (membership, created)."""
    if (directory / GENESIS).exists() and not force:
        return load_membership(directory), False
    start = now_us() - 3600 * 1_000_000  # valid from an hour ago: tolerate clock skew
    members = {}
    for mid, name, role in [(SEQUENCER_MEMBER, "司法区块链互通枢纽（定序服务）", Role.HUB_SERVICE), *dev_members()]:
        key = SigningKey.generate()
        key.save(key_path(directory, mid))
        members[mid] = Member(mid, name, frozenset({role}), (MemberKey(key.public, start),))
    admins = []
    for n in (1, 2, 3):
        admin_key = SigningKey.generate()
        admin_key.save(key_path(directory, f"admin-{n}"))
        admins.append(Admin(f"admin-{n}", admin_key.public))
    membership = Membership(1, consortium, members, {r.type: r for r in standard_policy()},
                            admins=tuple(admins), quorum=2)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / GENESIS).write_text(membership.to_json(), encoding="utf-8")
    return membership, True
