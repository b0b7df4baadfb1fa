"""Who the consortium's members are, their keys and roles, and who may send what to whom.

The membership is a JSON document (``genesis.json`` for version 1): members with roles
and Ed25519 keys (with validity windows), and a policy of rules "senders with role R may
send type T to recipients with roles S". Every ledger entry records the membership
version it was validated against. Pure: parsing and questions, no files.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hub.errors import ConfigError
from hub.identity import VerifyingKey, key_id
from hub.timeutil import iso, to_us

FORMAT = "judicial-hub/membership/v1"


class Role(StrEnum):
    COURT = "court"
    PROCURATORATE = "procuratorate"
    PUBLIC_SECURITY = "public_security"
    BANK = "bank"
    PROPERTY_REGISTRY = "property_registry"
    CREDIT_PLATFORM = "credit_platform"
    JUSTICE_BUREAU = "justice_bureau"
    HUB_SERVICE = "hub_service"


@dataclass(frozen=True)
class MemberKey:
    key: VerifyingKey
    not_before: int  # microseconds
    not_after: int | None = None
    revoked_at: int | None = None

    @property
    def key_id(self) -> str:
        return self.key.key_id


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    roles: frozenset[Role]
    keys: tuple[MemberKey, ...]

    def key(self, kid: str) -> MemberKey | None:
        return next((k for k in self.keys if k.key_id == kid), None)


@dataclass(frozen=True)
class PolicyRule:
    type: str
    sender_roles: frozenset[Role]
    recipient_roles: frozenset[Role]
    #: the type this one answers: the envelope must carry a correlation id
    answers: str | None = None


@dataclass(frozen=True)
class Membership:
    version: int
    consortium: str
    members: dict[str, Member]
    rules: dict[str, PolicyRule] = field(default_factory=dict)

    def member(self, member_id: str) -> Member | None:
        return self.members.get(member_id)

    def check_policy(self, sender: str, type_: str, recipients: Iterable[str], has_correlation: bool) -> str | None:
        """None when allowed, else why not (one line)."""
        rule = self.rules.get(type_)
        if rule is None:
            return f"no policy allows type {type_}"
        member = self.members[sender]
        if not member.roles & rule.sender_roles:
            allowed = ", ".join(sorted(rule.sender_roles))
            return f"{sender} ({', '.join(sorted(member.roles))}) may not send {type_}; only {allowed}"
        recipients = list(recipients)
        if not recipients:
            return "a message needs at least one recipient"
        if len(set(recipients)) != len(recipients):
            return "recipients repeat"
        for r in recipients:
            target = self.members.get(r)
            if target is None:
                return f"recipient {r} is not a member"
            if not target.roles & rule.recipient_roles:
                return f"{type_} may not be sent to {r} ({', '.join(sorted(target.roles))})"
        if rule.answers and not has_correlation:
            return f"{type_} answers a {rule.answers} and needs its message id as correlation_id"
        return None

    def members_with_role(self, role: Role) -> list[Member]:
        return [m for m in self.members.values() if role in m.roles]

    # --- the JSON document -------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str | bytes) -> Membership:
        try:
            doc = json.loads(text)
            return cls._from_doc(doc)
        except ConfigError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"invalid membership document: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> Membership:
        if doc.get("format") != FORMAT:
            raise ConfigError(f"membership document format must be {FORMAT!r}")
        members: dict[str, Member] = {}
        for m in doc["members"]:
            keys = []
            for k in m["keys"]:
                vk = VerifyingKey(base64.b64decode(k["public_key"], validate=True))
                if k.get("key_id") and k["key_id"] != vk.key_id:
                    raise ConfigError(f"member {m['id']}: key_id {k['key_id']} does not match its public key")
                keys.append(MemberKey(
                    vk, to_us(_time(k["not_before"])),
                    to_us(_time(k["not_after"])) if k.get("not_after") else None,
                    to_us(_time(k["revoked_at"])) if k.get("revoked_at") else None,
                ))
            if m["id"] in members:
                raise ConfigError(f"member {m['id']} appears twice")
            members[m["id"]] = Member(m["id"], m["name"], frozenset(Role(r) for r in m["roles"]), tuple(keys))
        rules = {}
        for r in doc.get("policy", []):
            rules[r["type"]] = PolicyRule(
                r["type"], frozenset(Role(x) for x in r["sender_roles"]),
                frozenset(Role(x) for x in r["recipient_roles"]), r.get("answers"),
            )
        return cls(int(doc["version"]), str(doc["consortium"]), members, rules)

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "version": self.version,
            "consortium": self.consortium,
            "members": [
                {
                    "id": m.id,
                    "name": m.name,
                    "roles": sorted(m.roles),
                    "keys": [
                        {
                            "key_id": k.key_id,
                            "public_key": base64.b64encode(k.key.raw).decode(),
                            "not_before": iso(k.not_before),
                            "not_after": iso(k.not_after) if k.not_after else None,
                            "revoked_at": iso(k.revoked_at) if k.revoked_at else None,
                        }
                        for k in m.keys
                    ],
                }
                for m in self.members.values()
            ],
            "policy": [
                {
                    "type": r.type,
                    "sender_roles": sorted(r.sender_roles),
                    "recipient_roles": sorted(r.recipient_roles),
                    **({"answers": r.answers} if r.answers else {}),
                }
                for r in self.rules.values()
            ],
        }
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _time(text: str) -> Any:
    from datetime import datetime

    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ConfigError(f"time {text!r} needs a time zone")
    return dt


__all__ = ["Role", "MemberKey", "Member", "PolicyRule", "Membership", "key_id"]
