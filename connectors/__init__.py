"""One package per partner-agency kind: its defaults (role, dev members).

Every connector runs the same server (:mod:`hub.connector.service`) as
``hub connector run --agency <id>``; what differs by kind lives here. The message types a kind
sends and receives are the standard policy's (:func:`publishes`, :func:`receives`), never a copy.
"""

from __future__ import annotations

from types import ModuleType

from connectors import (
    bank,
    court,
    credit_platform,
    justice_bureau,
    procuratorate,
    property_registry,
    public_security,
)
from hub.consortium.membership import Role

KINDS: tuple[ModuleType, ...] = (
    court, bank, procuratorate, public_security, property_registry, credit_platform, justice_bureau,
)


def dev_members() -> list[tuple[str, str, Role]]:
    """(id, name, role) of every development member of every kind: what ``hub agency init`` and
    ``hub demo`` pass to :func:`hub.dev.consortium.init_dev`."""
    return [(mid, name, kind.ROLE) for kind in KINDS for mid, name in kind.DEV_MEMBERS]


def for_role(role: str) -> ModuleType | None:
    return next((k for k in KINDS if str(k.ROLE) == role), None)


def publishes(kind: ModuleType) -> list[str]:
    """The message types agencies of this kind may send (the standard policy's rules for its role)."""
    from hub.standard.routing import standard_policy

    return [r.type for r in standard_policy() if kind.ROLE in r.sender_roles]


def receives(kind: ModuleType) -> list[str]:
    """The message types addressed to agencies of this kind (the standard policy's rules for its role)."""
    from hub.standard.routing import standard_policy

    return [r.type for r in standard_policy() if kind.ROLE in r.recipient_roles]
