"""The least-privilege grants derived from a membership (pure: no broker)."""

from __future__ import annotations

from dataclasses import replace

from connectors import dev_members
from hub.consortium.membership import Membership
from hub.dev.consortium import init_dev
from hub.kafka.acl_policy import Grant, Operation, Pattern, Resource, by_principal, desired_grants, managed
from hub.kafka.security import AUDITOR, SEQUENCER, VERIFIER
from hub.sequencer.runner import transactional_id

NS = "hub"


def membership(tmp_path) -> Membership:
    return init_dev(tmp_path, dev_members())[0]


def may(grants: frozenset[Grant], principal: str, op: Operation, resource: Resource, name: str) -> bool:
    """Whether some grant lets ``principal`` do ``op`` on ``name`` (a literal match or a prefix)."""
    return any(g.principal == principal and g.operation is op and g.resource is resource
               and (g.name == name if g.pattern is Pattern.LITERAL else name.startswith(g.name)) for g in grants)


def test_a_connector_writes_inbound_and_reads_only_its_own_outbox_and_groups(tmp_path):
    grants, bank, other = desired_grants(membership(tmp_path), NS), "bank-icbc-bj", "bank-ccb-bj"
    T, G, R, W = Resource.TOPIC, Resource.GROUP, Operation.READ, Operation.WRITE
    assert may(grants, bank, W, T, "hub.inbound") and may(grants, bank, R, T, "hub.outbox.bank-icbc-bj")
    assert may(grants, bank, R, T, "hub.membership") and may(grants, bank, R, G, "hub.connector.bank-icbc-bj")
    assert may(grants, bank, R, G, "hub.connector.bank-icbc-bj:receipts.1f0c")
    for topic in ("hub.ledger", "hub.rejected", "hub.checkpoints", "hub.inbound", f"hub.outbox.{other}"):
        assert not may(grants, bank, R, T, topic), topic
    for topic in ("hub.ledger", "hub.checkpoints", "hub.outbox.bank-icbc-bj", f"hub.outbox.{other}", "hub.credentials"):
        assert not may(grants, bank, W, T, topic), topic
    assert not may(grants, bank, R, G, f"hub.connector.{other}")
    assert not may(grants, bank, R, G, "hub.connector.bank-icbc-bjx")  # a longer id is another member
    assert not may(grants, bank, R, G, "hub.connector.bank-icbc-bj.x:receipts.1f0c")  # so is one with a dot
    assert not may(grants, bank, R, G, "hub.sequencer")
    assert not any(g.principal == bank and g.resource is Resource.TRANSACTIONAL_ID for g in grants)
    assert not any(g.principal == bank and g.operation is Operation.CREATE for g in grants)


def test_the_services_get_what_their_code_needs_and_the_readers_no_writes(tmp_path):
    grants = desired_grants(membership(tmp_path), NS)
    T, R, W = Resource.TOPIC, Operation.READ, Operation.WRITE
    for topic in ("hub.ledger", "hub.rejected", "hub.checkpoints", "hub.credentials", "hub.outbox.new-member"):
        assert may(grants, SEQUENCER, W, T, topic), topic
    assert may(grants, SEQUENCER, Operation.CREATE, T, "hub.outbox.new-member")
    assert may(grants, SEQUENCER, R, T, "hub.inbound") and not may(grants, SEQUENCER, W, T, "hub.inbound")
    assert may(grants, SEQUENCER, W, Resource.TRANSACTIONAL_ID, transactional_id(NS, 2))
    assert may(grants, SEQUENCER, R, Resource.GROUP, "hub.sequencer.membership")
    for topic in ("hub.ledger", "hub.checkpoints", "hub.membership"):
        assert may(grants, VERIFIER, R, T, topic) and may(grants, AUDITOR, R, T, topic)
    assert not may(grants, VERIFIER, R, T, "hub.outbox.bank-icbc-bj") and may(grants, AUDITOR, R, T, "hub.rejected")
    assert may(grants, AUDITOR, R, T, "hub.ledger-copy") and not may(grants, AUDITOR, R, T, "payments.ledger")
    assert not any(g.operation is not R for g in grants if g.principal in (VERIFIER, AUDITOR))


def test_a_removed_member_has_no_grant_and_the_others_keep_theirs(tmp_path):
    m = membership(tmp_path)
    smaller = replace(m, members={k: v for k, v in m.members.items() if k != "bank-icbc-bj"})
    before, after = desired_grants(m, NS), desired_grants(smaller, NS)
    assert {g.principal for g in before - after} == {"bank-icbc-bj"}
    assert not any(g.principal == "bank-icbc-bj" for g in after) and after < before


def test_a_namespace_manages_only_its_own_resources(tmp_path):
    grants = desired_grants(membership(tmp_path), "t1")
    assert all(managed("t1", g) for g in grants)
    assert not any(managed("t2", g) for g in grants if not g.name.endswith(":reader."))
    assert not managed("t1", Grant("x", Resource.TOPIC, Pattern.LITERAL, "payments.ledger", Operation.READ))
    assert sum(len(v) for v in by_principal(grants).values()) == len(grants)
