"""The auditor's closed-loop checks over the whole ledger (all partitions), pure.

The Opinions ask that enforcement be audited as closed loops (item 11). After every partition
has been replayed, these checks look across the ledger:

* ``ANSWER_UNMATCHED``: an answer (feedback, receipt) names, by correlation id, a message that is
  not on the ledger, is of a type its policy rule does not answer (a rule may answer several:
  ``CreditActionFeedback`` answers each of the four credit decisions), or was not addressed to
  the answering member;
* ``FEEDBACK_MISSING`` / ``FEEDBACK_LATE``: an order with a ``response_deadline`` has no answer,
  or its first answer was notarised after the deadline, once the deadline has passed;
* ``CREDENTIAL_TRANSITION``: a lawyer credential changes in an order the law does not allow
  (suspended, reinstated or revoked before being issued; reinstated when not suspended; ...).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from hub.audit.replay import Finding, Violation
from hub.consortium.membership import Membership, PolicyRule
from hub.standard.envelope import Envelope
from hub.timeutil import iso, to_us

LAWYERS = "cn.judicial.hub.lawyers."
_ISSUED, _SUSPENDED = LAWYERS + "LawyerCredentialIssued", LAWYERS + "LawyerCredentialSuspended"
_REINSTATED, _REVOKED = LAWYERS + "LawyerCredentialReinstated", LAWYERS + "LawyerCredentialRevoked"
#: state -> the credential types allowed next (None: never issued)
_LEGAL: dict[str | None, set[str]] = {
    None: {_ISSUED},
    "ACTIVE": {_SUSPENDED, _REVOKED},
    "SUSPENDED": {_REINSTATED, _REVOKED},
    "REVOKED": {_ISSUED},  # a new licence after a revocation is a new issuance
}
_NEXT = {_ISSUED: "ACTIVE", _SUSPENDED: "SUSPENDED", _REINSTATED: "ACTIVE", _REVOKED: "REVOKED"}


@dataclass(frozen=True)
class _Where:
    partition: int
    index: int
    offset: int


@dataclass
class _Order:
    where: _Where
    type: str
    recipients: frozenset[str]
    deadline: int | None
    answered_at: int | None = None


@dataclass
class ClosedLoops:
    """The orders, answers and credential changes seen in the ledger, to find what was never
    answered by its deadline, answers to nothing, and credential transitions the law does not allow."""

    orders: dict[bytes, _Order] = field(default_factory=dict)
    #: (where, the answer, the policy rule of its type, notarised at)
    answers: list[tuple[_Where, Envelope, PolicyRule, int]] = field(default_factory=list)
    credentials: list[tuple[int, _Where, str, str]] = field(default_factory=list)

    def observe(self, partition: int, index: int, offset: int, env: Envelope, notarised_at: int,
                membership: Membership, payload: Any) -> None:
        """One accepted entry; ``payload`` is its decoded Avro payload (a dict)."""
        where = _Where(partition, index, offset)
        rule = membership.rules.get(env.type)
        if env.type in membership.answered_types:
            deadline = payload.get("response_deadline") if isinstance(payload, dict) else None
            self.orders[env.message_id.bytes] = _Order(where, env.type, frozenset(env.recipients),
                                                       to_us(deadline) if deadline is not None else None)
        if rule is not None and rule.answers and env.correlation_id is not None:
            self.answers.append((where, env, rule, notarised_at))
        if env.type in _NEXT and isinstance(payload, dict):
            self.credentials.append((notarised_at, where, str(payload.get("license_number")), env.type))

    def finish(self, now_us: int) -> list[Violation]:
        out: list[Violation] = []

        def flag(w: _Where, finding: Finding, detail: str) -> None:
            out.append(Violation(w.partition, w.index, w.offset, finding, detail))

        for where, env, rule, at in self.answers:
            assert env.correlation_id is not None
            order = self.orders.get(env.correlation_id.bytes)
            if order is None:
                flag(where, Finding.ANSWER_UNMATCHED, f"{env.type} {env.message_id} answers "
                     f"{env.correlation_id}, which is not on the ledger")
            elif order.type not in rule.answers:
                flag(where, Finding.ANSWER_UNMATCHED, f"{env.type} answers {rule.answers_text()}, but "
                     f"{env.correlation_id} is a {order.type}")
            elif env.sender not in order.recipients:
                flag(where, Finding.ANSWER_UNMATCHED, f"{env.sender} answered {env.correlation_id}, "
                     "which was not addressed to it")
            elif order.answered_at is None or at < order.answered_at:
                order.answered_at = at
        for mid, order in self.orders.items():
            if order.deadline is None or order.deadline >= now_us:
                continue
            name = f"{order.type.rsplit('.', 1)[1]} {uuid.UUID(bytes=mid)}"
            if order.answered_at is None:
                flag(order.where, Finding.FEEDBACK_MISSING,
                     f"{name} to {', '.join(sorted(order.recipients))} has no answer; deadline {iso(order.deadline)}")
            elif order.answered_at > order.deadline:
                flag(order.where, Finding.FEEDBACK_LATE, f"{name} was answered at {iso(order.answered_at)}, after "
                     f"its deadline {iso(order.deadline)}")
        state: dict[str, str | None] = {}
        for _at, where, licence, type_ in sorted(self.credentials, key=lambda c: (c[0], c[1].partition, c[1].index)):
            current = state.get(licence)
            if type_ not in _LEGAL[current]:
                flag(where, Finding.CREDENTIAL_TRANSITION, f"licence {licence}: {type_.rsplit('.', 1)[1]} while "
                     f"{current or 'never issued'}")
                continue
            state[licence] = _NEXT[type_]
        return out
