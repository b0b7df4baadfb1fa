"""Lawyer credential state derived from the ledger entries addressed to an agency (pure).

Each credential message (issued, suspended, reinstated, revoked) changes a licence's status
from the moment the sequencer notarised it; ``status_at`` answers "was this lawyer licensed at
time T" from that history, so two agencies holding the same entries give the same answer.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FAMILY = "cn.judicial.hub.lawyers."


class CredentialStatus(StrEnum):
    """A lawyer's licence status, as LookupCredential answers it."""

    NEVER_LICENSED = "NEVER_LICENSED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"


_EFFECT = {
    FAMILY + "LawyerCredentialIssued": CredentialStatus.ACTIVE,
    FAMILY + "LawyerCredentialSuspended": CredentialStatus.SUSPENDED,
    FAMILY + "LawyerCredentialReinstated": CredentialStatus.ACTIVE,
    FAMILY + "LawyerCredentialRevoked": CredentialStatus.REVOKED,
}


def is_credential_type(type_: str) -> bool:
    """Whether messages of ``type_`` change a licence's status."""
    return type_ in _EFFECT


@dataclass(frozen=True)
class Change:
    """One credential message's effect: the status a licence has from ``at`` on."""

    at: int  # notarised_at, microseconds
    status: CredentialStatus
    lawyer_name: str
    message_id: str
    ledger_index: int


@dataclass
class CredentialBook:
    """Every licence's changes in notarisation order (not thread-safe: its follower guards it)."""

    _changes: dict[str, list[Change]] = field(default_factory=dict)

    def record(self, type_: str, payload: dict[str, Any], notarised_at: int, message_id: str, index: int) -> None:
        """Add the effect of one credential message (a ledger entry of a credential type)."""
        status = _EFFECT[type_]
        lawyer = payload.get("lawyer")
        name = lawyer.get("name", "") if isinstance(lawyer, dict) else str(payload.get("lawyer_name", ""))
        changes = self._changes.setdefault(str(payload["license_number"]), [])
        change = Change(notarised_at, status, name, message_id, index)
        keys = [(c.at, c.ledger_index) for c in changes]
        changes.insert(bisect.bisect(keys, (change.at, change.ledger_index)), change)

    def status_at(self, license_number: str, at_us: int) -> Change | None:
        """The change in force at ``at_us`` (None: never licensed by then)."""
        changes = self._changes.get(license_number, [])
        i = bisect.bisect_right([c.at for c in changes], at_us)
        return changes[i - 1] if i else None
