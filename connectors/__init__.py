"""One package per partner-agency kind: its defaults (role, message types, dev members).

Every connector runs the same server (:mod:`hub.rpc.connector`) as
``hub connector run --agency <id>``; what differs by kind lives here.
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

KINDS: tuple[ModuleType, ...] = (
    court, bank, procuratorate, public_security, property_registry, credit_platform, justice_bureau,
)


def for_role(role: str) -> ModuleType | None:
    return next((k for k in KINDS if str(k.ROLE) == role), None)
