"""Who may do what on the hub's Kafka topics: least-privilege grants derived from the membership.

Pure: :func:`desired_grants` turns a membership and a namespace into the set of grants the
cluster should hold; :mod:`hub.kafka.acls` applies them with the AdminClient. Each principal gets
only what its code needs (docs/operations.md has the table):

* an agency's connector (its member id): write ``<ns>.inbound``; read its own outbox, the membership
  log, the credential register (LookupCredential answers from it) and the keys topic (each capsule
  holds a wrap per reader, sealed to that reader's key: it opens only its own); its own consumer groups
  (``<ns>.connector.<id>`` and those under ``<ns>.connector.<id>:``) and its readers' groups
  (``<id>:reader.``: a group it never commits in, which librdkafka looks up all the same). Not the ledger, no other
  outbox, not the rejections, no other group, no transactional id;
* the sequencer: read inbound and the membership log; read and write the ledger, rejections,
  checkpoints, the credential register (it recovers from them) and the keys (it moves each
  capsule there from its inbound record); write every outbox and create
  the outbox of a member admitted later; its groups (``<ns>.sequencer*``) and transactional ids
  (``<ns>.sequencer.<p>``);
* the verifier: read the ledger, the checkpoints and the membership log; its groups;
* the auditor: read every topic of the namespace (the replay and reconciliation read inbound,
  ledger, rejections, outboxes, checkpoints, membership, credentials, and a copy of the ledger an
  operator made for a forensic audit, ``hub audit --ledger-topic``); no writes.

A removed member has no grant: ``hub kafka acls apply`` deletes what it held. Every Kafka
operation implies ``DESCRIBE`` of its resource, so no grant names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from hub.consortium.membership import Membership
from hub.kafka.reader import reader_group_prefix
from hub.kafka.security import AUDITOR, SEQUENCER, VERIFIER
from hub.kafka.topics import Topics


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    TRANSACTIONAL_ID = "transactional-id"


class Pattern(StrEnum):
    #: exactly this name
    LITERAL = "literal"
    #: every name that starts with this one
    PREFIXED = "prefixed"


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"
    CREATE = "create"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: ``principal`` may ``operation`` on the resource ``name`` (from any host)."""

    principal: str
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation

    def describe(self) -> str:
        star = "*" if self.pattern is Pattern.PREFIXED else ""
        return f"{self.operation.value:6} {self.resource.value:16} {self.name}{star}"


def connector_group(namespace: str, member_id: str) -> str:
    """The consumer group of a member's connector; its followers' groups extend it with ``:``."""
    return f"{namespace}.connector.{member_id}"


def sequencer_prefix(namespace: str) -> str:
    """The prefix of the sequencers' consumer groups and transactional ids."""
    return f"{namespace}.sequencer"


def verifier_group_prefix(namespace: str) -> str:
    """The prefix of the verifiers' consumer groups (one per process)."""
    return f"{namespace}.verifier."


def _topic(principal: str, name: str, *ops: Operation, pattern: Pattern = Pattern.LITERAL) -> list[Grant]:
    return [Grant(principal, Resource.TOPIC, pattern, name, op) for op in ops]


def _connector(topics: Topics, member_id: str) -> list[Grant]:
    group = connector_group(topics.namespace, member_id)
    return [
        *_topic(member_id, topics.inbound, Operation.WRITE),
        *_topic(member_id, topics.outbox(member_id), Operation.READ),
        *_topic(member_id, topics.membership, Operation.READ),
        *_topic(member_id, topics.credentials, Operation.READ),
        # every capsule: the wraps for other readers are sealed to their keys (hub.standard.sealing)
        *_topic(member_id, topics.keys, Operation.READ),
        Grant(member_id, Resource.GROUP, Pattern.LITERAL, group, Operation.READ),
        # its followers' groups (hub.connector.followers.private_group): ':' is in no member id, so
        # the prefix is this member's alone ("bank.x" is another member than "bank")
        Grant(member_id, Resource.GROUP, Pattern.PREFIXED, group + ":", Operation.READ),
    ]


def _sequencer(topics: Topics) -> list[Grant]:
    ns, outboxes = topics.namespace, topics.outbox("")
    return [
        *_topic(SEQUENCER, topics.inbound, Operation.READ),
        *_topic(SEQUENCER, topics.membership, Operation.READ),
        *(g for t in (topics.ledger, topics.rejected, topics.checkpoints, topics.credentials, topics.keys)
          for g in _topic(SEQUENCER, t, Operation.READ, Operation.WRITE)),
        *_topic(SEQUENCER, outboxes, Operation.WRITE, Operation.CREATE, pattern=Pattern.PREFIXED),
        Grant(SEQUENCER, Resource.GROUP, Pattern.PREFIXED, sequencer_prefix(ns), Operation.READ),
        Grant(SEQUENCER, Resource.TRANSACTIONAL_ID, Pattern.PREFIXED, sequencer_prefix(ns) + ".", Operation.WRITE),
    ]


def _verifier(topics: Topics) -> list[Grant]:
    return [
        *(g for t in (topics.ledger, topics.checkpoints, topics.membership) for g in _topic(VERIFIER, t, Operation.READ)),
        Grant(VERIFIER, Resource.GROUP, Pattern.PREFIXED, verifier_group_prefix(topics.namespace), Operation.READ),
    ]


def _auditor(topics: Topics) -> list[Grant]:
    return _topic(AUDITOR, f"{topics.namespace}.", Operation.READ, pattern=Pattern.PREFIXED)


def agencies(membership: Membership) -> list[str]:
    """The members that run a connector: every member but the hub's own services."""
    return sorted(m.id for m in membership.members.values() if m.id != SEQUENCER)


def _reader(principal: str) -> Grant:
    """The principal's reader groups (:func:`hub.kafka.reader.reader_group_prefix`)."""
    return Grant(principal, Resource.GROUP, Pattern.PREFIXED, reader_group_prefix(principal), Operation.READ)


def desired_grants(membership: Membership, namespace: str) -> frozenset[Grant]:
    """Every grant the cluster should hold for this namespace under this membership."""
    topics = Topics(namespace)
    grants = [*_sequencer(topics), *_verifier(topics), *_auditor(topics)]
    for member_id in agencies(membership):
        grants += _connector(topics, member_id)
    grants += [_reader(p) for p in {g.principal for g in grants}]
    return frozenset(grants)


def managed(namespace: str, grant: Grant) -> bool:
    """Whether a grant found on the cluster is one of this namespace's (``acls apply`` may delete it)."""
    topics = Topics(namespace)
    if grant.resource is Resource.TOPIC:
        fixed = {topics.inbound, topics.ledger, topics.rejected, topics.checkpoints, topics.membership,
                 topics.credentials, topics.keys}
        return grant.name in fixed or grant.name.startswith(topics.outbox("")) or grant.name == f"{namespace}."
    if grant.resource is Resource.GROUP:
        if grant == _reader(grant.principal):
            return True  # shared by every namespace of the cluster; a removed member loses it too
        return grant.name.startswith((f"{namespace}.connector.", sequencer_prefix(namespace),
                                      verifier_group_prefix(namespace)))
    return grant.name.startswith(sequencer_prefix(namespace))


def by_principal(grants: Iterable[Grant]) -> dict[str, list[Grant]]:
    """Grants grouped by principal, each list sorted (for ``hub kafka acls list``)."""
    out: dict[str, list[Grant]] = {}
    for g in sorted(grants):
        out.setdefault(g.principal, []).append(g)
    return out
