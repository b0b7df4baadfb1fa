"""The standard policy: which role may send which message type to which roles.

Part of the standard (docs/standard.md): a genesis membership starts from these rules.
"""

from __future__ import annotations

from hub.membership import PolicyRule, Role

ENFORCEMENT = "cn.judicial.hub.enforcement"


def standard_policy() -> list[PolicyRule]:
    return [
        # only courts issue freeze orders, to banks
        PolicyRule(f"{ENFORCEMENT}.FreezeOrder", frozenset({Role.COURT}), frozenset({Role.BANK})),
        # banks answer them, to courts, naming the order by correlation id
        PolicyRule(f"{ENFORCEMENT}.FreezeFeedback", frozenset({Role.BANK}), frozenset({Role.COURT}),
                   answers=f"{ENFORCEMENT}.FreezeOrder"),
    ]
